//! A TIFF's bytes as the `tiff` crate should read them: a reader over the file (held in memory, or
//! read at offsets from disk as the decoder asks) that can show one inline SHORT tag value of an
//! image's directory changed, without copying the file. The TIFF reader uses it to read an RGB image
//! with unspecified extra samples (NAIP's near-infrared band) as a multiband image, because the
//! crate decodes RGB as exactly three (or four, with alpha) samples and drops the rest, and to read
//! a GDAL mask (PhotometricInterpretation 4, which the crate refuses) as a grey image. Runs on
//! worker threads.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// Where a TIFF's bytes are: in memory, or in the file, read piece by piece (a file is never held
/// whole beside its raster).
#[derive(Clone, Copy, Debug)]
pub(super) enum Source<'a> {
    Memory(&'a [u8]),
    File { file: &'a File, len: u64 },
}

impl<'a> Source<'a> {
    pub fn len(&self) -> u64 {
        match self {
            Self::Memory(b) => b.len() as u64,
            Self::File { len, .. } => *len,
        }
    }

    /// Bytes of the file held in memory for the read.
    pub fn held(&self) -> u64 {
        match self {
            Self::Memory(b) => b.len() as u64,
            Self::File { .. } => 0,
        }
    }

    /// Whether the file is little-endian ("II").
    pub fn little_endian(&self) -> bool {
        self.get(0, 2).is_some_and(|b| b.as_ref() == b"II")
    }

    /// Up to `n` bytes from `at`: fewer where the file ends, None when `at` is past its end or the
    /// file cannot be read.
    pub fn get(&self, at: u64, n: usize) -> Option<Cow<'a, [u8]>> {
        match *self {
            Self::Memory(b) => {
                let rest = b.get(usize::try_from(at).ok()?..)?;
                Some(Cow::Borrowed(&rest[..n.min(rest.len())]))
            }
            Self::File { file, len } => {
                let n = usize::try_from(len.checked_sub(at)?).map_or(n, |left| n.min(left));
                let mut out = vec![0; n];
                file.read_exact_at(&mut out, at).ok()?;
                Some(Cow::Owned(out))
            }
        }
    }

    /// Reads into `buf` from `at`; 0 at or past the end.
    fn read_at(&self, at: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        match *self {
            Self::Memory(b) => {
                let rest = usize::try_from(at).ok().and_then(|a| b.get(a..)).unwrap_or(&[]);
                let n = buf.len().min(rest.len());
                buf[..n].copy_from_slice(&rest[..n]);
                Ok(n)
            }
            Self::File { file, len } => {
                let left = len.saturating_sub(at);
                let n = usize::try_from(left).map_or(buf.len(), |left| buf.len().min(left));
                file.read_exact_at(&mut buf[..n], at)?;
                Ok(n)
            }
        }
    }
}

/// Read-ahead for small reads from a file (the decoder reads directories a few bytes at a time).
const READ_AHEAD: usize = 64 << 10;

/// The file's bytes with `patch` shown in place of the two bytes at `at`.
pub(super) struct Overlay<'a> {
    source: Source<'a>,
    pos: u64,
    patch: Option<(u64, [u8; 2])>,
    /// Bytes read ahead from a file, starting at `ahead_at`.
    ahead: Vec<u8>,
    ahead_at: u64,
}

impl<'a> Overlay<'a> {
    pub fn plain(source: Source<'a>) -> Self {
        Self { source, pos: 0, patch: None, ahead: Vec::new(), ahead_at: 0 }
    }

    /// The bytes with `tag` (an inline SHORT) of the directory at offset `ifd` (None: the first
    /// image's) reading `value`; None when the tag is absent, not a single SHORT, or the file's
    /// header or that directory is unreadable.
    pub fn with_short(source: Source<'a>, ifd: Option<u64>, tag: u16, value: u16) -> Option<Self> {
        let (at, big_endian) = short_value_offset(source, ifd, tag)?;
        let patch = if big_endian { value.to_be_bytes() } else { value.to_le_bytes() };
        Some(Self { patch: Some((at, patch)), ..Self::plain(source) })
    }

    /// Reads from the source at the current position, through the read-ahead for small reads
    /// from a file.
    fn read_source(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if matches!(self.source, Source::Memory(_)) || buf.len() >= READ_AHEAD {
            return self.source.read_at(self.pos, buf);
        }
        let end = self.ahead_at + self.ahead.len() as u64;
        if self.pos < self.ahead_at || self.pos + buf.len() as u64 > end {
            self.ahead.resize(READ_AHEAD, 0);
            let n = self.source.read_at(self.pos, &mut self.ahead)?;
            self.ahead.truncate(n);
            self.ahead_at = self.pos;
        }
        let from = usize::try_from(self.pos - self.ahead_at).unwrap_or(usize::MAX).min(self.ahead.len());
        let n = buf.len().min(self.ahead.len() - from);
        buf[..n].copy_from_slice(&self.ahead[from..from + n]);
        Ok(n)
    }
}

impl Read for Overlay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = self.pos;
        let n = self.read_source(buf)?;
        self.pos += n as u64;
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
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.source.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek to a negative or overflowing position")
        })?;
        Ok(self.pos)
    }
}

/// The first image's `tag` when it is one inline SHORT (read before the crate parses the file, for
/// encodings it rejects without naming them).
pub(super) fn first_short(source: Source<'_>, tag: u16) -> Option<u16> {
    let (at, big_endian) = short_value_offset(source, None, tag)?;
    let b: [u8; 2] = source.get(at, 2)?.as_ref().try_into().ok()?;
    Some(if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
}

/// Where the `tag` of the directory at offset `ifd` (None: the first image's) keeps its inline
/// SHORT value, and whether the file is big-endian.
fn short_value_offset(source: Source<'_>, ifd: Option<u64>, tag: u16) -> Option<(u64, bool)> {
    let big_endian = match source.get(0, 2)?.as_ref() {
        b"II" => false,
        b"MM" => true,
        _ => return None,
    };
    let take = |at: usize, n: usize| -> Option<u64> {
        let b = source.get(at as u64, n).filter(|b| b.len() == n)?;
        Some(b.iter().enumerate().fold(0u64, |acc, (i, &x)| {
            let shift = if big_endian { 8 * (n - 1 - i) } else { 8 * i };
            acc | (u64::from(x) << shift)
        }))
    };
    // Classic TIFF: 4-byte offsets, 12-byte entries; BigTIFF: 8-byte offsets, 20-byte entries.
    let (first, count_len, entry_len, value_at) = match take(2, 2)? {
        42 => (take(4, 4)?, 2, 12, 8),
        43 => (take(8, 8)?, 8, 20, 12),
        _ => return None,
    };
    let ifd = ifd.unwrap_or(first);
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
            let patched = read_all(Overlay::with_short(Source::Memory(&file), None, 262, 1).expect("tag found"));
            let changed: Vec<usize> = (0..file.len()).filter(|&i| file[i] != patched[i]).collect();
            assert_eq!(changed.len(), 1, "{changed:?}");
            let want = classic(big, &[(256, 4, 1, 7), (262, 3, 1, 1), (277, 3, 1, 4)]);
            assert_eq!(patched, want);
            // Reads in small pieces across the patch see the same bytes.
            let mut r = Overlay::with_short(Source::Memory(&file), None, 262, 1).unwrap();
            r.seek(SeekFrom::Start(20)).unwrap();
            let mut piece = [0u8; 3];
            r.read_exact(&mut piece).unwrap();
            assert_eq!(piece, want[20..23]);
        }
    }

    #[test]
    fn absent_or_unusual_tags_and_broken_files_give_none() {
        let file = classic(false, &[(262, 4, 1, 2), (277, 3, 2, 4)]);
        assert!(Overlay::with_short(Source::Memory(&file), None, 262, 1).is_none(), "a LONG is not patched");
        assert!(Overlay::with_short(Source::Memory(&file), None, 277, 1).is_none(), "two values are not inline");
        assert!(Overlay::with_short(Source::Memory(&file), None, 259, 1).is_none(), "absent");
        assert!(Overlay::with_short(Source::Memory(&file[..12]), None, 262, 1).is_none(), "cut");
        assert!(Overlay::with_short(Source::Memory(b"GIF89a"), None, 262, 1).is_none());
        assert_eq!(read_all(Overlay::plain(Source::Memory(&file))), file);
    }

    #[test]
    fn a_file_read_in_pieces_reads_as_the_bytes_in_memory() {
        let mut bytes = classic(false, &[(256, 4, 1, 7), (262, 3, 1, 2), (277, 3, 1, 4)]);
        bytes.extend((0..200_000u32).map(|i| (i * 31 % 251) as u8));
        let path = std::env::temp_dir().join(format!("heatscope-overlay-{}.tif", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let source = Source::File { file: &file, len: bytes.len() as u64 };
        assert_eq!(first_short(source, 262), Some(2));
        assert!(source.little_endian());
        assert_eq!(source.get(199_990, 100).unwrap().as_ref(), &bytes[199_990..]);
        assert!(source.get(bytes.len() as u64 + 1, 4).is_none());
        // Small reads go through the read-ahead, large ones straight to the file; seeks back and forth.
        let mut memory = Overlay::with_short(Source::Memory(&bytes), None, 262, 1).unwrap();
        let mut disk = Overlay::with_short(source, None, 262, 1).unwrap();
        for (at, n) in [(0usize, 3usize), (20, 7), (5, 100), (70_000, 90_000), (65_530, 20), (199_000, 5000), (0, 40)] {
            let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
            memory.seek(SeekFrom::Start(at as u64)).unwrap();
            disk.seek(SeekFrom::Start(at as u64)).unwrap();
            let (ra, rb) = (memory.read(&mut a).unwrap(), disk.read(&mut b).unwrap());
            let (mut ra, mut rb) = (ra, rb);
            while ra < n && ra > 0 {
                let k = memory.read(&mut a[ra..]).unwrap();
                if k == 0 {
                    break;
                }
                ra += k;
            }
            while rb < n && rb > 0 {
                let k = disk.read(&mut b[rb..]).unwrap();
                if k == 0 {
                    break;
                }
                rb += k;
            }
            assert_eq!((ra, &a[..ra]), (rb, &b[..rb]), "read of {n} at {at}");
        }
        assert_eq!(read_all(Overlay::plain(source)), bytes);
        std::fs::remove_file(&path).ok();
    }
}
