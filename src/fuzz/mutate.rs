//! Byte-level mutations that know nothing of the format: bit flips, interesting values, truncation,
//! slices deleted, duplicated or inserted, and splices of two inputs. Pure functions of the input
//! and the random stream; any thread.

use crate::sim::rng::Rng;

/// Values that make parsers take their edge branches when they land in a length or a count.
const INTERESTING_U8: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40];
const INTERESTING_U32: [u32; 8] = [0, 1, 0x7fff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x0001_0000];

/// One generic mutation of `data` in place (an empty input grows a few random bytes).
pub fn generic(data: &mut Vec<u8>, rng: &mut Rng, other: &[u8]) {
    if data.is_empty() {
        data.extend((0..rng.int_in(1, 16)).map(|_| rng.next_u64() as u8));
        return;
    }
    let n = data.len();
    match rng.below(8) {
        // Flip 1-8 random bits.
        0 => {
            for _ in 0..rng.int_in(1, 8) {
                let at = rng.below(n);
                data[at] ^= 1 << rng.below(8);
            }
        }
        // A byte set to an interesting value.
        1 => {
            let at = rng.below(n);
            data[at] = INTERESTING_U8[rng.below(INTERESTING_U8.len())];
        }
        // Four bytes set to an interesting 32-bit value, either byte order.
        2 if n >= 4 => {
            let at = rng.below(n - 3);
            let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
            let bytes = if rng.chance(0.5) { v.to_le_bytes() } else { v.to_be_bytes() };
            data[at..at + 4].copy_from_slice(&bytes);
        }
        // Truncated anywhere.
        3 => data.truncate(rng.below(n)),
        // A slice deleted.
        4 => {
            let at = rng.below(n);
            let len = rng.int_in(1, (n - at).min(4096));
            data.drain(at..at + len);
        }
        // A slice duplicated in place.
        5 => {
            let at = rng.below(n);
            let len = rng.int_in(1, (n - at).min(4096));
            let copy = data[at..at + len].to_vec();
            let to = rng.below(data.len() + 1);
            data.splice(to..to, copy);
        }
        // A piece of the other input spliced in.
        6 if !other.is_empty() => {
            let from = rng.below(other.len());
            let len = rng.int_in(1, (other.len() - from).min(4096));
            let to = rng.below(n);
            let end = (to + len).min(n);
            data.splice(to..end, other[from..from + len].iter().copied());
        }
        // Random bytes inserted.
        _ => {
            let at = rng.below(n + 1);
            let junk: Vec<u8> = (0..rng.int_in(1, 64)).map(|_| rng.next_u64() as u8).collect();
            data.splice(at..at, junk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_change_the_input_and_are_seeded() {
        let seed: Vec<u8> = (0..200u8).collect();
        let run = |s| {
            let mut rng = Rng::new(s);
            (0..50)
                .map(|_| {
                    let mut d = seed.clone();
                    generic(&mut d, &mut rng, b"OTHER INPUT");
                    d
                })
                .collect::<Vec<_>>()
        };
        let a = run(3);
        assert_eq!(a, run(3), "the same seed gives the same mutants");
        assert!(a.iter().filter(|m| **m != seed).count() > 40, "most mutants differ from the seed");
        assert!(a.iter().any(|m| m.len() < seed.len()) && a.iter().any(|m| m.len() > seed.len()));
        let mut empty = Vec::new();
        generic(&mut empty, &mut Rng::new(1), &[]);
        assert!(!empty.is_empty());
    }
}
