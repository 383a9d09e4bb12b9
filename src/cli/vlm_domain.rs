//! `heatscope train vlm-domain`: fit a VLM folder's image domain check (`domain.json`): the mean of
//! each image's vision tokens on the rendered maps of datasets' train scenes (mean and covariance) and
//! val scenes (the limit). The local engine then says, before it answers, whether an image is the
//! kind it was trained on. Main thread.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::models::cnn::DomainModel;
use crate::types::{QuestionKind, Split};

#[derive(Debug, clap::Args)]
pub struct VlmDomainArgs {
    /// The VLM folder (as published); domain.json is written into it.
    #[arg(long)]
    pub model_dir: PathBuf,
    /// The datasets whose rendered maps are in domain, and the limit's quantile.
    #[command(flatten)]
    pub maps: super::cnn_cmd::InDomain,
    /// Use at most this many train scenes per dataset (the features of each image take a vision pass).
    #[arg(long, default_value_t = 1500)]
    pub max_train: usize,
}

pub fn run(a: &VlmDomainArgs) -> anyhow::Result<()> {
    if !(0.5..1.0).contains(&a.maps.quantile) {
        bail!("--quantile {} must be in [0.5, 1)", a.maps.quantile);
    }
    let device = crate::models::compute_device().device;
    let model = crate::models::vlm::QwenVl::load(&a.model_dir, candle_core::DType::F32, &device)
        .with_context(|| format!("cannot load the VLM from {}", a.model_dir.display()))?;
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for d in &a.maps.dataset {
        let records = crate::eval::read_manifest(&d.join("manifest.jsonl"))
            .with_context(|| format!("cannot read the dataset {}", d.display()))?;
        let mut taken = 0;
        for r in records.iter().filter(|r| r.kind == QuestionKind::Severity) {
            let path = d.join(&r.images.png);
            match r.split {
                Split::Train if taken < a.max_train => {
                    taken += 1;
                    train.push(path);
                }
                Split::Val => val.push(path),
                _ => {}
            }
        }
    }
    let (min_train, min_val) = super::cnn_cmd::MIN_DOMAIN_MAPS;
    if train.len() < min_train || val.len() < min_val {
        bail!(
            "{} train and {} val maps; the domain check needs at least {min_train} and {min_val}",
            train.len(),
            val.len()
        );
    }
    let features = |paths: &[PathBuf], what: &str| -> anyhow::Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(paths.len());
        for (k, p) in paths.iter().enumerate() {
            let img = crate::io::read_rgb(p, &crate::io::LoadOptions::default())?;
            out.push(model.image_features(&img)?);
            if k % 100 == 99 {
                eprint!("\r{what}: {}/{}   ", k + 1, paths.len());
            }
        }
        eprintln!();
        Ok(out)
    };
    let domain = DomainModel::fit(
        &features(&train, "train maps")?,
        &features(&val, "val maps")?,
        a.maps.quantile,
        super::cnn_cmd::DOMAIN_SHRINKAGE,
    )
    .map_err(anyhow::Error::msg)?;
    super::cnn_cmd::write_domain(&a.model_dir, &domain)
}
