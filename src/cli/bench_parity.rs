//! `heatscope bench parity`: the committed reference fixtures run by the binary itself, on the device
//! it picks (a CUDA build on a GPU machine checks its GPU path with no Rust toolchain there): the
//! Qwen2-VL and Qwen3-VL fixtures in f32 (logits within 1e-4 of transformers', 32 identical greedy
//! tokens) and in f16/bf16 (the half-precision bounds), the imported-CNN fixtures (logits within 1e-5
//! of PyTorch's), and the bundled CNN on this device against the CPU. Exits non-zero when any fails.
//! The main thread.

use std::path::PathBuf;

use anyhow::Context;
use candle_core::{DType, Device};

use crate::models::cnn::CnnModel;
use crate::models::cnn::torchvision::{FIXTURE_TOLERANCE, check_fixture};
use crate::models::vlm::QwenVl;
use crate::models::vlm::parity::{FIXTURES, bounds, check_case};
use crate::sim::{Scenario, generate_scene};

#[derive(Debug, clap::Args)]
pub struct ParityArgs {
    /// The fixture folder of a heatscope checkout (holds vlm/ and torch_cnn/).
    #[arg(long, value_name = "DIR", default_value = "tests/fixtures")]
    pub fixtures: PathBuf,
    /// VLM precisions to check, e.g. f32,f16,bf16 (default: f32 on the CPU, all three on a GPU).
    #[arg(long)]
    pub dtypes: Option<String>,
}

fn dtype_named(s: &str) -> anyhow::Result<DType> {
    match s.trim() {
        "f32" => Ok(DType::F32),
        "f16" => Ok(DType::F16),
        "bf16" => Ok(DType::BF16),
        other => anyhow::bail!("--dtypes: {other:?} is not f32, f16 or bf16"),
    }
}

pub fn run(a: &ParityArgs) -> anyhow::Result<()> {
    let device = crate::models::compute_device();
    let dtypes: Vec<DType> = match &a.dtypes {
        Some(list) => list.split(',').map(dtype_named).collect::<anyhow::Result<_>>()?,
        None if device.device.is_cpu() => vec![DType::F32],
        None => vec![DType::F32, DType::F16, DType::BF16],
    };
    let vlm = a.fixtures.join("vlm");
    if !vlm.is_dir() {
        anyhow::bail!("{} is not a folder: run from a heatscope checkout or pass --fixtures", vlm.display());
    }
    println!("parity on {}{}", device.label, device.fallback_reason.map(|r| format!(" ({r})")).unwrap_or_default());
    let mut failed = 0usize;
    let mut checked = 0usize;
    let mut verdict = |ok: bool| {
        checked += 1;
        if !ok {
            failed += 1;
        }
        if ok { "ok" } else { "FAIL" }
    };
    for &dtype in &dtypes {
        for (folder, cases) in FIXTURES {
            let model = QwenVl::load(&vlm.join(folder), dtype, &device.device)
                .with_context(|| format!("loading {}", vlm.join(folder).display()))?;
            for case in cases {
                let r = check_case(&model, &vlm, folder, case, dtype == DType::F32)
                    .with_context(|| format!("{folder}/{case} in {dtype:?}"))?;
                let greedy = match r.greedy_ok {
                    Some(true) => "greedy 32/32 same",
                    Some(false) => "greedy DIFFERS",
                    None => "",
                };
                println!(
                    "  vlm {folder:15} {case:18} {:5} {:4} tokens  logit err {:.1e} (<= {:.0e})  top token {}/{}  {greedy:18} {}",
                    format!("{dtype:?}").to_lowercase(),
                    r.prompt_tokens,
                    r.logit_error,
                    bounds(dtype).0,
                    r.top_agree.0,
                    r.top_agree.1,
                    verdict(r.passes(dtype))
                );
            }
        }
    }
    for name in ["basic", "bottleneck"] {
        let dir = a.fixtures.join("torch_cnn").join(name);
        let cases = check_fixture(&dir, &device.device).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        for (k, c) in cases.iter().enumerate() {
            let ok = c.logit_error <= FIXTURE_TOLERANCE && c.box_error.is_none_or(|e| e <= FIXTURE_TOLERANCE);
            let bbox = c.box_error.map(|e| format!("  box err {e:.1e}")).unwrap_or_default();
            println!(
                "  imported cnn {name:10} case {k}  logit err {:.1e} (<= {FIXTURE_TOLERANCE:.0e}){bbox}  {}",
                c.logit_error,
                verdict(ok)
            );
        }
    }
    // The bundled CNN: this device against the CPU on generated scenes (no reference framework).
    if device.device.is_cpu() {
        println!("  bundled cnn: runs on the CPU here (nothing to compare against)");
    } else {
        let scenes: Vec<Vec<f32>> =
            (0..16).map(|i| generate_scene(Scenario::ALL[i % 3], i, 5, 128).observation.in_db).collect();
        let grids: Vec<&[f32]> = scenes.iter().map(Vec::as_slice).collect();
        let here = CnnModel::bundled(&device.device)?.read_grids(&grids, 128)?;
        let cpu = CnnModel::bundled(&Device::Cpu)?.read_grids(&grids, 128)?;
        let worst = here
            .iter()
            .zip(&cpu)
            .flat_map(|(a, b)| a.probs.iter().zip(&b.probs).chain(a.mask.iter().zip(&b.mask)))
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        let same = here.iter().zip(&cpu).filter(|(a, b)| a.severity == b.severity).count();
        println!(
            "  bundled cnn 16 scenes: max |p_gpu - p_cpu| {worst:.1e} (<= 1e-4), same class {same}/16  {}",
            verdict(worst <= 1e-4 && same == 16)
        );
    }
    println!("{} of {checked} checks passed", checked - failed);
    if failed > 0 {
        anyhow::bail!("{failed} parity checks failed");
    }
    Ok(())
}
