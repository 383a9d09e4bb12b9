//! AdamW whose state (both moments and the step count) is saved beside a checkpoint and loaded on
//! resume, so a resumed run continues the same optimisation instead of restarting the moments.
//! candle-nn's AdamW keeps them private; the update here is the same (decoupled weight decay, bias
//! correction), checked against it in the tests. Runs on the trainer's thread.

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, Var};

/// AdamW's hyper-parameters (candle-nn's defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamParams {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamParams {
    fn default() -> Self {
        Self { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// AdamW over named variables.
pub struct AdamW {
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    steps: u64,
    params: AdamParams,
}

/// Name of the step counter in a saved state (moments are `m.NAME` and `v.NAME`).
const STEPS: &str = "steps";

impl AdamW {
    /// Zero moments for each variable; variables of integer dtypes are left alone.
    pub fn new(vars: Vec<(String, Var)>, params: AdamParams) -> Result<Self> {
        let vars: Vec<(String, Var)> = vars.into_iter().filter(|(_, v)| v.dtype().is_float()).collect();
        let m = vars.iter().map(|(_, v)| v.as_tensor().zeros_like()).collect::<Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self { vars, m, v, steps: 0, params })
    }

    /// The variables of a candle-nn `VarMap`, sorted by name (its own order is a hash map's).
    pub fn named(map: &candle_nn::VarMap) -> Vec<(String, Var)> {
        let mut vars: Vec<(String, Var)> =
            map.data().lock().map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// The variables it updates, by name (those of a float dtype, in the order given).
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    pub fn lr(&self) -> f64 {
        self.params.lr
    }

    /// Updates taken so far (including those before a resume).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update from `grads`; a variable without a gradient keeps its value and moments.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let p = self.params;
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let t = self.steps.min(i32::MAX as u64) as i32;
        let scale_m = 1.0 / (1.0 - p.beta1.powi(t));
        let scale_v = 1.0 / (1.0 - p.beta2.powi(t));
        for ((_, var), (m, v)) in self.vars.iter().zip(self.m.iter_mut().zip(self.v.iter_mut())) {
            let Some(g) = grads.get(var.as_tensor()) else { continue };
            let next_m = ((&*m * p.beta1)? + (g * (1.0 - p.beta1))?)?;
            let next_v = ((&*v * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let decayed = (var.as_tensor() * (1.0 - p.lr * p.weight_decay))?;
            let update = (m_hat / (v_hat.sqrt()? + p.eps)?)?;
            var.set(&(decayed - (update * p.lr)?)?)?;
            // Keep only the data: a variable's gradient carries the op graph of its backward pass
            // (activations included), and a moment stored with it would hold that graph, and through
            // the previous moment every earlier step's, for the whole run.
            *m = next_m.detach();
            *v = next_v.detach();
        }
        Ok(())
    }

    /// Backward pass of `loss`, then [`AdamW::step`].
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// Write the moments and step count to `path` (safetensors; atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::atomic::replace(path, |tmp| self.write(tmp))
            .map_err(|e| candle_core::Error::msg(format!("cannot write the optimizer state {}: {e}", path.display())))
    }

    /// Write the moments and step count to `path` as they are (a checkpoint set stages it).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for ((name, _), (m, v)) in self.vars.iter().zip(self.m.iter().zip(&self.v)) {
            map.insert(format!("m.{name}"), m.clone());
            map.insert(format!("v.{name}"), v.clone());
        }
        // f64 holds any step count a run reaches exactly.
        #[allow(clippy::cast_precision_loss)]
        map.insert(STEPS.into(), Tensor::new(&[self.steps as f64], &Device::Cpu).map_err(std::io::Error::other)?);
        candle_core::safetensors::save(&map, path).map_err(std::io::Error::other)
    }

    /// Read a state written by [`AdamW::save`] for the same variables; an error names the first
    /// moment that is missing or has another shape (a state from another model or architecture).
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let bad = |what: String| candle_core::Error::msg(format!("optimizer state {}: {what}", path.display()));
        let device = self.vars.first().map_or(Device::Cpu, |(_, v)| v.device().clone());
        let saved = candle_core::safetensors::load(path, &device).map_err(|e| bad(e.to_string()))?;
        let steps = saved
            .get(STEPS)
            .and_then(|t| t.to_dtype(DType::F64).ok())
            .and_then(|t| t.to_vec1::<f64>().ok())
            .and_then(|v| v.first().copied())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| bad("no step count".into()))?;
        let mut m = Vec::with_capacity(self.vars.len());
        let mut v = Vec::with_capacity(self.vars.len());
        for (name, var) in &self.vars {
            for (prefix, out) in [("m", &mut m), ("v", &mut v)] {
                let key = format!("{prefix}.{name}");
                let t = saved.get(&key).ok_or_else(|| bad(format!("no {key} (saved for another model?)")))?;
                if t.dims() != var.dims() {
                    return Err(bad(format!("{key} is {:?} but the variable is {:?}", t.dims(), var.dims())));
                }
                out.push(t.to_dtype(var.dtype())?);
            }
        }
        let extra = saved.len() - 1 - 2 * self.vars.len();
        if extra > 0 {
            return Err(bad(format!("{extra} moments belong to no variable of this model (saved for another model?)")));
        }
        (self.m, self.v) = (m, v);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let steps = steps as u64;
        self.steps = steps;
        Ok(())
    }
}

/// The learning rate at `step` of `total`: a linear warm-up over the first twentieth, then a cosine
/// decay to zero (both CNN trainers use it).
pub fn warmup_cosine(base: f64, step: usize, total: usize) -> f64 {
    let warmup = (total / 20).max(1);
    if step < warmup {
        base * (step + 1) as f64 / warmup as f64
    } else {
        let t = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
        base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::Optimizer;

    fn problem(seed: f32) -> (Var, Tensor) {
        let w = Var::from_tensor(&Tensor::new(&[[0.5f32 + seed, -1.0], [2.0, 0.25]], &Device::Cpu).unwrap()).unwrap();
        let x = Tensor::new(&[[1.0f32, 2.0], [-0.5, 3.0], [0.0, 1.0]], &Device::Cpu).unwrap();
        (w, x)
    }

    fn loss(w: &Var, x: &Tensor) -> Tensor {
        x.matmul(w.as_tensor()).unwrap().sqr().unwrap().sum_all().unwrap()
    }

    fn values(w: &Var) -> Vec<f32> {
        w.as_tensor().flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn updates_match_candle_nn() {
        let (a, x) = problem(0.0);
        let (b, _) = problem(0.0);
        let params = AdamParams { lr: 0.05, weight_decay: 0.1, ..AdamParams::default() };
        let mut ours = AdamW::new(vec![("w".into(), a.clone())], params).unwrap();
        let reference = candle_nn::ParamsAdamW { lr: 0.05, weight_decay: 0.1, ..Default::default() };
        let mut theirs = candle_nn::AdamW::new(vec![b.clone()], reference).unwrap();
        for _ in 0..5 {
            ours.backward_step(&loss(&a, &x)).unwrap();
            theirs.backward_step(&loss(&b, &x)).unwrap();
        }
        for (p, q) in values(&a).iter().zip(values(&b)) {
            assert!((p - q).abs() < 1e-6, "{:?} vs {:?}", values(&a), values(&b));
        }
        assert_eq!(ours.steps(), 5);
    }

    #[test]
    fn moments_keep_no_graph_between_steps() {
        // sum(w * w^2): the gradient reaching w through the product is the upstream gradient times
        // w^2, a tensor of the forward graph, so it carries that graph (as a network's do).
        let (w, _) = problem(0.0);
        let cubic = |w: &Var| (w.as_tensor() * w.as_tensor().sqr().unwrap()).unwrap().sum_all().unwrap();
        let grads = cubic(&w).backward().unwrap();
        assert!(grads.get(w.as_tensor()).unwrap().track_op(), "the premise: gradients carry a graph");
        let mut opt = AdamW::new(vec![("w".into(), w.clone())], AdamParams::default()).unwrap();
        for _ in 0..3 {
            opt.backward_step(&cubic(&w)).unwrap();
        }
        for t in opt.m.iter().chain(&opt.v) {
            assert!(!t.track_op(), "a stored moment keeps the step's graph alive");
        }
    }

    #[test]
    fn a_saved_state_resumes_the_same_run_and_a_foreign_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("optimizer.safetensors");
        let params = AdamParams { lr: 0.05, ..AdamParams::default() };
        // Straight through: 6 steps.
        let (a, x) = problem(0.0);
        let mut straight = AdamW::new(vec![("w".into(), a.clone())], params).unwrap();
        for _ in 0..6 {
            straight.backward_step(&loss(&a, &x)).unwrap();
        }
        // 3 steps, save, a new optimizer loads the state and takes 3 more.
        let (b, _) = problem(0.0);
        let mut first = AdamW::new(vec![("w".into(), b.clone())], params).unwrap();
        for _ in 0..3 {
            first.backward_step(&loss(&b, &x)).unwrap();
        }
        first.save(&path).unwrap();
        let mut resumed = AdamW::new(vec![("w".into(), b.clone())], params).unwrap();
        resumed.load(&path).unwrap();
        assert_eq!(resumed.steps(), 3);
        for _ in 0..3 {
            resumed.backward_step(&loss(&b, &x)).unwrap();
        }
        assert_eq!(values(&a), values(&b), "resuming from the saved state is the same run");
        // Restarting the moments instead is not.
        let (c, _) = problem(0.0);
        let mut restarted = AdamW::new(vec![("w".into(), c.clone())], params).unwrap();
        for _ in 0..3 {
            restarted.backward_step(&loss(&c, &x)).unwrap();
        }
        let mut fresh = AdamW::new(vec![("w".into(), c.clone())], params).unwrap();
        for _ in 0..3 {
            fresh.backward_step(&loss(&c, &x)).unwrap();
        }
        assert_ne!(values(&a), values(&c));

        let other = Var::from_tensor(&Tensor::zeros((3, 2), DType::F32, &Device::Cpu).unwrap()).unwrap();
        let mut wrong_shape = AdamW::new(vec![("w".into(), other.clone())], params).unwrap();
        let e = wrong_shape.load(&path).unwrap_err().to_string();
        assert!(e.contains("m.w") && e.contains("[2, 2]") && e.contains("[3, 2]"), "{e}");
        let mut wrong_name = AdamW::new(vec![("u".into(), other)], params).unwrap();
        let e = wrong_name.load(&path).unwrap_err().to_string();
        assert!(e.contains("no m.u"), "{e}");
        std::fs::write(&path, b"not a safetensors file").unwrap();
        let e = resumed.load(&path).unwrap_err().to_string();
        assert!(e.contains("optimizer state") && e.contains("optimizer.safetensors"), "{e}");
        assert_eq!(resumed.steps(), 6, "a failed load leaves the optimizer as it was");
    }
}
