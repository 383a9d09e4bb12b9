//! The CNN's training targets and loss: batches of [`Example`]s as tensors, and the multi-task loss
//! (L1 cross-entropy, L3 objectness BCE and corner L1 on scenes with a region, L2 affected BCE and
//! 95th-percentile smooth L1, exceedance-mask BCE against each cell's exceeding share). Runs on the
//! trainer's thread.

use candle_core::{D, DType, Device, Result, Tensor};

use super::data::Example;
use super::resnet::CnnOutput;

/// Region levels are regressed in units of this many dB.
pub const LEVEL_UNIT_DB: f32 = 10.0;

/// A batch on the model's device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// (batch, 1, input, input)
    pub x: Tensor,
    /// (batch,) u32 class indices.
    pub severity: Tensor,
    /// (batch,) 1 where the scene has an L3 region.
    pub has_box: Tensor,
    /// (batch, 4) reference corners [x0, y0, x1, y1] (zeros where there is none).
    pub corners: Tensor,
    /// (batch, regions) 0/1.
    pub region_affected: Tensor,
    /// (batch, regions) 95th percentile / [`LEVEL_UNIT_DB`].
    pub region_level: Tensor,
    /// (batch, mask_side, mask_side) exceeding share of each cell.
    pub mask: Tensor,
}

/// Stack examples into tensors; the mask target is built at `mask_side` cells a side (the network's
/// [`super::CnnConfig::mask_side`]).
pub fn make_batch(examples: &[&Example], mask_side: usize, device: &Device) -> Result<Batch> {
    let b = examples.len();
    let n = examples.first().map_or(0, |e| e.input);
    let mut x = Vec::with_capacity(b * n * n);
    let (mut sev, mut has, mut corners, mut aff, mut lev) = (vec![], vec![], vec![], vec![], vec![]);
    let mut mask = Vec::with_capacity(b * mask_side * mask_side);
    for e in examples {
        if e.input != n {
            candle_core::bail!("examples of one batch must share the input size ({} vs {n})", e.input);
        }
        x.extend_from_slice(&e.grid);
        sev.push(e.severity as u32);
        has.push(if e.bbox.is_some() { 1f32 } else { 0.0 });
        corners.extend_from_slice(&e.bbox.unwrap_or([0.0; 4]));
        aff.extend(e.region_affected.iter().map(|&a| if a { 1f32 } else { 0.0 }));
        lev.extend(e.region_p95_db.iter().map(|&v| v / LEVEL_UNIT_DB));
        mask.extend(e.mask_target(mask_side));
    }
    Ok(Batch {
        x: Tensor::from_vec(x, (b, 1, n, n), device)?,
        severity: Tensor::from_vec(sev, b, device)?,
        has_box: Tensor::from_vec(has, b, device)?,
        corners: Tensor::from_vec(corners, (b, 4), device)?,
        region_affected: Tensor::from_vec(aff, (b, 5), device)?,
        region_level: Tensor::from_vec(lev, (b, 5), device)?,
        mask: Tensor::from_vec(mask, (b, mask_side, mask_side), device)?,
    })
}

/// Numerically stable binary cross-entropy on logits, mean over all elements:
/// max(x, 0) - x t + log(1 + exp(-|x|)).
pub fn bce_with_logits(x: &Tensor, t: &Tensor) -> Result<Tensor> {
    let softplus = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((x.relu()? - (x * t)?)? + softplus)?.mean_all()
}

/// Predicted corners from the box head's (cx, cy, w, h) in [0, 1].
pub fn corners(bbox: &Tensor) -> Result<Tensor> {
    let c = bbox.narrow(1, 0, 2)?;
    let half = (bbox.narrow(1, 2, 2)? * 0.5)?;
    Tensor::cat(&[(&c - &half)?, (&c + &half)?], 1)
}

/// The parts of the loss, for progress reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossParts {
    pub total: f32,
    pub severity: f32,
    pub objectness: f32,
    pub bbox: f32,
    pub regions: f32,
    pub level: f32,
    pub mask: f32,
}

/// The multi-task loss (equal weights; the box term is averaged over scenes that have a region).
pub fn loss(out: &CnnOutput, b: &Batch) -> Result<(Tensor, LossParts)> {
    let severity = candle_nn::loss::cross_entropy(&out.severity, &b.severity)?;
    let objectness = bce_with_logits(&out.objectness, &b.has_box)?;
    let positives = b.has_box.sum_all()?.to_dtype(DType::F32)?.maximum(1.0)?;
    let l1 = (corners(&out.bbox)? - &b.corners)?.abs()?.sum(D::Minus1)?;
    let bbox = (l1 * &b.has_box)?.sum_all()?.div(&positives)?;
    let regions = bce_with_logits(&out.region_affected, &b.region_affected)?;
    let diff = (&out.region_level - &b.region_level)?;
    // Smooth L1 with beta 1.
    let ad = diff.abs()?;
    let small = ad.lt(1.0)?.to_dtype(DType::F32)?;
    let smooth = ((&small * (diff.sqr()? * 0.5)?)? + ((1.0 - &small)? * (ad - 0.5)?)?)?;
    let level = smooth.mean_all()?;
    if out.mask.dims() != b.mask.dims() {
        candle_core::bail!("mask output {:?} vs target {:?}", out.mask.dims(), b.mask.dims());
    }
    let mask = bce_with_logits(&out.mask, &b.mask)?;
    let total = (((((&severity + &objectness)? + &bbox)? + &regions)? + &level)? + &mask)?;
    let v = |t: &Tensor| t.to_scalar::<f32>();
    let parts = LossParts {
        total: v(&total)?,
        severity: v(&severity)?,
        objectness: v(&objectness)?,
        bbox: v(&bbox)?,
        regions: v(&regions)?,
        level: v(&level)?,
        mask: v(&mask)?,
    };
    Ok((total, parts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::cnn::data::observed_examples;
    use crate::models::cnn::{CnnConfig, SpectrumResNet};
    use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};

    #[test]
    fn stable_bce_matches_the_formula_and_survives_huge_logits() -> Result<()> {
        let d = Device::Cpu;
        let x = Tensor::new(&[0f32, 2.0, -3.0, 80.0, -80.0], &d)?;
        let t = Tensor::new(&[1f32, 0.0, 1.0, 1.0, 0.0], &d)?;
        let got = bce_with_logits(&x, &t)?.to_scalar::<f32>()?;
        let by_hand: f32 = [(0f32, 1f32), (2.0, 0.0), (-3.0, 1.0), (80.0, 1.0), (-80.0, 0.0)]
            .iter()
            .map(|&(x, t)| {
                let p = 1.0 / (1.0 + (-x as f64).exp());
                let p = p.clamp(1e-30, 1.0 - 1e-16);
                (-(t as f64) * p.ln() - (1.0 - t as f64) * (1.0 - p).ln()) as f32
            })
            .sum::<f32>()
            / 5.0;
        assert!(got.is_finite() && (got - by_hand).abs() < 1e-4, "{got} vs {by_hand}");
        Ok(())
    }

    #[test]
    fn a_few_adamw_steps_fit_one_batch() -> Result<()> {
        let d = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &d);
        let cfg = CnnConfig { width: 8, blocks: [1, 1, 1, 1], input: 32, stem_stride: 2, ..CnnConfig::default() };
        let net = SpectrumResNet::new(&cfg, vb)?;
        let ex = observed_examples(0..12);
        let refs: Vec<&Example> = ex.iter().collect();
        let batch = make_batch(&refs, cfg.mask_side(), &d)?;
        let mut opt = AdamW::new(vm.all_vars(), ParamsAdamW { lr: 3e-3, weight_decay: 0.0, ..Default::default() })?;
        let (_, first) = loss(&net.forward_t(&batch.x, true)?, &batch)?;
        let mut last = first;
        for _ in 0..40 {
            let (l, parts) = loss(&net.forward_t(&batch.x, true)?, &batch)?;
            opt.backward_step(&l)?;
            last = parts;
        }
        assert!(first.total.is_finite() && last.total < 0.5 * first.total, "{first:?} -> {last:?}");
        assert!(last.severity < first.severity && last.bbox < first.bbox, "{first:?} -> {last:?}");
        assert!(last.mask < first.mask, "{first:?} -> {last:?}");
        Ok(())
    }
}
