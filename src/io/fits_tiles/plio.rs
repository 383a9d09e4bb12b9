//! The PLIO_1 decoder of FITS tile compression: IRAF's pixel-list format, a header of 16-bit words
//! and then one instruction a word (a 4-bit opcode, 12 bits of data) that runs zeros, repeats or
//! steps the current value, or sets its high bits from the next word. Read as IRAF's `pl_l2pi` reads
//! it, with every index checked. Pure; worker threads.

use super::Fault;

/// Decode `n` pixels from the line list `words` (big-endian 16-bit words as the heap stores them).
/// Pixels the list does not reach are zero.
pub(super) fn decode(words: &[i16], n: usize) -> Result<Vec<i64>, Fault> {
    // 1-based access, as the format is documented.
    let word = |i: i64| usize::try_from(i - 1).ok().and_then(|i| words.get(i)).map(|&w| i64::from(w));
    let header =
        |i: i64| word(i).ok_or_else(|| format!("the line list has {} words, too few for its header", words.len()));
    // Old lists keep the length in word 3; newer ones split it over words 4 and 5 and give the
    // header length in word 2.
    let (len, first) = if header(3)? > 0 { (header(3)?, 4) } else { ((header(5)? << 15) + header(4)?, header(2)? + 1) };
    let mut out = vec![0i64; n];
    let Ok(npix) = i64::try_from(n) else { return Ok(out) };
    if npix == 0 || len <= 0 {
        return Ok(out);
    }
    if len > words.len() as i64 {
        return Err(format!("the line list says it holds {len} words, the tile has {}", words.len()));
    }
    if first < 1 {
        return Err(format!("the line list header is {} words long", first - 1));
    }
    let mut put = |at: i64, v: i64| {
        if let Some(slot) = usize::try_from(at - 1).ok().and_then(|i| out.get_mut(i)) {
            *slot = i64::from(v as i32);
        }
    };
    // x: the next input pixel (1-based); op: the next output pixel; pv: the current value.
    let (mut x, mut op, mut pv) = (1i64, 1i64, 1i64);
    let mut skip = false;
    for ip in first..=len {
        if skip {
            skip = false;
            continue;
        }
        let w = word(ip).unwrap_or(0);
        let (opcode, data) = (w / 4096, w & 4095);
        match opcode {
            // Zeros (0), a run of the current value (4), or zeros ending in the current value (5).
            0 | 4 | 5 => {
                let end = x + data - 1;
                let (lo, hi) = (x.max(1), end.min(npix));
                if hi >= lo {
                    let top = op + hi - lo;
                    for at in op..=top {
                        put(at, if opcode == 4 { pv } else { 0 });
                    }
                    if opcode == 5 && hi == end {
                        put(top, pv);
                    }
                    op = top + 1;
                }
                x = end + 1;
            }
            1 => {
                let high = word(ip + 1).ok_or("the line list ends inside a set-value instruction")?;
                pv = (high << 12) + data;
                skip = true;
            }
            2 => pv = pv.wrapping_add(data),
            3 => pv = pv.wrapping_sub(data),
            6 | 7 => {
                pv = if opcode == 6 { pv.wrapping_add(data) } else { pv.wrapping_sub(data) };
                if (1..=npix).contains(&x) {
                    put(op, pv);
                    op += 1;
                }
                x += 1;
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new-style list: 7 header words (length in words 4 and 5), then `body`.
    fn list(body: &[i16]) -> Vec<i16> {
        let len = (7 + body.len()) as i16;
        let mut w = vec![0, 7, -100, len, 0, 0, 0];
        w.extend_from_slice(body);
        w
    }

    const fn op(code: i16, data: i16) -> i16 {
        code * 4096 + data
    }

    #[test]
    fn runs_steps_and_high_values() {
        // 2 zeros, set value 5, 3 x 5, one zero then 5, step +2 and output (7), set 70000 and 2 x.
        let body = [
            op(0, 2),
            op(1, 5),
            0,
            op(4, 3),
            op(5, 2),
            op(6, 2),
            op(1, (70000 & 4095) as i16),
            (70000 >> 12) as i16,
            op(4, 2),
        ];
        let got = decode(&list(&body), 12).unwrap();
        assert_eq!(got, vec![0, 0, 5, 5, 5, 0, 5, 7, 70000, 70000, 0, 0]);
        // A list longer than the tile is cut at the tile's end.
        assert_eq!(decode(&list(&[op(1, 9), 0, op(4, 100)]), 3).unwrap(), vec![9, 9, 9]);
        // Old style: length in word 3, instructions from word 4.
        assert_eq!(decode(&[0, 0, 5, op(0, 1), op(6, 4)], 3).unwrap(), vec![0, 5, 0]);
    }

    #[test]
    fn short_or_lying_lists_are_faults() {
        assert!(decode(&[0, 7, 0], 4).unwrap_err().contains("too few"));
        let mut lying = list(&[op(4, 3)]);
        lying[3] = 900;
        assert!(decode(&lying, 4).unwrap_err().contains("900 words"));
        assert!(decode(&list(&[op(1, 3)]), 4).unwrap_err().contains("set-value"));
        assert_eq!(decode(&list(&[]), 4).unwrap(), vec![0; 4]);
    }
}
