//! Quantized floats back to their values (FITS 4.0 section 10.2): `q * ZSCALE + ZZERO`, less the
//! subtractive dither offsets of the standard's random-number table (generated here by its
//! documented algorithm), with SUBTRACTIVE_DITHER_2's exact zeros and ZBLANK pixels as NaN.
//! Pure; worker threads.

use super::table::PerTile;

/// Length of the standard's table of dither offsets.
pub(super) const N_RANDOM: usize = 10_000;

/// The dither offsets of FITS 4.0 section 10.2.3: a Park-Miller sequence (a = 16807,
/// m = 2^31 - 1, seed 1), each seed divided by m, stored as f32 as CFITSIO stores them.
pub(super) static RANDOM: [f32; N_RANDOM] = random_table().0;

/// The table and the last seed (the standard says it must be 1043618065).
pub(super) const fn random_table() -> ([f32; N_RANDOM], f64) {
    let (a, m) = (16807.0f64, 2_147_483_647.0f64);
    let mut table = [0f32; N_RANDOM];
    let mut seed = 1.0f64;
    let mut i = 0;
    while i < N_RANDOM {
        let t = a * seed;
        seed = t - m * ((t / m) as i64 as f64);
        table[i] = (seed / m) as f32;
        i += 1;
    }
    (table, seed)
}

/// The quantized value SUBTRACTIVE_DITHER_2 writes for an exact zero.
pub(super) const ZERO_VALUE: i64 = -2_147_483_646;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Dither {
    No,
    Subtractive1,
    Subtractive2,
}

/// How floats were quantized: per-tile scale and zero, and the dithering.
#[derive(Clone, Copy, Debug)]
pub(super) struct Quantized {
    pub(super) scale: PerTile,
    pub(super) zero: PerTile,
    pub(super) dither: Dither,
    /// ZDITHER0: the first tile's offset into the random table (1-based).
    pub(super) seed: i64,
}

/// Quantized integers back to floats: `(q - r + 0.5) * scale + zero` with the dither offsets r of
/// the tile's place in the random table, or `q * scale + zero` without dithering. Blank pixels
/// become NaN, and under SUBTRACTIVE_DITHER_2 the zero code becomes an exact 0.
pub(super) fn unquantize(q: &[i64], t: usize, how: &Quantized, scale: f64, zero: f64, blank: Option<f64>) -> Vec<f64> {
    let is_blank = |v: i64| blank.is_some_and(|b| b == v as f64);
    if how.dither == Dither::No {
        return q.iter().map(|&v| if is_blank(v) { f64::NAN } else { v as f64 * scale + zero }).collect();
    }
    let start = |seed: usize| (RANDOM[seed] * 500.0) as usize;
    let mut seed = (t as i64).wrapping_add(how.seed).wrapping_sub(1).rem_euclid(N_RANDOM as i64) as usize;
    let mut next = start(seed);
    let mut out = Vec::with_capacity(q.len());
    for &v in q {
        out.push(if is_blank(v) {
            f64::NAN
        } else if how.dither == Dither::Subtractive2 && v == ZERO_VALUE {
            0.0
        } else {
            (v as f64 - f64::from(RANDOM[next]) + 0.5) * scale + zero
        });
        next += 1;
        if next == N_RANDOM {
            seed = (seed + 1) % N_RANDOM;
            next = start(seed);
        }
    }
    out
}
