//! The Rice decoder of FITS tile compression (RICE_1, RICE_ONE): per block of pixels, a few bits
//! choose between "all differences zero", raw differences and Rice codes (a unary high part and
//! `fs` low bits), and the differences, zig-zag mapped, accumulate from the first pixel written
//! whole. Arithmetic wraps at the pixel width, as CFITSIO's decoder does. Pure; worker threads.

use super::Fault;

/// An MSB-first bit reader over a byte slice that reports running out instead of reading past.
pub(super) struct Bits<'a> {
    data: &'a [u8],
    /// Next byte to load.
    pos: usize,
    /// Loaded bits not yet consumed, right-aligned.
    acc: u64,
    /// How many bits `acc` holds (at most 64).
    held: u32,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0, acc: 0, held: 0 }
    }

    /// Load whole bytes until at least `n` (<= 56) bits are held.
    fn fill(&mut self, n: u32) -> Result<(), Fault> {
        while self.held < n {
            let byte = *self.data.get(self.pos).ok_or("the stream ends early (truncated or corrupt)")?;
            self.acc = (self.acc << 8) | u64::from(byte);
            self.pos += 1;
            self.held += 8;
        }
        Ok(())
    }

    /// The next `n` bits (n <= 32) as a number.
    pub(super) fn read(&mut self, n: u32) -> Result<u64, Fault> {
        if n == 0 {
            return Ok(0);
        }
        self.fill(n)?;
        self.held -= n;
        let v = (self.acc >> self.held) & ((1u64 << n) - 1);
        self.acc &= (1u64 << self.held) - 1;
        Ok(v)
    }

    /// Count zero bits up to the next one bit, and consume that one bit too.
    fn unary(&mut self) -> Result<u64, Fault> {
        let mut zeros = 0u64;
        loop {
            if self.held == 0 {
                self.fill(8)?;
            }
            if self.acc == 0 {
                zeros += u64::from(self.held);
                self.held = 0;
                continue;
            }
            // acc < 2^held and non-zero: its leading zeros within `held` bits, then the one bit.
            let lead = self.held - (64 - self.acc.leading_zeros());
            zeros += u64::from(lead);
            self.held -= lead + 1;
            self.acc &= (1u64 << self.held) - 1;
            return Ok(zeros);
        }
    }

    /// Drop the rest of the byte being read: the next read starts on a byte boundary.
    pub(super) fn align(&mut self) {
        self.held -= self.held % 8;
        self.acc &= (1u64 << self.held) - 1;
    }

    /// Whole bytes of the input that no read has touched.
    pub(super) fn unused(&self) -> usize {
        self.data.len() - self.pos + (self.held / 8) as usize
    }
}

/// Decode `n` pixels of `bytepix` bytes (1, 2 or 4) coded in blocks of `block` pixels. Pixels of one
/// byte are unsigned, wider ones signed, as CFITSIO returns them.
pub(super) fn decode(stream: &[u8], n: usize, block: usize, bytepix: usize) -> Result<Vec<i64>, Fault> {
    let (fsbits, fsmax, bbits) = match bytepix {
        1 => (3u32, 6i64, 8u32),
        2 => (4, 14, 16),
        4 => (5, 25, 32),
        b => return Err(format!("RICE_1 decodes pixels of 1, 2 or 4 bytes, not {b}")),
    };
    if block == 0 {
        return Err("RICE_1 BLOCKSIZE is 0".into());
    }
    let mask = (1u64 << bbits) - 1;
    let Some(first) = stream.get(..bytepix) else {
        return Err(format!("the stream has {} bytes, fewer than its first pixel", stream.len()));
    };
    let mut last = first.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
    let mut bits = Bits::new(stream.get(bytepix..).unwrap_or_default());
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let fs = bits.read(fsbits)? as i64 - 1;
        let count = block.min(n - out.len());
        for _ in 0..count {
            let diff = if fs < 0 {
                0
            } else if fs == fsmax {
                bits.read(bbits)?
            } else {
                // fs < fsmax <= 25: the shift cannot reach 64.
                let high = bits.unary()?;
                (high << fs) | bits.read(fs as u32)?
            };
            // Undo the zig-zag mapping of signed differences onto unsigned codes.
            let delta = if diff & 1 == 0 { diff >> 1 } else { !(diff >> 1) };
            last = last.wrapping_add(delta) & mask;
            out.push(last);
        }
    }
    let left = bits.unused();
    if left > 0 {
        return Err(format!("{left} byte(s) left after the tile's {n} pixels (more data than the tile holds)"));
    }
    Ok(out
        .into_iter()
        .map(|v| match bytepix {
            1 => v as i64,
            2 => i64::from(v as u16 as i16),
            _ => i64::from(v as u32 as i32),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal Rice encoder (one fs for every block, the smallest that fits), enough to test the
    /// decoder's three block kinds without fixtures.
    fn encode(values: &[i64], block: usize, bytepix: usize, fs_of: impl Fn(&[u64]) -> i64) -> Vec<u8> {
        let (fsbits, bbits) = match bytepix {
            1 => (3, 8),
            2 => (4, 16),
            _ => (5, 32),
        };
        let mask = (1u64 << bbits) - 1;
        let mut out: Vec<u8> = (0..bytepix).rev().map(|i| ((values[0] as u64 & mask) >> (8 * i)) as u8).collect();
        let mut bitbuf: Vec<bool> = Vec::new();
        let put = |v: u64, n: u32, bitbuf: &mut Vec<bool>| (0..n).rev().for_each(|i| bitbuf.push(v >> i & 1 == 1));
        let mut last = values[0] as u64 & mask;
        for chunk in values.chunks(block) {
            let codes: Vec<u64> = chunk
                .iter()
                .map(|&v| {
                    let d = (v as u64 & mask).wrapping_sub(last) & mask;
                    last = v as u64 & mask;
                    let signed = if d >> (bbits - 1) == 1 { d as i64 - (1i64 << bbits) } else { d as i64 };
                    if signed >= 0 { (signed as u64) << 1 } else { ((!signed as u64) << 1) | 1 }
                })
                .collect();
            let fs = fs_of(&codes);
            put((fs + 1) as u64, fsbits, &mut bitbuf);
            for &c in &codes {
                match fs {
                    -1 => {}
                    f if f == [6, 14, 25][[1, 2, 4].iter().position(|&b| b == bytepix).unwrap_or(2)] => {
                        put(c, bbits, &mut bitbuf)
                    }
                    f => {
                        (0..c >> f).for_each(|_| bitbuf.push(false));
                        bitbuf.push(true);
                        put(c & ((1 << f) - 1), f as u32, &mut bitbuf);
                    }
                }
            }
        }
        out.extend(bitbuf.chunks(8).map(|b| b.iter().enumerate().fold(0u8, |a, (i, &x)| a | (u8::from(x) << (7 - i)))));
        out
    }

    #[test]
    fn decodes_every_block_kind_at_every_width() {
        let values: Vec<i64> = vec![5, 5, 5, 5, 7, 3, -2, 100, -100, 32000, -32000, 0, 1, 2, 3, 4];
        for bytepix in [2usize, 4] {
            for fs_rule in [0i64, 1, 3] {
                let stream = encode(&values, 4, bytepix, |c| if c.iter().all(|&v| v == 0) { -1 } else { fs_rule });
                assert_eq!(
                    decode(&stream, values.len(), 4, bytepix).unwrap(),
                    values,
                    "bytepix {bytepix} fs {fs_rule}"
                );
            }
            let fsmax = if bytepix == 2 { 14 } else { 25 };
            let raw = encode(&values, 4, bytepix, |_| fsmax);
            assert_eq!(decode(&raw, values.len(), 4, bytepix).unwrap(), values);
        }
        let bytes: Vec<i64> = vec![0, 255, 128, 1, 1, 1, 200, 7];
        let stream = encode(&bytes, 3, 1, |_| 2);
        assert_eq!(decode(&stream, bytes.len(), 3, 1).unwrap(), bytes, "one-byte pixels are unsigned");
    }

    #[test]
    fn short_long_and_garbage_streams_are_faults() {
        let values: Vec<i64> = (0..40).map(|v| v * 3 - 50).collect();
        let stream = encode(&values, 32, 4, |_| 3);
        assert!(decode(&stream[..stream.len() - 2], 40, 32, 4).unwrap_err().contains("ends early"));
        let mut long = stream.clone();
        long.extend([0xAB, 0xCD]);
        assert!(decode(&long, 40, 32, 4).unwrap_err().contains("2 byte(s) left"));
        assert!(decode(&stream, 41, 32, 4).is_err(), "a pixel more than coded");
        assert!(decode(&[1], 4, 32, 4).unwrap_err().contains("first pixel"));
        assert!(decode(&stream, 40, 0, 4).unwrap_err().contains("BLOCKSIZE"));
        assert!(decode(&stream, 40, 32, 3).is_err());
        // All-zero bytes: a unary code that never ends.
        assert!(decode(&[0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0], 8, 32, 4).is_err());
    }

    #[test]
    fn the_bit_reader_counts_what_it_consumed() {
        let mut b = Bits::new(&[0b1010_0000, 0xFF, 0x0F]);
        assert_eq!(b.read(3).unwrap(), 0b101);
        assert_eq!(b.unused(), 2);
        b.align();
        assert_eq!(b.read(8).unwrap(), 0xFF);
        assert_eq!(b.unary().unwrap(), 4);
        assert_eq!(b.read(3).unwrap(), 0b111);
        assert_eq!(b.unused(), 0);
        assert!(b.read(1).is_err());
    }
}
