//! `train vlm --init DIR --mlp N`: a smaller model to fine-tune, cut from a trained one. Each decoder
//! layer keeps the N units of its gated MLP with the largest weights (the product of the unit's gate,
//! up and down vector norms: a unit whose three vectors are small adds little to the residual stream);
//! everything else is copied as it is. Fine-tuning then recovers what the cut units did.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};
use candle_core::{DType, Device, Tensor};

/// Write `init`'s weights with each decoder MLP cut to its `units` strongest units to `out`'s
/// model.safetensors and set `intermediate_size` in `out`'s config.json (copied from `init` before).
/// Returns the MLP width before the cut.
pub(super) fn cut_mlp(init: &Path, out: &Path, units: usize) -> anyhow::Result<usize> {
    let src = init.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&src, &Device::Cpu)
        .with_context(|| format!("--mlp: reading {}", src.display()))?;
    let prefixes: Vec<String> = tensors
        .keys()
        .filter(|k| k.contains("language_model") || k.starts_with("model.layers."))
        .filter_map(|k| k.strip_suffix("mlp.gate_proj.weight").map(str::to_string))
        .collect();
    if prefixes.is_empty() {
        bail!("--mlp: {} has no decoder MLP weights (mlp.gate_proj)", src.display());
    }
    let mut before = 0;
    for p in &prefixes {
        let get = |name: &str, t: &HashMap<String, Tensor>| -> anyhow::Result<Tensor> {
            let key = format!("{p}mlp.{name}.weight");
            t.get(&key).cloned().with_context(|| format!("--mlp: {} has no {key}", src.display()))
        };
        let (gate, up, down) = (get("gate_proj", &tensors)?, get("up_proj", &tensors)?, get("down_proj", &tensors)?);
        let width = gate.dim(0)?;
        before = width;
        if units == 0 || units >= width {
            bail!("--mlp {units}: must be between 1 and the model's MLP width minus one ({})", width - 1);
        }
        let keep = Tensor::new(strongest(&gate, &up, &down, units)?.as_slice(), &Device::Cpu)?;
        tensors.insert(format!("{p}mlp.gate_proj.weight"), gate.index_select(&keep, 0)?);
        tensors.insert(format!("{p}mlp.up_proj.weight"), up.index_select(&keep, 0)?);
        tensors.insert(format!("{p}mlp.down_proj.weight"), down.index_select(&keep, 1)?.contiguous()?);
    }
    crate::io::atomic::replace(&out.join("model.safetensors"), |tmp| {
        candle_core::safetensors::save(&tensors, tmp).map_err(std::io::Error::other)
    })?;
    super::marks::edit_config(out, |config| {
        let text_config = if config.get("text_config").is_some() { &mut config["text_config"] } else { config };
        text_config["intermediate_size"] = serde_json::json!(units);
    })?;
    Ok(before)
}

/// Indices (ascending) of the `n` units with the largest |gate_j| |up_j| |down_j|: rows of the
/// `[width, hidden]` gate and up projections, columns of the `[hidden, width]` down projection.
fn strongest(gate: &Tensor, up: &Tensor, down: &Tensor, n: usize) -> anyhow::Result<Vec<u32>> {
    let norm = |t: &Tensor, dim: usize| -> candle_core::Result<Vec<f32>> {
        t.to_dtype(DType::F32)?.sqr()?.sum(dim)?.sqrt()?.to_vec1::<f32>()
    };
    let (g, u, d) = (norm(gate, 1)?, norm(up, 1)?, norm(down, 0)?);
    if g.len() != u.len() || g.len() != d.len() {
        bail!("--mlp: gate, up and down projections disagree on the MLP width ({}, {}, {})", g.len(), u.len(), d.len());
    }
    let mut order: Vec<usize> = (0..g.len()).collect();
    order.sort_by(|&a, &b| (g[b] * u[b] * d[b]).total_cmp(&(g[a] * u[a] * d[a])));
    let mut keep: Vec<u32> = order[..n].iter().map(|&j| u32::try_from(j).unwrap_or(u32::MAX)).collect();
    keep.sort_unstable();
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_units_with_the_largest_weight_products_are_kept_in_order() {
        // Four units over a hidden size of 2: unit 2 is strongest, then 0; unit 3 is large in gate and
        // up but its down column is zero, so it adds nothing and goes.
        let gate = Tensor::new(&[[1f32, 0.0], [0.1, 0.0], [2.0, 0.0], [5.0, 5.0]], &Device::Cpu).unwrap();
        let up = gate.clone();
        let down = Tensor::new(&[[1f32, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        assert_eq!(strongest(&gate, &up, &down, 2).unwrap(), vec![0, 2]);
        let bad = Tensor::new(&[[1f32, 1.0, 1.0], [0.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        assert!(strongest(&gate, &up, &bad, 2).unwrap_err().to_string().contains("disagree"));
    }

    #[test]
    fn a_cut_folder_keeps_the_chosen_slices_and_states_its_width() {
        let dir = std::env::temp_dir().join(format!("hs-cut-mlp-{}", std::process::id()));
        let (init, out) = (dir.join("init"), dir.join("out"));
        std::fs::create_dir_all(&init).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        let gate = Tensor::new(&[[3f32, 0.0, 0.0], [0.1, 0.0, 0.0], [2.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        let down = Tensor::new(&[[1f32, 1.0, 1.0], [2.0, 2.0, 2.0], [0.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        let p = "model.language_model.layers.0.mlp.";
        let mut t = HashMap::new();
        t.insert(format!("{p}gate_proj.weight"), gate.clone());
        t.insert(format!("{p}up_proj.weight"), gate);
        t.insert(format!("{p}down_proj.weight"), down);
        t.insert(
            "model.visual.blocks.0.mlp.linear_fc1.weight".to_string(),
            Tensor::new(&[[1f32, 2.0, 3.0]], &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&t, init.join("model.safetensors")).unwrap();
        std::fs::write(out.join("config.json"), r#"{"text_config": {"intermediate_size": 3}}"#).unwrap();

        assert_eq!(cut_mlp(&init, &out, 2).unwrap(), 3);
        let got = candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).unwrap();
        let rows: Vec<Vec<f32>> = got[&format!("{p}gate_proj.weight")].to_vec2().unwrap();
        assert_eq!(rows, vec![vec![3.0, 0.0, 0.0], vec![2.0, 0.0, 0.0]], "units 0 and 2, in order");
        let cols: Vec<Vec<f32>> = got[&format!("{p}down_proj.weight")].to_vec2().unwrap();
        assert_eq!(cols, vec![vec![1.0, 1.0], vec![2.0, 2.0], vec![0.0, 0.0]]);
        let fc1: Vec<Vec<f32>> = got["model.visual.blocks.0.mlp.linear_fc1.weight"].to_vec2().unwrap();
        assert_eq!(fc1, vec![vec![1.0, 2.0, 3.0]], "the vision tower is copied as it is");
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["text_config"]["intermediate_size"], 2);

        let err = cut_mlp(&init, &out, 3).unwrap_err().to_string();
        assert!(err.contains("between 1 and") && err.contains("(2)"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
