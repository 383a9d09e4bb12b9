//! Whether a map is the kind of input the CNN was trained on, decided before its answer is shown.
//! Two layers: rules on the raw values and the file's unit (no number at all, a quantity that is not
//! I/N in dB, a constant map), then a Mahalanobis distance of the network's pooled features together
//! with a few statistics of the map it sees (level, spread, texture), against the same vector on the
//! val scenes of the datasets it was trained on, which include the observation and physics variants:
//! a shifted I/N map is in domain, another kind of image is not. The limit is a high quantile of the
//! val distances, so about that share of in-domain maps is flagged by design. Saved as `domain.json`
//! beside the weights; any thread.

use serde::{Deserialize, Serialize};

/// Statistics of the normalized grid (values in [-1, 1], the network's input) in the feature vector.
pub const STAT_NAMES: [&str; 10] = [
    "mean level",
    "spread",
    "skewness",
    "share above the mean",
    "share at the floor",
    "share at the ceiling",
    "mean step between neighbours",
    "95th-percentile step",
    "share of flat neighbour pairs",
    "roughness (mean |Laplacian|)",
];

/// I/N maps in dB lie well inside this range; a map whose bulk lies outside is another quantity.
pub const PLAUSIBLE_DB: f32 = 60.0;

/// The fitted in-domain distribution of the feature vector (pooled features, then [`STAT_NAMES`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainModel {
    pub dims: usize,
    pub mean: Vec<f64>,
    /// Inverse of the shrunk covariance, row-major `dims` x `dims`.
    pub precision: Vec<f64>,
    /// Squared distance at `quantile` of the held-out (val) maps: the in-domain limit.
    pub threshold: f64,
    pub quantile: f64,
    /// Per-dimension standard deviation (for the reason text).
    pub sd: Vec<f64>,
    /// Maps the mean and covariance were estimated on (train split), and the maps the limit was set on (val).
    #[serde(default)]
    pub fit_maps: usize,
    pub val_maps: usize,
    /// Share of the diagonal mixed into the covariance (shrinkage).
    pub shrinkage: f64,
}

/// The verdict on one map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainVerdict {
    pub out_of_domain: bool,
    /// Squared distance over the in-domain limit (1 = the limit); infinite when a rule fired before
    /// the model looked.
    pub score: f32,
    /// Why it is out of domain, in words a user can act on.
    pub reason: Option<String>,
}

impl DomainVerdict {
    /// No check ran (the model has no domain.json and no rule fired): in domain, NaN score.
    pub fn unchecked() -> DomainVerdict {
        DomainVerdict { out_of_domain: false, score: f32::NAN, reason: None }
    }

    pub fn ruled_out(reason: String) -> DomainVerdict {
        DomainVerdict { out_of_domain: true, score: f32::INFINITY, reason: Some(reason) }
    }

    /// The verdict once a rule on the file itself (its unit, bands or shape) says it is another kind
    /// of input: that reason is shown unless a rule on the values already spoke (an infinite score),
    /// also when the model has no feature check (a NaN score); the score is at least the limit.
    pub fn overruled(self, reason: Option<String>) -> DomainVerdict {
        match reason {
            Some(why) if self.score != f32::INFINITY => {
                let score = if self.score.is_nan() { 1.0 } else { self.score.max(1.0) };
                DomainVerdict { out_of_domain: true, score, reason: Some(why) }
            }
            _ => self,
        }
    }
}

/// [`STAT_NAMES`] of a normalized `m` x `m` grid.
pub fn grid_stats(x: &[f32], m: usize) -> [f32; 10] {
    let n = (m * m).max(1) as f32;
    let mean = x.iter().sum::<f32>() / n;
    let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
    let skew = if sd > 1e-6 { x.iter().map(|v| ((v - mean) / sd).powi(3)).sum::<f32>() / n } else { 0.0 };
    let above = x.iter().filter(|&&v| v > mean + 1e-6).count() as f32 / n;
    let floor = x.iter().filter(|&&v| v <= -0.99).count() as f32 / n;
    let ceiling = x.iter().filter(|&&v| v >= 0.99).count() as f32 / n;
    let mut steps = Vec::with_capacity(2 * m * m);
    let mut lap = 0.0f32;
    for r in 0..m {
        for c in 0..m {
            let v = x[r * m + c];
            if c + 1 < m {
                steps.push((x[r * m + c + 1] - v).abs());
            }
            if r + 1 < m {
                steps.push((x[(r + 1) * m + c] - v).abs());
            }
            if r > 0 && c > 0 && r + 1 < m && c + 1 < m {
                lap += (x[(r - 1) * m + c] + x[(r + 1) * m + c] + x[r * m + c - 1] + x[r * m + c + 1] - 4.0 * v).abs();
            }
        }
    }
    let k = steps.len().max(1) as f32;
    let mean_step = steps.iter().sum::<f32>() / k;
    let flat = steps.iter().filter(|&&s| s < 1e-4).count() as f32 / k;
    steps.sort_by(f32::total_cmp);
    let p95 =
        steps.get(((steps.len() as f32 * 0.95) as usize).min(steps.len().saturating_sub(1))).copied().unwrap_or(0.0);
    let inner = ((m.saturating_sub(2)) * (m.saturating_sub(2))).max(1) as f32;
    [mean, sd, skew, above, floor, ceiling, mean_step, p95, flat, lap / inner]
}

/// Rules on the raw values (dB as the file holds them, NaN for no data) that need no model.
pub fn value_reason(raw: &[f32]) -> Option<String> {
    let mut valid: Vec<f32> = raw.iter().copied().filter(|v| v.is_finite()).collect();
    if valid.is_empty() {
        return Some("no pixel holds a number (all NaN or Inf): there is nothing to read".into());
    }
    let share = valid.len() as f64 / raw.len() as f64;
    if share < 0.5 {
        return Some(format!(
            "only {:.0} % of the pixels hold a number: too little of the map to read (the CNN was trained on \
             complete I/N maps)",
            100.0 * share
        ));
    }
    valid.sort_by(f32::total_cmp);
    let q = |p: f64| valid[((valid.len() - 1) as f64 * p).round() as usize];
    let (lo, hi) = (q(0.02), q(0.98));
    if lo > PLAUSIBLE_DB || hi < -PLAUSIBLE_DB {
        let what = if lo >= 100.0 && hi <= 260.0 {
            "look like path loss, not I/N".to_string()
        } else {
            format!(
                "lie outside any I/N map (about -{PLAUSIBLE_DB:.0}..+{PLAUSIBLE_DB:.0} dB): another quantity or unit"
            )
        };
        return Some(format!("values {lo:.0}-{hi:.0} dB {what}: the CNN was trained on I/N maps (-20..+20 dB)"));
    }
    let (min, max) = (valid[0], valid[valid.len() - 1]);
    if max - min < 1e-6 && min.abs() < 19.5 {
        return Some(format!(
            "the map is constant at {min:.1} dB: a measured I/N map varies (only a map at the instrument's floor or \
             ceiling is flat)"
        ));
    }
    None
}

/// A unit the file declares that is not a level in dB.
pub fn unit_reason(unit: Option<&str>) -> Option<String> {
    let u = unit?.trim();
    let lower = u.to_ascii_lowercase();
    if u.is_empty() || lower.starts_with("db") || lower == "decibel" || lower == "decibels" {
        return None;
    }
    Some(format!("the file's values are in {u}, not dB: the CNN was trained on I/N maps in dB"))
}

impl DomainModel {
    /// Fit on in-domain feature vectors: mean and covariance (shrunk toward its diagonal by
    /// `shrinkage`) on `vectors`, the limit at `quantile` of the distances of `held_out` (other
    /// in-domain maps: distances of the maps a covariance was estimated on run small).
    pub fn fit(
        vectors: &[Vec<f32>],
        held_out: &[Vec<f32>],
        quantile: f64,
        shrinkage: f64,
    ) -> Result<DomainModel, String> {
        let d = vectors.first().map_or(0, Vec::len);
        if vectors.len() < 10 || d == 0 || vectors.iter().any(|v| v.len() != d) {
            return Err(format!("need at least 10 feature vectors of one length, got {}", vectors.len()));
        }
        if let Some(i) = vectors.iter().position(|v| v.iter().any(|x| !x.is_finite())) {
            return Err(format!("feature vector {i} holds NaN or Inf"));
        }
        let n = vectors.len() as f64;
        let mut mean = vec![0.0f64; d];
        for v in vectors {
            for (m, &x) in mean.iter_mut().zip(v) {
                *m += f64::from(x) / n;
            }
        }
        let mut cov = vec![0.0f64; d * d];
        for v in vectors {
            for i in 0..d {
                let a = f64::from(v[i]) - mean[i];
                for j in 0..=i {
                    cov[i * d + j] += a * (f64::from(v[j]) - mean[j]) / (n - 1.0);
                }
            }
        }
        for i in 0..d {
            for j in 0..i {
                cov[j * d + i] = cov[i * d + j];
            }
        }
        let sd: Vec<f64> = (0..d).map(|i| cov[i * d + i].sqrt()).collect();
        // Shrink toward the diagonal, and keep every variance above a floor so constant dimensions
        // (a dead channel) do not make the matrix singular.
        let floor = 1e-6 * (0..d).map(|i| cov[i * d + i]).sum::<f64>() / d as f64 + 1e-12;
        for i in 0..d {
            for j in 0..d {
                let c = &mut cov[i * d + j];
                *c = if i == j { c.max(floor) } else { (1.0 - shrinkage) * *c };
            }
        }
        let precision = invert_spd(&cov, d).ok_or("the covariance is not positive definite")?;
        let mut model = DomainModel {
            dims: d,
            mean,
            precision,
            threshold: 1.0,
            quantile,
            sd,
            fit_maps: vectors.len(),
            val_maps: 0,
            shrinkage,
        };
        if held_out.is_empty() || held_out.iter().any(|v| v.len() != d) {
            return Err("need held-out feature vectors of the same length for the limit".into());
        }
        model.val_maps = held_out.len();
        let mut dist: Vec<f64> = held_out.iter().map(|v| model.distance2(v)).collect();
        dist.sort_by(f64::total_cmp);
        model.threshold = dist[((dist.len() - 1) as f64 * quantile).round() as usize].max(1e-9);
        Ok(model)
    }

    /// Squared Mahalanobis distance of `v` from the in-domain mean.
    pub fn distance2(&self, v: &[f32]) -> f64 {
        let d = self.dims;
        let a: Vec<f64> = v.iter().zip(&self.mean).map(|(&x, m)| f64::from(x) - m).collect();
        let mut s = 0.0;
        for i in 0..d {
            let row = &self.precision[i * d..(i + 1) * d];
            s += a[i] * row.iter().zip(&a).map(|(p, x)| p * x).sum::<f64>();
        }
        s
    }

    /// The verdict on a feature vector whose last [`STAT_NAMES`]`.len()` entries are the map's statistics.
    pub fn verdict(&self, v: &[f32]) -> DomainVerdict {
        self.verdict_named(
            v,
            &STAT_NAMES,
            "the map and the CNN's reading of it are unlike the I/N maps it was trained on",
        )
    }

    /// The verdict on `v`, whose last `stats.len()` entries are statistics named for the reason text;
    /// `unlike` opens the reason.
    pub fn verdict_named(&self, v: &[f32], stats: &[&str], unlike: &str) -> DomainVerdict {
        if v.len() != self.dims {
            return DomainVerdict::ruled_out(format!(
                "the domain check expects {} features, the model gave {} (domain.json does not belong to this model)",
                self.dims,
                v.len()
            ));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return DomainVerdict::ruled_out("the network's features are not finite on this map".into());
        }
        let score = (self.distance2(v) / self.threshold) as f32;
        if score <= 1.0 {
            return DomainVerdict { out_of_domain: false, score, reason: None };
        }
        // The map statistic furthest from training, in standard deviations, to say what is unusual.
        let k = stats.len().min(self.dims);
        let first = self.dims - k;
        let worst = (0..k)
            .map(|i| (i, (f64::from(v[first + i]) - self.mean[first + i]) / self.sd[first + i].max(1e-9)))
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
        let detail = worst.map_or(String::new(), |(i, z)| {
            format!(
                "; most unusual: {} {:.3} (training {:.3} +- {:.3}, {z:+.1} sd)",
                stats[i],
                v[first + i],
                self.mean[first + i],
                self.sd[first + i]
            )
        });
        DomainVerdict {
            out_of_domain: true,
            score,
            reason: Some(format!("{unlike} (distance {score:.1}x the in-domain limit){detail}")),
        }
    }
}

/// Inverse of a symmetric positive definite matrix by Cholesky; `None` when it is not one.
fn invert_spd(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum();
            if i == j {
                let v = a[i * d + i] - s;
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * d + i] = v.sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    // Solve L L^T X = I column by column.
    let mut inv = vec![0.0f64; d * d];
    let mut y = vec![0.0f64; d];
    for col in 0..d {
        for i in 0..d {
            let s: f64 = (0..i).map(|k| l[i * d + k] * y[k]).sum();
            y[i] = (f64::from(u8::from(i == col)) - s) / l[i * d + i];
        }
        for i in (0..d).rev() {
            let s: f64 = (i + 1..d).map(|k| l[k * d + i] * inv[k * d + col]).sum();
            inv[i * d + col] = (y[i] - s) / l[i * d + i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;

    #[test]
    fn the_inverse_times_the_matrix_is_the_identity() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let inv = invert_spd(&a, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let p: f64 = (0..3).map(|k| a[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((p - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        assert!(invert_spd(&[1.0, 2.0, 2.0, 1.0], 2).is_none(), "indefinite");
    }

    #[test]
    fn far_vectors_are_out_of_domain_and_near_ones_are_not() {
        let mut rng = Rng::new(5);
        let d = 4 + STAT_NAMES.len();
        let draw = |rng: &mut Rng, shift: f64| -> Vec<f32> {
            (0..d).map(|i| (rng.normal() * (1.0 + i as f64) + shift) as f32).collect()
        };
        let train: Vec<Vec<f32>> = (0..2000).map(|_| draw(&mut rng, 0.0)).collect();
        let val: Vec<Vec<f32>> = (0..500).map(|_| draw(&mut rng, 0.0)).collect();
        let m = DomainModel::fit(&train, &val, 0.99, 0.1).unwrap();
        let fresh: Vec<bool> = (0..2000).map(|_| m.verdict(&draw(&mut rng, 0.0)).out_of_domain).collect();
        let rate = fresh.iter().filter(|&&b| b).count() as f64 / 2000.0;
        assert!((0.002..0.03).contains(&rate), "false alarms {rate}");
        let far = m.verdict(&draw(&mut rng, 12.0));
        assert!(far.out_of_domain && far.score > 1.0);
        assert!(far.reason.unwrap().contains("most unusual"));
        let wrong = m.verdict(&[0.0; 3]);
        assert!(wrong.out_of_domain && wrong.reason.unwrap().contains("expects"));
        assert!(DomainModel::fit(&train[..5], &val, 0.99, 0.1).is_err());
        assert!(DomainModel::fit(&train, &[], 0.99, 0.1).is_err());
    }

    #[test]
    fn a_rule_on_the_file_overrules_only_a_verdict_from_the_features() {
        let by_features = DomainVerdict { out_of_domain: false, score: 0.4, reason: None };
        let v = by_features.clone().overruled(Some("3 bands".into()));
        assert_eq!((v.out_of_domain, v.score, v.reason.as_deref()), (true, 1.0, Some("3 bands")));
        assert_eq!(by_features.clone().overruled(None), by_features);
        let by_values = DomainVerdict::ruled_out("values 137-203 dB".into());
        assert_eq!(by_values.clone().overruled(Some("3 bands".into())), by_values, "the value rule keeps its reason");
        let unchecked = DomainVerdict::unchecked();
        let v = unchecked.overruled(Some("in Jy/beam".into()));
        assert!(v.out_of_domain && v.score == 1.0, "no domain.json: the file's rule still flags it");
    }

    #[test]
    fn rules_name_what_the_values_look_like() {
        assert!(value_reason(&[f32::NAN; 16]).unwrap().contains("no pixel"));
        let mut half = vec![f32::NAN; 16];
        half[..4].fill(3.0);
        assert!(value_reason(&half).unwrap().contains("25 %"));
        let loss: Vec<f32> = (0..100).map(|i| 137.0 + 0.66 * i as f32).collect();
        assert!(value_reason(&loss).unwrap().contains("path loss"), "{:?}", value_reason(&loss));
        let counts: Vec<f32> = (0..100).map(|i| 800.0 + 30.0 * i as f32).collect();
        assert!(value_reason(&counts).unwrap().contains("another quantity"));
        assert!(value_reason(&[4.0; 64]).unwrap().contains("constant"));
        assert_eq!(value_reason(&[-20.0; 64]), None, "a quiet scene sits at the floor");
        let map: Vec<f32> = (0..64).map(|i| -20.0 + 0.5 * i as f32).collect();
        assert_eq!(value_reason(&map), None);
        assert_eq!(unit_reason(Some("dB")), None);
        assert_eq!(unit_reason(None), None);
        assert!(unit_reason(Some("Jy/beam")).unwrap().contains("Jy/beam"));
    }

    #[test]
    fn statistics_tell_texture_apart() {
        let m = 32;
        let smooth: Vec<f32> = (0..m * m).map(|i| ((i % m) as f32 / m as f32) - 0.5).collect();
        let mut rng = Rng::new(1);
        let noise: Vec<f32> = (0..m * m).map(|_| rng.range(-1.0, 1.0) as f32).collect();
        let (s, n) = (grid_stats(&smooth, m), grid_stats(&noise, m));
        assert!(n[6] > 10.0 * s[6], "mean step");
        assert!(n[9] > 10.0 * s[9], "roughness");
        assert!(s[8] > 0.4, "a ramp along rows is flat down the columns");
        let flat = grid_stats(&vec![-1.0; m * m], m);
        assert_eq!((flat[4], flat[6], flat[8]), (1.0, 0.0, 1.0));
        let spike: Vec<f32> = (0..m * m).map(|i| if i % 50 == 0 { 1.0 } else { -1.0 }).collect();
        let pit: Vec<f32> = spike.iter().map(|v| -v).collect();
        assert!(grid_stats(&spike, m)[2] > 1.0 && grid_stats(&pit, m)[2] < -1.0, "skewness has a sign");
    }
}
