//! Checksums that say whether two files are the same: a 64-bit FNV-1a over 8-byte words (not
//! cryptographic; only equality matters), of bytes in memory or of a file read in 1 MiB pieces,
//! optionally only its first bytes. Used by training checkpoints and run folders. Any thread.

use std::io::Read;
use std::path::Path;

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// A checksum in progress.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(OFFSET)
    }
}

impl Fnv {
    /// Mix in `bytes` (eight at a time; the remainder one by one).
    pub fn update(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let word = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            self.0 = (self.0 ^ word).wrapping_mul(PRIME);
        }
        for &b in words.remainder() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(PRIME);
        }
    }

    /// The checksum as 16 hex digits.
    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The checksum of `bytes`.
pub fn of_bytes(bytes: &[u8]) -> String {
    let mut f = Fnv::default();
    f.update(bytes);
    f.hex()
}

/// Length and checksum of a file, or of its first `limit` bytes (the length is always the file's).
///
/// # Errors
/// When the file cannot be read.
pub fn of_file(path: &Path, limit: Option<u64>) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut left = limit.unwrap_or(u64::MAX);
    let mut f = Fnv::default();
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        // Fill the buffer completely so that the words fall the same way on every read.
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let mut n = 0;
        while n < want {
            match file.read(&mut buf[n..want])? {
                0 => break,
                k => n += k,
            }
        }
        if n == 0 {
            break;
        }
        f.update(&buf[..n]);
        left -= n as u64;
    }
    Ok((len, f.hex()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_bytes_agree_and_differ_when_the_content_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        assert_eq!(of_file(&path, None).unwrap(), (3_000_000, of_bytes(&data)));
        assert_eq!(of_file(&path, Some(100)).unwrap(), (3_000_000, of_bytes(&data[..100])));
        assert_ne!(of_bytes(b"a"), of_bytes(b"b"));
        assert_eq!(of_bytes(b""), format!("{OFFSET:016x}"));
    }
}
