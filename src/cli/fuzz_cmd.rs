//! `heatscope fuzz`: mutants of real and built-in files through every loader (see `crate::fuzz`),
//! a line per format and a summary line `fuzz: mutants=N panics=P hangs=H over_budget=B`; exits
//! non-zero when anything panicked, hung or passed the memory budget. Runs on the main thread.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::fuzz::{Campaign, Target, parse_target, run_campaign};

#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// Formats to fuzz: all, or a comma-separated list of png, jpeg, tiff, npy, npz, fits, csv, jp2, dynspec.
    #[arg(long, default_value = "all")]
    pub format: String,
    /// Mutants per format.
    #[arg(long, default_value_t = 500)]
    pub mutants: usize,
    /// Random seed of the campaign (the same seed, seeds and build give the same mutants).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder of real files to seed from, searched recursively (e.g. ../shared/data/real); built-in
    /// seeds are always used.
    #[arg(long, value_name = "DIR")]
    pub seeds: Option<PathBuf>,
    /// Skip seed files larger than this many KiB.
    #[arg(long, default_value_t = 512)]
    pub max_seed_kib: u64,
    /// Memory budget of each load while fuzzing (a load may not grow the process past it).
    #[arg(long, default_value = "512M", value_parser = crate::io::parse_size)]
    pub budget: u64,
    /// Seconds one load may take before it counts as a hang.
    #[arg(long, default_value_t = 30)]
    pub timeout_s: u64,
    /// Where to save mutants that panic, hang or pass the budget.
    #[arg(long, value_name = "DIR", default_value = "fuzz-findings")]
    pub findings: PathBuf,
    /// Also save each format's slowest mutant and the one that grew memory most into --findings.
    #[arg(long)]
    pub keep_notable: bool,
}

pub fn run(a: &FuzzArgs) -> anyhow::Result<()> {
    let targets: Vec<Target> = if a.format.trim() == "all" {
        Target::ALL.to_vec()
    } else {
        a.format
            .split(',')
            .map(|f| parse_target(f).ok_or_else(|| anyhow::anyhow!("--format: unknown format {f:?}")))
            .collect::<anyhow::Result<_>>()?
    };
    if let Some(dir) = &a.seeds
        && !dir.is_dir()
    {
        bail!("--seeds: {} is not a folder", dir.display());
    }
    let campaign = Campaign {
        targets,
        mutants: a.mutants,
        seed: a.seed,
        seed_dir: a.seeds.clone(),
        max_seed_bytes: a.max_seed_kib * 1024,
        budget_bytes: a.budget,
        timeout: Duration::from_secs(a.timeout_s.max(1)),
        crash_dir: Some(a.findings.clone()),
        keep_notable: a.keep_notable,
    };
    let reports = run_campaign(&campaign, &mut |r| {
        let name = r.target.map_or("?", Target::name);
        let peak = r.max_peak_mib.map_or_else(|| "not measured".to_string(), |m| format!("+{m:.0} MiB"));
        #[allow(clippy::cast_precision_loss)]
        let rate = r.mutants as f64 / r.seconds.max(1e-9);
        println!(
            "{name}: {} mutants of {} seeds: {} panics, {} hangs, {} over budget; {} refused with an error, {} loaded; \
             largest peak {peak}; {:.1} s ({rate:.0}/s)",
            r.mutants,
            r.seeds,
            r.panics.len(),
            r.hangs.len(),
            r.over_budget.len(),
            r.refused,
            r.loaded,
            r.seconds
        );
        for line in r.panics.iter().chain(&r.hangs).chain(&r.over_budget) {
            println!("  {line}");
        }
    });
    let total = |f: fn(&crate::fuzz::TargetReport) -> usize| reports.iter().map(f).sum::<usize>();
    let (mutants, panics, hangs, over) =
        (total(|r| r.mutants), total(|r| r.panics.len()), total(|r| r.hangs.len()), total(|r| r.over_budget.len()));
    println!("fuzz: mutants={mutants} panics={panics} hangs={hangs} over_budget={over}");
    if panics + hangs + over > 0 {
        bail!("the loaders failed on {} mutants; they are saved in {}", panics + hangs + over, a.findings.display());
    }
    Ok(())
}
