//! A TIFF's bytes as the `tiff` crate should read them: a reader over the file in memory that can
//! show one inline SHORT tag value of the first image changed, without copying the file. The TIFF
//! reader uses it to read an RGB image with unspecified extra samples (NAIP's near-infrared band) as
//! a multiband image, because the crate decodes RGB as exactly three (or four, with alpha) samples
//! and drops the rest. Runs on worker threads.

use std::io::{Cursor, Read, Seek, SeekFrom};

/// The file's bytes with `patch` shown in place of the two bytes at `at`.
pub(super) struct Overlay<'a> {
    inner: Cursor<&'a [u8]>,
    patch: Option<(u64, [u8; 2])>,
}

impl<'a> Overlay<'a> {
    pub fn plain(bytes: &'a [u8]) -> Self {
        Self { inner: Cursor::new(bytes), patch: None }
    }

    /// The bytes with the first image's `tag` (an inline SHORT) reading `value`; None when the
    /// tag is absent, not a single SHORT, or the file's header or first directory is unreadable.
    pub fn with_short(bytes: &'a [u8], tag: u16, value: u16) -> Option<Self> {
        let (at, big_endian) = short_value_offset(bytes, tag)?;
        let patch = if big_endian { value.to_be_bytes() } else { value.to_le_bytes() };
        Some(Self { inner: Cursor::new(bytes), patch: Some((at, patch)) })
    }
}

impl Read for Overlay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = self.inner.position();
        let n = self.inner.read(buf)?;
        if let Some((at, patch)) = self.patch {
            for (k, byte) in patch.iter().enumerate() {
                let pos = at + k as u64;
                if (start..start + n as u64).contains(&pos) {
                    buf[(pos - start) as usize] = *byte;
                }
            }
        }
        Ok(n)
    }
}

impl Seek for Overlay<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// The first image's `tag` when it is one inline SHORT (read before the crate parses the file, for
/// encodings it rejects without naming them).
pub(super) fn first_short(bytes: &[u8], tag: u16) -> Option<u16> {
    let (at, big_endian) = short_value_offset(bytes, tag)?;
    let b: [u8; 2] = bytes.get(usize::try_from(at).ok()?..)?.get(..2)?.try_into().ok()?;
    Some(if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
}

/// Where the first image's `tag` keeps its inline SHORT value, and whether the file is big-endian.
fn short_value_offset(bytes: &[u8], tag: u16) -> Option<(u64, bool)> {
    let big_endian = match bytes.get(..2)? {
        b"II" => false,
        b"MM" => true,
        _ => return None,
    };
    let take = |at: usize, n: usize| -> Option<u64> {
        let b = bytes.get(at..at.checked_add(n)?)?;
        Some(b.iter().enumerate().fold(0u64, |acc, (i, &x)| {
            let shift = if big_endian { 8 * (n - 1 - i) } else { 8 * i };
            acc | (u64::from(x) << shift)
        }))
    };
    // Classic TIFF: 4-byte offsets, 12-byte entries; BigTIFF: 8-byte offsets, 20-byte entries.
    let (ifd, count_len, entry_len, value_at) = match take(2, 2)? {
        42 => (take(4, 4)?, 2, 12, 8),
        43 => (take(8, 8)?, 8, 20, 12),
        _ => return None,
    };
    let ifd = usize::try_from(ifd).ok()?;
    let entries = usize::try_from(take(ifd, count_len)?).ok()?;
    for k in 0..entries.min(4096) {
        let entry = ifd + count_len + k * entry_len;
        if take(entry, 2)? != u64::from(tag) {
            continue;
        }
        let count = take(entry + 4, count_len.max(4))?;
        // TIFF type 3 = SHORT, one value, stored inline.
        return (take(entry + 2, 2)? == 3 && count == 1).then_some(((entry + value_at) as u64, big_endian));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic TIFF header and a first directory holding `entries` (tag, type, count, value).
    fn classic(big_endian: bool, entries: &[(u16, u16, u32, u32)]) -> Vec<u8> {
        let u16b = |v: u16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let u32b = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut out = if big_endian { b"MM".to_vec() } else { b"II".to_vec() };
        out.extend(u16b(42));
        out.extend(u32b(8));
        out.extend(u16b(entries.len() as u16));
        for &(tag, ty, count, value) in entries {
            out.extend(u16b(tag));
            out.extend(u16b(ty));
            out.extend(u32b(count));
            // A SHORT sits in the first two bytes of the value field.
            let v = if ty == 3 { [u16b(value as u16).as_slice(), &[0, 0]].concat() } else { u32b(value).to_vec() };
            out.extend(v);
        }
        out
    }

    fn read_all(mut r: Overlay) -> Vec<u8> {
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn one_short_reads_changed_in_either_byte_order_and_nothing_else() {
        for big in [false, true] {
            let file = classic(big, &[(256, 4, 1, 7), (262, 3, 1, 2), (277, 3, 1, 4)]);
            let patched = read_all(Overlay::with_short(&file, 262, 1).expect("tag found"));
            let changed: Vec<usize> = (0..file.len()).filter(|&i| file[i] != patched[i]).collect();
            assert_eq!(changed.len(), 1, "{changed:?}");
            let want = classic(big, &[(256, 4, 1, 7), (262, 3, 1, 1), (277, 3, 1, 4)]);
            assert_eq!(patched, want);
            // Reads in small pieces across the patch see the same bytes.
            let mut r = Overlay::with_short(&file, 262, 1).unwrap();
            r.seek(SeekFrom::Start(20)).unwrap();
            let mut piece = [0u8; 3];
            r.read_exact(&mut piece).unwrap();
            assert_eq!(piece, want[20..23]);
        }
    }

    #[test]
    fn absent_or_unusual_tags_and_broken_files_give_none() {
        let file = classic(false, &[(262, 4, 1, 2), (277, 3, 2, 4)]);
        assert!(Overlay::with_short(&file, 262, 1).is_none(), "a LONG is not patched");
        assert!(Overlay::with_short(&file, 277, 1).is_none(), "two values are not inline");
        assert!(Overlay::with_short(&file, 259, 1).is_none(), "absent");
        assert!(Overlay::with_short(&file[..12], 262, 1).is_none(), "cut");
        assert!(Overlay::with_short(b"GIF89a", 262, 1).is_none());
        assert_eq!(read_all(Overlay::plain(&file)), file);
    }
}
