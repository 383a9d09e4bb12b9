//! Calibration of the CNN on the val split after training, and how calibration is measured: the
//! temperature of the class head, the mask's affected-share distribution pooled with it, the L3 and
//! L2 sources chosen by val accuracy (all saved as `calibration.json`), expected calibration error and
//! the reliability diagram. Pure computation plus one pass of the network; the trainer's or CLI's thread.

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::data::{Example, resize};
use super::resnet::SpectrumResNet;
use super::train::{TrainError, argmax, mask_box, raw_outputs};

/// Where the L3 box comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L3Source {
    /// Largest component of the exceedance mask above `mask_threshold` (the labels' own rule).
    Mask,
    /// The box-regression head, gated by its objectness.
    Head,
}

/// Fitted on the val split after training; saved as `calibration.json` beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Class logits are divided by this before the softmax.
    pub temperature: f64,
    pub l3_source: L3Source,
    pub mask_threshold: f32,
    /// Side the mask is bilinearly upsampled to before its components are taken (0: its own side),
    /// chosen on val.
    #[serde(default)]
    pub mask_upsample: usize,
    /// Val scenes it was fitted on (0: not fitted, identity; the numbers below are then 0).
    pub val_scenes: usize,
    pub val_nll_before: f64,
    pub val_nll_after: f64,
    pub val_ece_before: f64,
    pub val_ece_after: f64,
    /// Val mean IoU of the chosen L3 source and threshold.
    pub val_iou: f64,
    /// Weight of the mask's class distribution in the log-linear pool with the class head (0: head
    /// only), and the spread that turns the mask into a distribution of the affected share
    /// (see [`share_probs`]); both fitted on val.
    #[serde(default)]
    pub share_weight: f64,
    #[serde(default = "one")]
    pub share_spread: f64,
    /// L2 "is this region affected" from the mask (share of cells above `mask_threshold`) rather than
    /// the region head, because it was more accurate on val; the two val accuracies.
    #[serde(default)]
    pub regions_from_mask: bool,
    #[serde(default)]
    pub val_regions_head: f64,
    #[serde(default)]
    pub val_regions_mask: f64,
    /// Val L1 accuracy of the pooled classes.
    #[serde(default)]
    pub val_l1: f64,
    /// Val L1 accuracy of the class head, and of the class of the mask's expected affected share.
    #[serde(default)]
    pub val_l1_head: f64,
    #[serde(default)]
    pub val_l1_mask: f64,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            temperature: 1.0,
            l3_source: L3Source::Mask,
            mask_threshold: 0.5,
            mask_upsample: 0,
            val_scenes: 0,
            val_nll_before: 0.0,
            val_nll_after: 0.0,
            val_ece_before: 0.0,
            val_ece_after: 0.0,
            val_iou: 0.0,
            regions_from_mask: false,
            val_regions_head: 0.0,
            val_regions_mask: 0.0,
            val_l1: 0.0,
            val_l1_head: 0.0,
            val_l1_mask: 0.0,
            share_weight: 0.0,
            share_spread: 1.0,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// Standard normal CDF (Abramowitz and Stegun 7.1.26 for erf; absolute error < 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

/// L1 class probabilities from an exceedance mask: the affected share is taken as normal with the
/// mask's mean probability as its mean and `spread` times the independent-cells standard deviation
/// (sqrt(sum p(1-p)) / cells; neighbouring cells are correlated, so the fitted spread is > 1), and each
/// class gets the probability of its share interval ([`crate::sim::labels::SEVERITY_THRESHOLDS`]).
pub fn share_probs(mask: &[f32], spread: f64) -> [f64; 4] {
    let n = mask.len().max(1) as f64;
    let mean = mask.iter().map(|&p| f64::from(p)).sum::<f64>() / n;
    let var = mask.iter().map(|&p| f64::from(p) * (1.0 - f64::from(p))).sum::<f64>() / (n * n);
    let sd = (spread * var.sqrt()).max(1e-3);
    let t = crate::sim::labels::SEVERITY_THRESHOLDS;
    let cdf = |x: f64| normal_cdf((x - mean) / sd);
    let edges = [0.0, cdf(t[0]), cdf(t[1]), cdf(t[2]), 1.0];
    std::array::from_fn(|k| (edges[k + 1] - edges[k]).max(1e-9))
}

/// log softmax(v), computed stably (v - max - ln sum exp(v - max)).
fn log_softmax(v: &[f64]) -> Vec<f64> {
    let max = v.iter().copied().fold(f64::MIN, f64::max);
    let lse = max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
    v.iter().map(|x| x - lse).collect()
}

/// Logits divided by a temperature, in f64.
fn tempered(z: &[f32], t: f64) -> Vec<f64> {
    z.iter().map(|&v| f64::from(v) / t).collect()
}

/// Log-linear pool of the temperature-scaled head and the mask's class distribution:
/// p ∝ softmax(z / t)^(1 - w) * share^w.
pub fn pooled_probs(logits: &[f32], t: f64, share: &[f64; 4], w: f64) -> Vec<f32> {
    let log: Vec<f64> = tempered(logits, t).iter().zip(share).map(|(&z, &q)| (1.0 - w) * z + w * q.ln()).collect();
    log_softmax(&log).iter().map(|v| v.exp() as f32).collect()
}

/// Mean negative log-likelihood of `labels` under softmax(logits / t).
pub fn nll(logits: &[Vec<f32>], labels: &[usize], t: f64) -> f64 {
    let sum: f64 = logits.iter().zip(labels).map(|(z, &y)| -log_softmax(&tempered(z, t))[y]).sum();
    sum / logits.len().max(1) as f64
}

/// The temperature in [0.05, 20] minimizing [`nll`] (golden-section search on log t; the NLL is
/// unimodal in it).
pub fn fit_temperature(logits: &[Vec<f32>], labels: &[usize]) -> f64 {
    golden_min(&|u| nll(logits, labels, u.exp()), 0.05f64.ln(), 20f64.ln()).exp()
}

/// The minimum of a unimodal `f` on [lo, hi] by golden-section search.
fn golden_min(f: &dyn Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (lo, hi);
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..80 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    (a + b) / 2.0
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReliabilityBin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    /// Mean confidence of the bin's predictions (NaN when empty).
    pub confidence: f64,
    /// Their accuracy (NaN when empty).
    pub accuracy: f64,
}

/// Expected calibration error over `bins` equal-width confidence bins (the top class's probability
/// against whether it was right), and the bins.
pub fn ece(confidence: &[f32], correct: &[bool], bins: usize) -> (f64, Vec<ReliabilityBin>) {
    let bins = bins.max(1);
    let mut sum_c = vec![0f64; bins];
    let mut sum_a = vec![0f64; bins];
    let mut count = vec![0usize; bins];
    for (&c, &ok) in confidence.iter().zip(correct) {
        let k = ((f64::from(c) * bins as f64) as usize).min(bins - 1);
        sum_c[k] += f64::from(c);
        sum_a[k] += f64::from(u8::from(ok));
        count[k] += 1;
    }
    let n = confidence.len().max(1) as f64;
    let mut e = 0.0;
    let out = (0..bins)
        .map(|k| {
            let (conf, acc) = if count[k] == 0 {
                (f64::NAN, f64::NAN)
            } else {
                (sum_c[k] / count[k] as f64, sum_a[k] / count[k] as f64)
            };
            if count[k] > 0 {
                e += count[k] as f64 / n * (acc - conf).abs();
            }
            ReliabilityBin {
                lo: k as f64 / bins as f64,
                hi: (k + 1) as f64 / bins as f64,
                count: count[k],
                confidence: conf,
                accuracy: acc,
            }
        })
        .collect();
    (e, out)
}

/// Bins of the reliability diagrams and the ECE.
pub const ECE_BINS: usize = 10;

/// Top-class confidence and correctness under temperature `t`.
pub fn confidences(logits: &[Vec<f32>], labels: &[usize], t: f64) -> (Vec<f32>, Vec<bool>) {
    logits
        .iter()
        .zip(labels)
        .map(|(z, &y)| {
            let k = argmax(z);
            (log_softmax(&tempered(z, t))[k].exp() as f32, k == y)
        })
        .unzip()
}

/// Fit the calibration on val examples: the temperature (min NLL), then the L3 source and mask
/// threshold with the best mean IoU over val scenes that have a region.
pub fn fit_calibration(net: &SpectrumResNet, val: &[Example], device: &Device) -> Result<Calibration, TrainError> {
    if val.is_empty() {
        return Err(TrainError::Invalid("calibration needs val scenes".into()));
    }
    let raw = raw_outputs(net, val, device)?;
    let labels: Vec<usize> = val.iter().map(|e| e.severity).collect();
    let t = fit_temperature(&raw.logits, &labels);
    let (c0, ok0) = confidences(&raw.logits, &labels, 1.0);
    // The mask's share distribution: its spread by NLL, then its weight in the pool by NLL.
    let share_nll = |spread: f64| -> f64 {
        raw.masks.iter().zip(&labels).map(|(m, &y)| -share_probs(m, spread)[y].ln()).sum::<f64>() / labels.len() as f64
    };
    let spread = golden_min(&|u| share_nll(u.exp()), 0.5f64.ln(), 50f64.ln()).exp();
    let shares: Vec<[f64; 4]> = raw.masks.iter().map(|m| share_probs(m, spread)).collect();
    let pooled =
        |w: f64| -> Vec<Vec<f32>> { raw.logits.iter().zip(&shares).map(|(z, q)| pooled_probs(z, t, q, w)).collect() };
    let pooled_nll = |w: f64| -> f64 {
        pooled(w).iter().zip(&labels).map(|(p, &y)| -f64::from(p[y].max(1e-12)).ln()).sum::<f64>() / labels.len() as f64
    };
    let weight =
        (0..=10).map(|k| k as f64 / 10.0).min_by(|a, b| pooled_nll(*a).total_cmp(&pooled_nll(*b))).unwrap_or(0.0);
    let final_probs = pooled(weight);
    let (c1, ok1): (Vec<f32>, Vec<bool>) =
        final_probs.iter().zip(&labels).map(|(p, &y)| (p[argmax(p)], argmax(p) == y)).unzip();
    let val_l1 = ok1.iter().filter(|&&c| c).count() as f64 / labels.len() as f64;
    let m = net.config.mask_side();
    let boxed: Vec<usize> = (0..val.len()).filter(|&i| val[i].bbox.is_some()).collect();
    let mean_iou = |pick: &dyn Fn(usize) -> Option<[f32; 4]>| -> f64 {
        let sum: f64 = boxed
            .iter()
            .map(|&i| match (pick(i), val[i].bbox) {
                (Some(p), Some(t)) => crate::eval::metrics::iou(p, t),
                _ => 0.0,
            })
            .sum();
        sum / boxed.len().max(1) as f64
    };
    let head_iou = mean_iou(&|i| {
        let h = &raw.head[i];
        (raw.objectness[i] > 0.0).then(|| [h[0], h[1], h[2], h[3]])
    });
    let mut best = (L3Source::Head, 0.5f32, head_iou, 0usize);
    let truth_side = val.iter().map(|e| e.truth_side).max().unwrap_or(m);
    let upsampled: Vec<Vec<f32>> = raw.masks.iter().map(|x| resize(x, m, truth_side)).collect();
    for step in 0..9 {
        let th = (30 + 5 * step) as f32 / 100.0;
        let iou = mean_iou(&|i| mask_box(&raw.masks[i], m, th));
        if iou > best.2 {
            best = (L3Source::Mask, th, iou, 0);
        }
        if truth_side > m {
            let iou = mean_iou(&|i| mask_box(&upsampled[i], truth_side, th));
            if iou > best.2 {
                best = (L3Source::Mask, th, iou, truth_side);
            }
        }
    }
    let cells = (val.len() * 5) as f64;
    let regions_head = (0..val.len())
        .flat_map(|i| (0..5).map(move |k| (i, k)))
        .filter(|&(i, k)| (raw.affected[i][k] >= 0.5) == val[i].region_affected[k])
        .count() as f64
        / cells;
    let regions_mask = (0..val.len())
        .map(|i| {
            let share = crate::sim::labels::region_stats(&raw.masks[i], m, best.1).0;
            (0..5)
                .filter(|&k| (share[k] >= crate::sim::labels::REGION_AFFECTED_SHARE) == val[i].region_affected[k])
                .count()
        })
        .sum::<usize>() as f64
        / cells;
    Ok(Calibration {
        regions_from_mask: regions_mask > regions_head,
        val_regions_head: regions_head,
        val_regions_mask: regions_mask,
        temperature: t,
        l3_source: best.0,
        mask_threshold: best.1,
        mask_upsample: best.3,
        val_scenes: val.len(),
        val_nll_before: nll(&raw.logits, &labels, 1.0),
        val_nll_after: pooled_nll(weight),
        val_ece_before: ece(&c0, &ok0, ECE_BINS).0,
        val_ece_after: ece(&c1, &ok1, ECE_BINS).0,
        val_iou: best.2,
        val_l1,
        share_weight: weight,
        share_spread: spread,
        val_l1_head: ok0.iter().filter(|&&c| c).count() as f64 / val.len() as f64,
        val_l1_mask: raw
            .masks
            .iter()
            .zip(&labels)
            .filter(|(m, y)| {
                let share = m.iter().map(|&p| f64::from(p)).sum::<f64>() / m.len().max(1) as f64;
                crate::sim::labels::severity_class(share) == **y
            })
            .count() as f64
            / val.len() as f64,
    })
}

/// A reliability diagram as a small standalone SVG (bars: accuracy per confidence bin; diagonal:
/// perfect calibration; bar labels: counts).
pub fn reliability_svg(bins: &[ReliabilityBin], title: &str) -> String {
    let (w, h, pad) = (360.0, 360.0, 40.0);
    let side = w - 2.0 * pad;
    let x = |v: f64| pad + v * side;
    let y = |v: f64| h - pad - v * side;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
        w / 2.0,
        escape(title)
    );
    for b in bins.iter().filter(|b| b.count > 0) {
        s += &format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#4a7fd0\" stroke=\"white\"/>\n\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"2\" fill=\"#d04a4a\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\">{}</text>\n",
            x(b.lo),
            y(b.accuracy),
            x(b.hi) - x(b.lo),
            b.accuracy * side,
            x(b.lo),
            y(b.confidence) - 1.0,
            x(b.hi) - x(b.lo),
            (x(b.lo) + x(b.hi)) / 2.0,
            y(b.accuracy) - 3.0,
            b.count
        );
    }
    s += &format!(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"gray\" stroke-dasharray=\"4 3\"/>\n\
         <rect x=\"{pad}\" y=\"{pad}\" width=\"{side}\" height=\"{side}\" fill=\"none\" stroke=\"black\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">confidence (red: bin mean)</text>\n\
         <text x=\"12\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {})\">accuracy</text>\n\
         <text x=\"{pad}\" y=\"{}\" text-anchor=\"middle\">0</text><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">1</text>\n</svg>\n",
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0),
        w / 2.0,
        h - 8.0,
        h / 2.0,
        h / 2.0,
        h - pad + 14.0,
        x(1.0),
        h - pad + 14.0,
    );
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_fit_recovers_a_known_temperature() {
        // Labels drawn from softmax(z / 2.5): the fitted temperature should come back near 2.5.
        let mut rng = crate::sim::rng::Rng::derive(3, &[1]);
        let (mut logits, mut labels) = (vec![], vec![]);
        for _ in 0..4000 {
            let z: Vec<f32> = (0..4).map(|_| (rng.range(-6.0, 6.0)) as f32).collect();
            let p: Vec<f64> = z.iter().map(|&v| (f64::from(v) / 2.5).exp()).collect();
            let total: f64 = p.iter().sum();
            let mut u = rng.uniform() * total;
            let mut y = 3;
            for (k, v) in p.iter().enumerate() {
                if u < *v {
                    y = k;
                    break;
                }
                u -= v;
            }
            logits.push(z);
            labels.push(y);
        }
        let t = fit_temperature(&logits, &labels);
        assert!((t - 2.5).abs() < 0.25, "{t}");
        assert!(nll(&logits, &labels, t) < nll(&logits, &labels, 1.0));
        // Scaled logits are better calibrated.
        let (c1, ok1) = confidences(&logits, &labels, 1.0);
        let (ct, okt) = confidences(&logits, &labels, t);
        assert!(ece(&ct, &okt, 10).0 < 0.03 && ece(&c1, &ok1, 10).0 > 0.1);
    }

    #[test]
    fn share_distribution_and_pooling() {
        // All cells certainly affected: severe; none: low; the probabilities sum to one.
        let full = share_probs(&[1.0; 64], 3.0);
        assert!(full[3] > 0.999, "{full:?}");
        let empty = share_probs(&[0.0; 64], 3.0);
        assert!(empty[0] > 0.999, "{empty:?}");
        // A 30 % share sits in "high" ([0.202, 0.503)); a larger spread spreads the mass.
        let mut m = vec![0.0f32; 100];
        m[..30].iter_mut().for_each(|p| *p = 1.0);
        m[30..60].iter_mut().for_each(|p| *p = 0.5);
        let narrow = share_probs(&m, 1.0);
        let wide = share_probs(&m, 10.0);
        assert!((narrow.iter().sum::<f64>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&narrow.map(|v| v as f32)), 2);
        assert!(wide[2] < narrow[2] && wide[1] + wide[3] > narrow[1] + narrow[3]);
        // The pool: weight 0 is the tempered head, weight 1 the share distribution.
        let z = [1.0f32, 2.0, 0.5, -1.0];
        let head = pooled_probs(&z, 2.0, &narrow, 0.0);
        let e: Vec<f64> = z.iter().map(|&v| (f64::from(v) / 2.0).exp()).collect();
        let sum: f64 = e.iter().sum();
        for (p, v) in head.iter().zip(&e) {
            assert!((f64::from(*p) - v / sum).abs() < 1e-6);
        }
        let mask_only = pooled_probs(&z, 2.0, &narrow, 1.0);
        for (p, q) in mask_only.iter().zip(narrow) {
            assert!((f64::from(*p) - q).abs() < 1e-5);
        }
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7 && (normal_cdf(1.96) - 0.975).abs() < 1e-4);
    }

    #[test]
    fn ece_by_hand() {
        // Bin [0.8, 0.9): confidence 0.85 twice, one right -> |0.5 - 0.85| * 2/4; bin [0.6, 0.7): 0.6 and
        // 0.65 both right -> |1 - 0.625| * 2/4.
        let (e, bins) = ece(&[0.85, 0.85, 0.6, 0.65], &[true, false, true, true], 10);
        assert!((e - (0.35 * 0.5 + 0.375 * 0.5)).abs() < 1e-6, "{e}");
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 4);
        assert_eq!(bins[8].count, 2);
        assert!(bins[0].accuracy.is_nan());
        // Confidence 1.0 lands in the top bin.
        assert_eq!(ece(&[1.0], &[true], 10).1[9].count, 1);
        let svg = reliability_svg(&bins, "a < b");
        assert!(svg.starts_with("<svg") && svg.contains("a &lt; b") && svg.trim_end().ends_with("</svg>"));
    }
}
