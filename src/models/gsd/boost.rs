//! Gradient-boosted regression trees (squared error, shrinkage, row subsampling, weighted samples):
//! the GSD estimator's regressor from crop features to log10 GSD. Splits are searched over at most
//! [`BINS`] quantile thresholds per feature, so fitting a few thousand crops takes well under a
//! second. The forest is plain data (serde), saved in the model's JSON. Any thread.

use serde::{Deserialize, Serialize};

use crate::sim::rng::Rng;

/// Candidate thresholds per feature.
pub const BINS: usize = 48;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostOptions {
    /// Boosting rounds (trees).
    pub rounds: usize,
    pub learning_rate: f64,
    pub max_depth: usize,
    /// Smallest total sample weight a leaf may hold, as a share of the total weight.
    pub min_leaf_share: f64,
    /// L2 penalty on leaf values (in units of sample weight share).
    pub lambda: f64,
    /// Share of samples each tree sees.
    pub subsample: f64,
    pub seed: u64,
}

impl Default for BoostOptions {
    fn default() -> Self {
        BoostOptions {
            rounds: 150,
            learning_rate: 0.05,
            max_depth: 3,
            min_leaf_share: 0.02,
            lambda: 0.001,
            subsample: 0.8,
            seed: 0,
        }
    }
}

/// A node: a split (`feature`, `threshold`, children) or a leaf (`feature` = None).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub feature: Option<usize>,
    /// Samples with feature <= threshold go left.
    pub threshold: f32,
    pub left: usize,
    pub right: usize,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    pub fn predict(&self, x: &[f32]) -> f64 {
        let mut i = 0;
        loop {
            let n = &self.nodes[i];
            match n.feature {
                None => return n.value,
                Some(f) => i = if x[f] <= n.threshold { n.left } else { n.right },
            }
        }
    }

    /// Every split names a feature below `n_features` and every child index exists.
    pub fn check(&self, n_features: usize) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("a tree has no nodes".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(f) = n.feature {
                if f >= n_features {
                    return Err(format!("node {i} splits on feature {f}, the model has {n_features}"));
                }
                // Children come after their parent, so walking down always ends.
                if n.left <= i || n.right <= i || n.left >= self.nodes.len() || n.right >= self.nodes.len() {
                    return Err(format!(
                        "node {i} points at children {} and {} of {}",
                        n.left,
                        n.right,
                        self.nodes.len()
                    ));
                }
            } else if !n.value.is_finite() {
                return Err(format!("leaf {i} holds {}", n.value));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub base: f64,
    pub trees: Vec<Tree>,
}

impl Forest {
    pub fn predict(&self, x: &[f32]) -> f64 {
        self.base + self.trees.iter().map(|t| t.predict(x)).sum::<f64>()
    }

    pub fn check(&self, n_features: usize) -> Result<(), String> {
        if !self.base.is_finite() {
            return Err(format!("the base value is {}", self.base));
        }
        self.trees.iter().try_for_each(|t| t.check(n_features))
    }
}

/// Fit on rows `x` (all the same length) with targets `y` and weights `w` (any positive scale).
pub fn fit(x: &[Vec<f32>], y: &[f64], w: &[f64], opts: &BoostOptions) -> Forest {
    assert!(x.len() == y.len() && y.len() == w.len(), "rows, targets and weights must match");
    let n = x.len();
    let total: f64 = w.iter().sum();
    if n == 0 || total.is_nan() || total <= 0.0 {
        return Forest { base: 0.0, trees: Vec::new() };
    }
    let w: Vec<f64> = w.iter().map(|v| v / total).collect();
    let base = y.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
    let d = x[0].len();
    let thresholds: Vec<Vec<f32>> = (0..d).map(|j| candidate_thresholds(x.iter().map(|r| r[j]))).collect();
    // Each sample's bin per feature: the index of the first threshold >= value.
    let bins: Vec<Vec<u8>> =
        x.iter().map(|r| (0..d).map(|j| thresholds[j].partition_point(|&t| t < r[j]) as u8).collect()).collect();
    let mut pred = vec![base; n];
    let mut rng = Rng::new(opts.seed);
    let mut trees = Vec::with_capacity(opts.rounds);
    for _ in 0..opts.rounds {
        let rows: Vec<usize> = (0..n).filter(|_| rng.chance(opts.subsample)).collect();
        let residual: Vec<f64> = (0..n).map(|i| y[i] - pred[i]).collect();
        let mut nodes = Vec::new();
        grow(&mut nodes, &rows, 0, &Ctx { bins: &bins, thresholds: &thresholds, residual: &residual, w: &w, opts });
        let tree = Tree { nodes };
        for (i, p) in pred.iter_mut().enumerate() {
            *p += tree.predict(&x[i]);
        }
        trees.push(tree);
    }
    Forest { base, trees }
}

struct Ctx<'a> {
    bins: &'a [Vec<u8>],
    thresholds: &'a [Vec<f32>],
    residual: &'a [f64],
    w: &'a [f64],
    opts: &'a BoostOptions,
}

/// Up to [`BINS`] distinct thresholds at quantiles of the finite values.
fn candidate_thresholds(values: impl Iterator<Item = f32>) -> Vec<f32> {
    let mut v: Vec<f32> = values.filter(|v| v.is_finite()).collect();
    v.sort_by(f32::total_cmp);
    let mut t: Vec<f32> = (1..BINS).filter_map(|k| v.get(k * v.len() / BINS).copied()).collect();
    t.dedup();
    t
}

/// Append the subtree for `rows` at `depth` to `nodes`; returns its index.
fn grow(nodes: &mut Vec<Node>, rows: &[usize], depth: usize, c: &Ctx) -> usize {
    let (sw, sr) = rows.iter().fold((0.0, 0.0), |(a, b), &i| (a + c.w[i], b + c.w[i] * c.residual[i]));
    let lambda = c.opts.lambda;
    let value = c.opts.learning_rate * sr / (sw + lambda);
    let me = nodes.len();
    nodes.push(Node { feature: None, threshold: 0.0, left: 0, right: 0, value });
    if depth >= c.opts.max_depth {
        return me;
    }
    let min_leaf = c.opts.min_leaf_share;
    let parent_score = sr * sr / (sw + lambda);
    let mut best: Option<(f64, usize, usize)> = None;
    for (j, th) in c.thresholds.iter().enumerate() {
        let k = th.len() + 1;
        let mut hw = vec![0.0; k];
        let mut hr = vec![0.0; k];
        for &i in rows {
            let b = c.bins[i][j] as usize;
            hw[b] += c.w[i];
            hr[b] += c.w[i] * c.residual[i];
        }
        let (mut lw, mut lr) = (0.0, 0.0);
        for b in 0..k - 1 {
            lw += hw[b];
            lr += hr[b];
            let (rw, rr) = (sw - lw, sr - lr);
            if lw < min_leaf || rw < min_leaf {
                continue;
            }
            let gain = lr * lr / (lw + lambda) + rr * rr / (rw + lambda) - parent_score;
            if gain > best.map_or(1e-12, |b| b.0) {
                best = Some((gain, j, b));
            }
        }
    }
    let Some((_, j, b)) = best else { return me };
    let (left_rows, right_rows): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&i| (c.bins[i][j] as usize) <= b);
    let left = grow(nodes, &left_rows, depth + 1, c);
    let right = grow(nodes, &right_rows, depth + 1, c);
    nodes[me] = Node { feature: Some(j), threshold: c.thresholds[j][b], left, right, value };
    me
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boosting_learns_a_step_and_a_slope() {
        // y = 2 * [x0 > 0.5] + x1, x2 is noise: the forest must get within 0.1 on fresh points.
        let mut rng = Rng::new(3);
        let rows: Vec<Vec<f32>> =
            (0..2000).map(|_| vec![rng.uniform() as f32, rng.uniform() as f32, rng.uniform() as f32]).collect();
        let target = |r: &[f32]| 2.0 * f64::from(u8::from(r[0] > 0.5)) + f64::from(r[1]);
        let y: Vec<f64> = rows.iter().map(|r| target(r)).collect();
        let opts = BoostOptions { rounds: 200, learning_rate: 0.1, min_leaf_share: 0.005, ..BoostOptions::default() };
        let forest = fit(&rows, &y, &vec![1.0; rows.len()], &opts);
        forest.check(3).expect("well-formed");
        for p in [[0.2f32, 0.3, 0.9], [0.8, 0.7, 0.1], [0.9, 0.1, 0.5]] {
            assert!((forest.predict(&p) - target(&p)).abs() < 0.1, "{p:?} -> {}", forest.predict(&p));
        }
        // Weights: a heavy copy of one target pulls the base value to it.
        let f = fit(&[vec![0.0], vec![0.0]], &[0.0, 10.0], &[1.0, 9.0], &BoostOptions { rounds: 0, ..opts });
        assert!((f.base - 9.0).abs() < 1e-12);
        // A tree naming a feature the model does not have is refused.
        let bad = Tree { nodes: vec![Node { feature: Some(5), threshold: 0.0, left: 1, right: 2, value: 0.0 }] };
        assert!(bad.check(3).is_err());
    }
}
