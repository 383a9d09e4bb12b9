//! The HCOMPRESS_1 decoder of FITS tile compression (R. White's H-transform coder, as CFITSIO's
//! 64-bit `fits_hdecompress64` runs it): a header (magic, nx, ny, scale, the pixel sum, bit-plane
//! counts), four quadrants of coefficients coded bit plane by bit plane as quadtrees with a small
//! Huffman code, sign bits, then the scale multiplied back and the H-transform inverted level by
//! level, optionally smoothed. Integer arithmetic wraps (as the C code does in practice), so a
//! corrupt stream gives wrong pixels or a fault, never a panic. Pure; worker threads.

use std::num::Wrapping;

use super::Fault;
use super::rice::Bits;

type W = Wrapping<i64>;

/// Header bytes before the coded bits: magic (2), nx (4), ny (4), scale (4), sum (8), planes (3).
const HEADER: usize = 25;

/// Decode one tile of `n` pixels; `smooth` is the SMOOTH parameter. Values come back as the 32-bit
/// integers CFITSIO hands over.
pub(super) fn decode(stream: &[u8], n: usize, smooth: bool) -> Result<Vec<i64>, Fault> {
    let Some(head) = stream.get(..HEADER) else {
        return Err(format!("the stream has {} bytes, less than its {HEADER}-byte header", stream.len()));
    };
    if head[..2] != [0xDD, 0x99] {
        return Err("the stream does not start with the HCOMPRESS magic bytes DD 99".into());
    }
    let be = |b: &[u8]| b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x));
    let (nx, ny, scale) =
        (be(&head[2..6]) as u32 as i32, be(&head[6..10]) as u32 as i32, be(&head[10..14]) as u32 as i32);
    let sum = be(&head[14..22]) as i64;
    let planes = [head[22], head[23], head[24]];
    let dims = usize::try_from(nx).ok().zip(usize::try_from(ny).ok()).filter(|&(x, y)| x > 0 && y > 0);
    let Some((nx, ny)) = dims.filter(|&(x, y)| x.checked_mul(y) == Some(n)) else {
        return Err(format!("the stream declares {nx} x {ny} pixels, the tile has {n}"));
    };
    if let Some(p) = planes.iter().find(|&&p| p > 64) {
        return Err(format!("the stream declares {p} bit planes (64 at most)"));
    }
    let mut bits = Bits::new(&stream[HEADER..]);
    let mut a = vec![W::default(); n];
    let (nx2, ny2) = (nx.div_ceil(2), ny.div_ceil(2));
    let quadrants = [(0, nx2, ny2, planes[0]), (ny2, nx2, ny / 2, planes[1])];
    let lower = [(ny * nx2, nx / 2, ny2, planes[1]), (ny * nx2 + ny2, nx / 2, ny / 2, planes[2])];
    for (offset, qx, qy, p) in quadrants.into_iter().chain(lower) {
        qtree_decode(&mut bits, &mut a, offset, ny, qx, qy, p)?;
    }
    if bits.read(4)? != 0 {
        return Err("bad bit plane values: the end code is missing".into());
    }
    bits.align();
    for v in &mut a {
        if v.0 != 0 && bits.read(1)? == 1 {
            *v = -*v;
        }
    }
    a[0] = Wrapping(sum);
    if scale > 1 {
        a.iter_mut().for_each(|v| *v *= i64::from(scale));
    }
    hinv(&mut a, nx, ny, smooth, i64::from(scale));
    Ok(a.into_iter().map(|v| i64::from(v.0 as i32)).collect())
}

/// log2 of `n` rounded up (0 for 0 and 1).
fn ceil_log2(n: usize) -> u32 {
    if n <= 1 { 0 } else { usize::BITS - (n - 1).leading_zeros() }
}

/// One of the Huffman codes for a 4-bit quadtree value (1 to 6 bits).
fn huffman(bits: &mut Bits) -> Result<u8, Fault> {
    let c = bits.read(3)?;
    if c < 4 {
        return Ok(1 << c);
    }
    let c = (c << 1) | bits.read(1)?;
    let v = match c {
        8 => 3,
        9 => 5,
        10 => 10,
        11 => 12,
        12 => 15,
        _ => match (c << 1) | bits.read(1)? {
            26 => 6,
            27 => 7,
            28 => 9,
            29 => 11,
            30 => 13,
            c => {
                if (c << 1) | bits.read(1)? == 62 {
                    0
                } else {
                    14
                }
            }
        },
    };
    Ok(v)
}

/// Decode the bit planes of one quadrant (`nqx` rows of `nqy`, rows `stride` apart from `offset`).
fn qtree_decode(
    bits: &mut Bits,
    a: &mut [W],
    offset: usize,
    stride: usize,
    nqx: usize,
    nqy: usize,
    planes: u8,
) -> Result<(), Fault> {
    let log2n = ceil_log2(nqx.max(nqy));
    // Every level of the quadtree fits in the last one (at least one cell, as the coder assumes).
    let mut scratch = vec![0u8; nqx.div_ceil(2).max(1) * nqy.div_ceil(2).max(1)];
    for bit in (0..u32::from(planes)).rev() {
        match bits.read(4)? {
            // The bit plane written directly, four pixels a nybble.
            0 => {
                for s in scratch.iter_mut().take(nqx.div_ceil(2) * nqy.div_ceil(2)) {
                    *s = bits.read(4)? as u8;
                }
            }
            0xF => {
                scratch[0] = huffman(bits)?;
                let (mut nx, mut ny, mut fx, mut fy) = (1usize, 1usize, nqx, nqy);
                let mut c = 1usize << log2n;
                for _ in 1..log2n {
                    c >>= 1;
                    nx <<= 1;
                    ny <<= 1;
                    if fx <= c {
                        nx -= 1
                    } else {
                        fx -= c
                    }
                    if fy <= c {
                        ny -= 1
                    } else {
                        fy -= c
                    }
                    qtree_expand(bits, &mut scratch, nx, ny)?;
                }
            }
            code => return Err(format!("bad quadtree format code {code}")),
        }
        bitins(&scratch, nqx, nqy, a, offset, stride, 1i64 << bit);
    }
    Ok(())
}

/// One quadtree level: spread each 4-bit value of the (nx+1)/2 x (ny+1)/2 level over its 2 x 2
/// block of the nx x ny level (in place), then read a new code for every non-zero cell, last first.
fn qtree_expand(bits: &mut Bits, b: &mut [u8], nx: usize, ny: usize) -> Result<(), Fault> {
    let (nx2, ny2) = (nx.div_ceil(2), ny.div_ceil(2));
    if nx * ny > b.len() {
        return Err("the quadtree outgrows its quadrant".into());
    }
    // From the end, so the smaller level is read before it is overwritten.
    for i in (0..nx2).rev() {
        for j in (0..ny2).rev() {
            b[2 * (ny * i + j)] = b[ny2 * i + j];
        }
    }
    let mut i = 0;
    while i < nx {
        let mut j = 0;
        while j < ny {
            let s = ny * i + j;
            let v = b[s];
            b[s] = (v >> 3) & 1;
            if j + 1 < ny {
                b[s + 1] = (v >> 2) & 1;
            }
            if i + 1 < nx {
                b[s + ny] = (v >> 1) & 1;
                if j + 1 < ny {
                    b[s + ny + 1] = v & 1;
                }
            }
            j += 2;
        }
        i += 2;
    }
    for k in (0..nx * ny).rev() {
        if b[k] != 0 {
            b[k] = huffman(bits)?;
        }
    }
    Ok(())
}

/// OR `plane` into the pixels of the quadrant whose 2 x 2 blocks have their bit set in the 4-bit
/// values of `codes` (bit 3: top left, 2: top right, 1: bottom left, 0: bottom right).
fn bitins(codes: &[u8], nqx: usize, nqy: usize, a: &mut [W], offset: usize, stride: usize, plane: i64) {
    let mut set = |at: usize| {
        if let Some(v) = a.get_mut(offset + at) {
            v.0 |= plane;
        }
    };
    let mut k = 0;
    let mut i = 0;
    while i < nqx {
        let mut j = 0;
        while j < nqy {
            let v = codes.get(k).copied().unwrap_or(0);
            let s = stride * i + j;
            let (right, below) = (j + 1 < nqy, i + 1 < nqx);
            for (bit, at, inside) in
                [(8, s, true), (4, s + 1, right), (2, s + stride, below), (1, s + stride + 1, right && below)]
            {
                if inside && v & bit != 0 {
                    set(at);
                }
            }
            k += 1;
            j += 2;
        }
        i += 2;
    }
}

/// Undo one shuffle of `n` elements `step` apart from `start`: the first half goes to the even
/// places, the second half to the odd ones.
fn unshuffle(a: &mut [W], start: usize, n: usize, step: usize, tmp: &mut [W]) {
    let half = n.div_ceil(2);
    for (t, i) in (half..n).enumerate() {
        tmp[t] = a[start + i * step];
    }
    for i in (0..half).rev() {
        a[start + 2 * i * step] = a[start + i * step];
    }
    for (t, i) in (1..n).step_by(2).enumerate() {
        a[start + i * step] = tmp[t];
    }
}

/// Invert the H-transform of the nx x ny coefficients in place, rounding as the coder expects.
fn hinv(a: &mut [W], nx: usize, ny: usize, smooth: bool, scale: i64) {
    let nmax = nx.max(ny);
    let log2n = ceil_log2(nmax);
    if log2n == 0 {
        return;
    }
    let w = Wrapping;
    let mut tmp = vec![W::default(); nmax.div_ceil(2)];
    let mut shift = 1;
    let mut bit0 = w(1i64 << (log2n - 1));
    let mut bit1 = bit0 << 1;
    let bit2 = bit0 << 2;
    let mut mask0 = -bit0;
    let mut mask1 = mask0 << 1;
    let mask2 = mask0 << 2;
    let mut prnd0 = bit0 >> 1;
    let mut prnd1 = bit1 >> 1;
    let prnd2 = bit2 >> 1;
    let one = w(1);
    let (mut nrnd0, mut nrnd1, nrnd2) = (prnd0 - one, prnd1 - one, prnd2 - one);
    let round = |v: W, p: W, n: W, m: W| (v + if v.0 >= 0 { p } else { n }) & m;
    a[0] = round(a[0], prnd2, nrnd2, mask2);
    let (mut nxtop, mut nytop, mut nxf, mut nyf) = (1usize, 1usize, nx, ny);
    let mut c = 1usize << log2n;
    for k in (0..log2n).rev() {
        c >>= 1;
        nxtop <<= 1;
        nytop <<= 1;
        if nxf <= c {
            nxtop -= 1
        } else {
            nxf -= c
        }
        if nyf <= c {
            nytop -= 1
        } else {
            nyf -= c
        }
        if k == 0 {
            nrnd0 = w(0);
            shift = 2;
        }
        for i in 0..nxtop {
            unshuffle(a, ny * i, nytop, 1, &mut tmp);
        }
        for j in 0..nytop {
            unshuffle(a, j, nxtop, ny, &mut tmp);
        }
        if smooth {
            hsmooth(a, nxtop, nytop, ny, scale);
        }
        let (oddx, oddy) = (nxtop % 2, nytop % 2);
        let mut i = 0;
        while i < nxtop - oddx {
            let mut s00 = ny * i;
            let mut s10 = s00 + ny;
            let mut j = 0;
            while j < nytop - oddy {
                let h0 = a[s00];
                let hx = round(a[s10], prnd1, nrnd1, mask1);
                let hy = round(a[s00 + 1], prnd1, nrnd1, mask1);
                let hc = round(a[s10 + 1], prnd0, nrnd0, mask0);
                // Bit 0 of hc goes to hx and hy; bits 0 and 1 of hc, hx, hy to h0.
                let low0 = hc & bit0;
                let hx = if hx.0 >= 0 { hx - low0 } else { hx + low0 };
                let hy = if hy.0 >= 0 { hy - low0 } else { hy + low0 };
                let low1 = (hc ^ hx ^ hy) & bit1;
                let h0 = if h0.0 >= 0 {
                    h0 + low0 - low1
                } else if low0.0 == 0 {
                    h0 + low1
                } else {
                    h0 + (low0 - low1)
                };
                a[s10 + 1] = (h0 + hx + hy + hc) >> shift;
                a[s10] = (h0 + hx - hy - hc) >> shift;
                a[s00 + 1] = (h0 - hx + hy - hc) >> shift;
                a[s00] = (h0 - hx - hy + hc) >> shift;
                s00 += 2;
                s10 += 2;
                j += 2;
            }
            if oddy == 1 {
                let hx = round(a[s10], prnd1, nrnd1, mask1);
                let low1 = hx & bit1;
                let h0 = if a[s00].0 >= 0 { a[s00] - low1 } else { a[s00] + low1 };
                a[s10] = (h0 + hx) >> shift;
                a[s00] = (h0 - hx) >> shift;
            }
            i += 2;
        }
        if oddx == 1 {
            let mut s00 = ny * i;
            let mut j = 0;
            while j < nytop - oddy {
                let hy = round(a[s00 + 1], prnd1, nrnd1, mask1);
                let low1 = hy & bit1;
                let h0 = if a[s00].0 >= 0 { a[s00] - low1 } else { a[s00] + low1 };
                a[s00 + 1] = (h0 + hy) >> shift;
                a[s00] = (h0 - hy) >> shift;
                s00 += 2;
                j += 2;
            }
            if oddy == 1 {
                a[s00] >>= shift;
            }
        }
        bit1 = bit0;
        bit0 >>= 1;
        mask1 = mask0;
        mask0 >>= 1;
        prnd1 = prnd0;
        prnd0 >>= 1;
        nrnd1 = nrnd0;
        nrnd0 = prnd0 - one;
    }
}

/// Smooth the coefficients of one level (SMOOTH = 1): nudge the x, y and cross differences
/// towards what the neighbouring blocks' means imply, within the monotonicity of those means and
/// by at most half the quantization `scale`. Edge blocks are left alone.
fn hsmooth(a: &mut [W], nxtop: usize, nytop: usize, ny: usize, scale: i64) {
    let smax = Wrapping(scale >> 1);
    if smax.0 <= 0 {
        return;
    }
    let zero = Wrapping(0i64);
    let ny2 = 2 * ny;
    // Divide by 2^k rounding towards zero, as the C code does for negative numbers.
    let div = |s: W, k: usize| if s.0 >= 0 { s >> k } else { (s + Wrapping((1 << k) - 1)) >> k };
    let limit = |h0: W, hm: W, hp: W| {
        let dmax = (hp - h0).min(h0 - hm).max(zero) << 2;
        let dmin = (hp - h0).max(h0 - hm).min(zero) << 2;
        (dmin, dmax)
    };
    // x differences.
    let mut i = 2;
    while i + 2 < nxtop {
        let (mut s00, mut s10) = (ny * i, ny * i + ny);
        let mut j = 0;
        while j < nytop {
            let (hm, h0, hp) = (a[s00 - ny2], a[s00], a[s00 + ny2]);
            let (dmin, dmax) = limit(h0, hm, hp);
            if dmin < dmax {
                let diff = (hp - hm).min(dmax).max(dmin);
                let s = div(diff - (a[s10] << 3), 3).min(smax).max(-smax);
                a[s10] += s;
            }
            s00 += 2;
            s10 += 2;
            j += 2;
        }
        i += 2;
    }
    // y differences.
    let mut i = 0;
    while i < nxtop {
        let mut s00 = ny * i + 2;
        let mut j = 2;
        while j + 2 < nytop {
            let (hm, h0, hp) = (a[s00 - 2], a[s00], a[s00 + 2]);
            let (dmin, dmax) = limit(h0, hm, hp);
            if dmin < dmax {
                let diff = (hp - hm).min(dmax).max(dmin);
                let s = div(diff - (a[s00 + 1] << 3), 3).min(smax).max(-smax);
                a[s00 + 1] += s;
            }
            s00 += 2;
            j += 2;
        }
        i += 2;
    }
    // Cross differences.
    let mut i = 2;
    while i + 2 < nxtop {
        let (mut s00, mut s10) = (ny * i + 2, ny * i + ny + 2);
        let mut j = 2;
        while j + 2 < nytop {
            let (hmm, hpm, hmp, hpp) = (a[s00 - ny2 - 2], a[s00 + ny2 - 2], a[s00 - ny2 + 2], a[s00 + ny2 + 2]);
            let h0 = a[s00];
            let diff = hpp + hmm - hmp - hpm;
            let (hx2, hy2) = (a[s10] << 1, a[s00 + 1] << 1);
            let m1 = ((hpp - h0).max(zero) - hx2 - hy2).min((h0 - hpm).max(zero) + hx2 - hy2);
            let m2 = ((h0 - hmp).max(zero) - hx2 + hy2).min((hmm - h0).max(zero) + hx2 + hy2);
            let dmax = m1.min(m2) << 4;
            let m1 = ((hpp - h0).min(zero) - hx2 - hy2).max((h0 - hpm).min(zero) + hx2 - hy2);
            let m2 = ((h0 - hmp).min(zero) - hx2 + hy2).max((hmm - h0).min(zero) + hx2 + hy2);
            let dmin = m1.max(m2) << 4;
            if dmin < dmax {
                let diff = diff.min(dmax).max(dmin);
                let s = div(diff - (a[s10 + 1] << 6), 6).min(smax).max(-smax);
                a[s10 + 1] += s;
            }
            s00 += 2;
            s10 += 2;
            j += 2;
        }
        i += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(nx: i32, ny: i32, scale: i32, sum: i64, planes: [u8; 3]) -> Vec<u8> {
        let mut h = vec![0xDD, 0x99];
        h.extend(nx.to_be_bytes());
        h.extend(ny.to_be_bytes());
        h.extend(scale.to_be_bytes());
        h.extend(sum.to_be_bytes());
        h.extend(planes);
        h
    }

    #[test]
    fn a_constant_tile_is_its_sum() {
        // All coefficients zero but the sum: four planes of nothing, the end code, no signs.
        // A 2 x 2 tile of 5s sums to 20 (h0 = 4 x mean), and the inverse divides by 4.
        let mut s = header(2, 2, 0, 20, [0, 0, 0]);
        s.push(0x00);
        assert_eq!(decode(&s, 4, false).unwrap(), vec![5, 5, 5, 5]);
        assert_eq!(decode(&s, 4, true).unwrap(), vec![5, 5, 5, 5]);
    }

    #[test]
    fn bad_headers_and_cut_streams_are_faults() {
        let mut s = header(2, 2, 0, 20, [0, 0, 0]);
        s.push(0);
        assert!(decode(&s[..10], 4, false).unwrap_err().contains("header"));
        let mut bad = s.clone();
        bad[0] = 0;
        assert!(decode(&bad, 4, false).unwrap_err().contains("magic"));
        assert!(decode(&s, 6, false).unwrap_err().contains("2 x 2"));
        assert!(decode(&header(-2, -2, 0, 0, [0, 0, 0]), 4, false).is_err());
        assert!(decode(&header(2, 2, 0, 0, [200, 0, 0]), 4, false).unwrap_err().contains("200 bit planes"));
        // Bit planes promised but no bits: ends early.
        assert!(decode(&header(2, 2, 0, 0, [3, 3, 3]), 4, false).unwrap_err().contains("ends early"));
        // A bad quadtree format code.
        let mut code = header(2, 2, 0, 0, [1, 0, 0]);
        code.push(0x70);
        assert!(decode(&code, 4, false).unwrap_err().contains("format code 7"));
    }

    #[test]
    fn huffman_codes_cover_all_sixteen_values() {
        // (value, code, length) as the coder writes them.
        let table = [
            (0, 0x3e, 6),
            (1, 0x00, 3),
            (2, 0x01, 3),
            (3, 0x08, 4),
            (4, 0x02, 3),
            (5, 0x09, 4),
            (6, 0x1a, 5),
            (7, 0x1b, 5),
            (8, 0x03, 3),
            (9, 0x1c, 5),
            (10, 0x0a, 4),
            (11, 0x1d, 5),
            (12, 0x0b, 4),
            (13, 0x1e, 5),
            (14, 0x3f, 6),
            (15, 0x0c, 4),
        ];
        for (value, code, len) in table {
            let byte = [(code << (8 - len)) as u8];
            assert_eq!(huffman(&mut Bits::new(&byte)).unwrap(), value);
        }
    }

    #[test]
    fn unshuffle_interleaves_halves() {
        let mut a: Vec<W> = [0, 1, 2, 10, 11].map(Wrapping).to_vec();
        let mut tmp = vec![W::default(); 3];
        unshuffle(&mut a, 0, 5, 1, &mut tmp);
        assert_eq!(a.iter().map(|v| v.0).collect::<Vec<_>>(), [0, 10, 1, 11, 2]);
        assert_eq!(ceil_log2(1), 0);
        assert_eq!((ceil_log2(2), ceil_log2(5), ceil_log2(8), ceil_log2(9)), (1, 3, 3, 4));
    }
}
