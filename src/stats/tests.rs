//! Tests of [`band_stats`] and [`BandStats::range`] on whole rasters, including reference numbers
//! from astropy/numpy and a timing of a 4096 x 4096 band (`cargo test -- --nocapture`).

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::types::{Raster, RasterMeta};

fn raster(w: usize, h: usize, band: Vec<f32>) -> Raster {
    Raster::new(w, h, vec![band], RasterMeta::default())
}

fn stats(r: &Raster) -> BandStats {
    band_stats(&Arc::new(r.clone()), 0, &|| false).expect("not cancelled")
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-30)
}

/// xorshift64; reproduced bit for bit by the Python script quoted in `astropy_references`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / 9007199254740992.0
    }
    /// Sum of four uniforms minus 2: roughly normal, variance 1/3.
    fn noise(&mut self) -> f64 {
        let (a, b, c, d) = (self.uniform(), self.uniform(), self.uniform(), self.uniform());
        a + b + c + d - 2.0
    }
}

/// 200 x 150 sky of 100 ± noise, bright outliers every 503rd pixel, dark ones every 401st, NaN
/// every 211th.
fn noisy() -> Raster {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let band = (0..200 * 150)
        .map(|i| {
            let mut v = 100.0 + 10.0 * rng.noise();
            if i % 503 == 0 {
                v = 5000.0 + i as f64;
            }
            if i % 401 == 3 {
                v = -3000.0 - i as f64;
            }
            if i % 211 == 7 {
                v = f64::NAN;
            }
            v as f32
        })
        .collect();
    raster(200, 150, band)
}

/// 64 x 64 gradient sky `50 + 0.1 x + 0.05 y + 3 noise`, columns 20..30 masked.
fn masked_sky() -> Raster {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let w = 64;
    let band =
        (0..w * w).map(|i| (50.0 + 0.1 * (i % w) as f64 + 0.05 * (i / w) as f64 + 3.0 * rng.noise()) as f32).collect();
    let mut r = raster(w, w, band);
    r.valid = Some((0..w * w).map(|i| !(20..30).contains(&(i % w))).collect());
    r
}

#[test]
fn exact_quantiles_and_moments_of_a_small_band() {
    // Valid values (any order): 7, 1, 3, 10, 5, 2 -> sorted 1 2 3 5 7 10, n = 6.
    let r = raster(4, 2, vec![7.0, f32::NAN, 1.0, 3.0, 10.0, f32::INFINITY, 5.0, 2.0]);
    let s = stats(&r);
    assert_eq!((s.count, s.nan, s.pos_inf, s.nodata(), s.total), (6, 1, 1, 2, 8));
    assert_eq!((s.min, s.max, s.min_positive), (1.0, 10.0, Some(1.0)));
    assert!(close(s.mean, 28.0 / 6.0, 1e-12));
    // Population variance: sum((v - 14/3)^2) / 6 = (188 - 6 * (14/3)^2) / 6.
    let var = (188.0 - 6.0 * (28.0f64 / 6.0).powi(2)) / 6.0;
    assert!(close(s.std, var.sqrt(), 1e-12));
    // numpy 'linear': rank q * 5 between sorted neighbours.
    let expected = [
        (0.0, 1.0),
        (0.1, 1.5),   // rank 0.5: 1 + 0.5 * (2 - 1)
        (0.25, 2.25), // rank 1.25
        (0.5, 4.0),   // rank 2.5: (3 + 5) / 2
        (0.9, 8.5),   // rank 4.5
        (0.99, 9.85), // rank 4.95: 7 + 0.95 * 3
        (1.0, 10.0),
    ];
    for (q, want) in expected {
        assert!(close(f64::from(s.quantile(q)), want, 1e-6), "q {q}: {}", s.quantile(q));
    }
    assert_eq!(s.median(), 4.0);
    assert_eq!(s.range(RangeMode::MinMax), (1.0, 10.0));
    assert_eq!(s.range(RangeMode::Percentile(10.0, 90.0)), (1.5, 8.5));
    assert_eq!(s.range(RangeMode::Manual(9.0, 2.0)), (2.0, 9.0));
    // Histogram: 256 bins over [1, 10], every value counted once, 10 in the last bin.
    assert_eq!(s.histogram.total(), 6);
    assert_eq!((s.histogram.lo, s.histogram.hi), (1.0, 10.0));
    assert_eq!(s.histogram.counts[255], 1);
    assert_eq!(s.histogram.counts[0], 1);
}

#[test]
fn nodata_categories_are_counted_separately() {
    let band = vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
        -2.0,
        0.0,
        0.25,
        f32::NAN, // masked: counted as masked, not NaN
        4.0,      // masked
    ];
    let mut r = raster(3, 3, band);
    r.valid = Some(vec![true, true, true, true, true, true, true, false, false]);
    let s = stats(&r);
    assert_eq!((s.nan, s.pos_inf, s.neg_inf, s.masked), (1, 1, 2, 2));
    assert_eq!((s.count, s.nodata(), s.total), (3, 6, 9));
    assert_eq!((s.min, s.max, s.min_positive), (-2.0, 0.25, Some(0.25)));
}

#[test]
fn empty_and_all_nan_bands_do_not_panic() {
    let all_nan = raster(3, 2, vec![f32::NAN; 6]);
    let empty = raster(0, 0, Vec::new());
    for r in [all_nan, empty] {
        let s = stats(&r);
        assert_eq!(s.count, 0);
        assert!(s.min.is_nan() && s.mean.is_nan() && s.quantile(0.5).is_nan());
        assert_eq!(s.min_positive, None);
        assert_eq!(s.histogram.total(), 0);
        for mode in RangeMode::PRESETS {
            assert_eq!(s.range(mode), (0.0, 1.0), "{mode}");
        }
    }
    assert!(band_stats(&Arc::new(raster(1, 1, vec![1.0])), 3, &|| false).is_none());
}

#[test]
fn constant_band_gets_a_widened_range() {
    let s = stats(&raster(3, 3, vec![7.0; 9]));
    assert_eq!((s.min, s.max, s.std), (7.0, 7.0, 0.0));
    for mode in RangeMode::PRESETS {
        assert_eq!(s.range(mode), (6.5, 7.5), "{mode}");
    }
    assert_eq!(s.histogram.counts[128], 9);
    let big = stats(&raster(2, 1, vec![3e9, 3e9]));
    let (lo, hi) = big.range(RangeMode::ZScale);
    assert!(lo < 3e9 && hi > 3e9 && lo.is_finite() && hi.is_finite());
}

#[test]
fn collapsed_percentiles_fall_back_to_min_max() {
    // 199 zeros and one 1: the 1-99 % range is (0, 0).
    let mut band = vec![0.0; 200];
    band[17] = 1.0;
    let s = stats(&raster(20, 10, band));
    assert_eq!(s.range(RangeMode::Percentile(1.0, 99.0)), (0.0, 1.0));
    assert_eq!(s.min_positive, Some(1.0));
}

#[test]
fn cancellation_returns_none() {
    let r = Arc::new(raster(512, 512, (0..512 * 512).map(|i| i as f32).collect()));
    assert!(band_stats(&r, 0, &|| true).is_none());
    // Cancelled part-way: the pixel pass polls 4 times (4 x 64 Ki pixels), the sort's first
    // pass polls next; cancel on its second poll.
    let polls = Cell::new(0);
    let cancel = || {
        polls.set(polls.get() + 1);
        polls.get() > 5
    };
    assert!(band_stats(&r, 0, &cancel).is_none());
    assert_eq!(polls.get(), 6);
}

#[test]
fn astropy_references() {
    // Reference numbers from astropy 8.0.2 / numpy 2.4.6 on the same arrays, generated in Python
    // with the identical xorshift64 (`x ^= x<<13; x ^= x>>7; x ^= x<<17` mod 2^64, uniform =
    // (x>>11)/2^53, noise = a+b+c+d-2) and cast to float32:
    //   ZScaleInterval().get_limits(a)                        (masked_array for the sky)
    //   np.quantile(a[np.isfinite(a)].astype(np.float64), q)
    //   sigma_clipped_stats(a[np.isfinite(a)], sigma=3.0, maxiters=5)
    let s = stats(&noisy());
    assert_eq!((s.count, s.nan), (29857, 143));
    assert_eq!((s.min, s.max), (-32677.0, 34174.0));
    assert!(close(s.mean, 94.04033080168506, 1e-9));
    assert!(close(s.std, 1371.455349216252, 1e-9));
    let (zlo, zhi) = s.range(RangeMode::ZScale);
    assert!(close(f64::from(zlo), 65.60795214473154, 1e-5), "{zlo}");
    assert!(close(f64::from(zhi), 134.16258436975684, 1e-5), "{zhi}");
    let quantiles = [
        (0.001, -20704.744),
        (0.01, 86.57517547607422),
        (0.1234, 93.10056705322266),
        (0.5, 99.96292114257812),
        (0.99, 113.26962768554687),
        (0.9985, 11647.648000000176),
    ];
    for (q, want) in quantiles {
        assert!(close(f64::from(s.quantile(q)), want, 1e-6), "q {q}: {}", s.quantile(q));
    }
    let r = noisy();
    let (mean, median, std) = sigma_clip(&r.bands[0], 3.0, 5);
    assert!(close(f64::from(mean), 99.95462036132812, 1e-5), "{mean}");
    assert!(close(f64::from(median), 99.96524047851562, 1e-5), "{median}");
    assert!(close(f64::from(std), 5.749127388000488, 1e-5), "{std}");

    // Masked pixels are not sampled: without the mask astropy gives (46.5158, 62.6237).
    let s = stats(&masked_sky());
    assert_eq!((s.count, s.masked), (64 * 54, 640));
    let (zlo, zhi) = s.range(RangeMode::ZScale);
    assert!(close(f64::from(zlo), 46.515811920166016, 1e-6), "{zlo}");
    assert!(close(f64::from(zhi), 61.24161148071289, 1e-6), "{zhi}");
}

#[test]
fn histogram_rebinning_is_exact() {
    let band: Vec<f32> = (0..1000).map(|i| (i % 100) as f32).collect();
    let s = stats(&raster(100, 10, band));
    // Integer-valued band: stored as runs, still exact.
    assert!(s.memory_bytes() < 4 * 1000);
    assert_eq!(s.quantile(0.5), 49.5);
    let h = s.histogram_between(10.0, 20.0, 10);
    // Ten of each of 10..19; the last bin also holds the ten 20s (it includes `hi`).
    assert_eq!(h.counts, vec![10, 10, 10, 10, 10, 10, 10, 10, 10, 20]);
    assert_eq!((h.below, h.above), (100, 790));
    assert_eq!(s.histogram.total(), 1000);
}

/// On-CPU time of the calling thread (Linux), to time code on a machine shared with other work.
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

#[test]
fn timing_4096_square_random_band() {
    let n = 4096 * 4096;
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let band: Vec<f32> = (0..n).map(|_| rng.uniform() as f32 * 1000.0 - 100.0).collect();
    let r = raster(4096, 4096, band);
    let cpu = thread_cpu_seconds();
    let t = Instant::now();
    let s = stats(&r);
    let wall = t.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds().zip(cpu).map(|(b, a)| format!("{:.3} s", b - a));
    println!(
        "band_stats 4096x4096: {wall:.3} s wall, {} on-CPU, quantile store {} MiB, 1-99 % = {:?}",
        cpu.unwrap_or_else(|| "n/a".into()),
        s.memory_bytes() >> 20,
        s.range(RangeMode::Percentile(1.0, 99.0)),
    );
    assert_eq!(s.count, n);
    // The same band answered from itself (the store of bands above STORE_LIMIT).
    let r = Arc::new(r);
    let t = Instant::now();
    let big = band::band_stats_with(&r, 0, &|| false, 0).expect("not cancelled");
    let build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let h = big.histogram_between(0.0, 500.0, 128);
    let rebin = t.elapsed().as_secs_f64();
    println!(
        "band_stats 4096x4096 from the band: {build:.3} s, store {} KiB, a 128-bin histogram {rebin:.3} s",
        big.memory_bytes() >> 10
    );
    assert_eq!(big.range(RangeMode::Percentile(1.0, 99.0)), s.range(RangeMode::Percentile(1.0, 99.0)));
    assert_eq!(h, s.histogram_between(0.0, 500.0, 128));
}

/// A band too large for a sorted copy answers every question exactly as the sorted store does.
#[test]
fn a_band_answered_from_itself_matches_the_sorted_store() {
    let mut mixed: Vec<f32> = (0..4000).map(|i| ((i * 7919) % 1000) as f32 * 0.37 - 90.0).collect();
    mixed[3] = -0.0;
    mixed[4] = 0.0;
    mixed[5] = f32::NAN;
    mixed[6] = f32::INFINITY;
    mixed[7] = f32::NEG_INFINITY;
    mixed[8] = 1e-30;
    mixed[9] = -3e38;
    let mut constant_ish = vec![100.25f32; 3000];
    constant_ish[17] = 100.5;
    constant_ish[18] = 100.0;
    let cases: Vec<(&str, Raster)> = vec![
        ("noisy", noisy()),
        ("masked sky", masked_sky()),
        ("mixed", raster(80, 50, mixed)),
        ("nearly constant", raster(100, 30, constant_ish)),
        ("constant", raster(10, 10, vec![7.0; 100])),
        ("all NaN", raster(4, 4, vec![f32::NAN; 16])),
    ];
    for (name, r) in cases {
        let r = Arc::new(r);
        let sorted = band_stats(&r, 0, &|| false).expect("not cancelled");
        let from_band = band::band_stats_with(&r, 0, &|| false, 0).expect("not cancelled");
        assert!(matches!(from_band.sorted, sorted::SortedValues::Band(_)) || from_band.count == 0, "{name}");
        assert!(from_band.memory_bytes() < (1 << 20) + 4096, "{name}: {}", from_band.memory_bytes());
        let fields = |s: &BandStats| (s.count, s.masked, s.nan, s.pos_inf, s.neg_inf, s.min_positive, s.zscale);
        assert_eq!(fields(&from_band), fields(&sorted), "{name}");
        assert_eq!(from_band.min.to_bits(), sorted.min.to_bits(), "{name} min");
        assert_eq!(from_band.max.to_bits(), sorted.max.to_bits(), "{name} max");
        assert!(from_band.mean.is_nan() && sorted.mean.is_nan() || close(from_band.mean, sorted.mean, 1e-12), "{name}");
        assert!(from_band.std.is_nan() && sorted.std.is_nan() || close(from_band.std, sorted.std, 1e-9), "{name}");
        assert_eq!(from_band.histogram, sorted.histogram, "{name}");
        for q in [0.0, 0.0005, 0.001, 0.01, 0.1234, 0.5, 0.75, 0.99, 0.9985, 1.0] {
            assert_eq!(from_band.quantile(q).to_bits(), sorted.quantile(q).to_bits(), "{name} q {q}");
        }
        for mode in RangeMode::PRESETS {
            assert_eq!(from_band.range(mode), sorted.range(mode), "{name} {mode}");
        }
        for x in [-1e39, -90.0, -0.0, 0.0, 1e-30, 46.5, 100.25, 100.3, 300.0, f64::INFINITY] {
            assert_eq!(from_band.count_at_most(x), sorted.count_at_most(x), "{name} <= {x}");
        }
        for (lo, hi, bins) in [(-90.0, 280.0, 128), (100.0, 100.5, 7), (46.0, 62.0, 33), (0.0, 1.0, 1)] {
            let want = sorted.histogram_between(lo, hi, bins);
            assert_eq!(from_band.histogram_between(lo, hi, bins), want, "{name}");
            assert_eq!(sorted.histogram_between_now(lo, hi, bins).as_ref(), Some(&want), "{name}");
            // The band answered from itself offers the last one asked, without a pass.
            if from_band.count > 0 {
                assert_eq!(from_band.histogram_between_now(-1.0, 2.0, 5).as_ref(), Some(&want), "{name}");
            }
        }
    }
}

#[test]
fn a_large_band_keeps_no_copy_and_can_be_cancelled() {
    let r = Arc::new(raster(300, 200, (0..60_000).map(|i| (i % 977) as f32).collect()));
    assert!(band::band_stats_with(&r, 0, &|| true, 1000).is_none());
    let polls = Cell::new(0);
    let cancel = || {
        polls.set(polls.get() + 1);
        polls.get() > 1
    };
    assert!(band::band_stats_with(&r, 0, &cancel, 1000).is_none());
    let s = band::band_stats_with(&r, 0, &|| false, 1000).expect("not cancelled");
    assert_eq!(s.memory_bytes(), ((1 << 16) + 1) * 8 + HISTOGRAM_BINS * 8);
    // The raster is shared, not copied.
    assert_eq!(Arc::strong_count(&r), 2);
    // numpy: np.median(np.arange(60000) % 977) = 485.0
    assert_eq!(s.median(), 485.0);
}
