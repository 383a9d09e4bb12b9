//! `heatscope route-report --runs CNN_RUN VLM_RUN RULE_RUN --out DIR`: what routing is worth on the
//! runs' split, from the single models' answers: every policy's composite, VLM share and model time;
//! the composite as routing errors are injected (0-30 %, several seeds, 95 % spread), with the
//! router's own error rates marked; the cascade's cost-quality curve with APGR. Tables on stdout; CSV
//! and SVG in --out. Main thread.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;

use crate::app::failures::figures::{Curve, curves_svg};
use crate::eval::route_analysis::{Analysis, apgr, spread};
use crate::eval::route_table::ModelRun;
use crate::models::router::policy::Policy;

#[derive(Debug, clap::Args)]
pub struct RouteReportArgs {
    /// Runs of the single models (cnn, vlm and optionally rule; one each) on one split of one dataset.
    #[arg(long, value_name = "DIR", num_args = 1.., required = true)]
    pub runs: Vec<PathBuf>,
    /// The runs' dataset folder (default: the one their summary names).
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<PathBuf>,
    /// The router folder (default the bundled models/router).
    #[arg(long, value_name = "DIR")]
    pub router: Option<PathBuf>,
    /// Seeds per injected error rate.
    #[arg(long, default_value_t = 20)]
    pub seeds: u64,
    /// Largest injected routing error rate.
    #[arg(long, default_value_t = 0.30)]
    pub max_error: f64,
    /// The cascade's threshold for the policy table.
    #[arg(long, default_value_t = 0.5)]
    pub cascade_threshold: f64,
    /// Labelled free-form questions whose routing error rate is marked on the curve. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub freeform: Vec<PathBuf>,
    /// Folder for policies.csv, sensitivity.csv/.svg and cascade.csv/.svg.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(a: &RouteReportArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&a.max_error) || a.seeds == 0 {
        anyhow::bail!("--max-error must be between 0 and 1 and --seeds at least 1");
    }
    let router = super::route_cmd::load_router(a.router.as_ref())?;
    let runs = a.runs.iter().map(|d| crate::eval::route_table::read_run(d)).collect::<Result<Vec<_>, _>>()?;
    crate::eval::route_table::check_runs(&runs)?;
    for need in ["cnn", "vlm"] {
        if !runs.iter().any(|r| r.0.model == need) {
            anyhow::bail!("--runs needs a run of the {need}");
        }
    }
    let dataset = a.dataset.clone().unwrap_or_else(|| runs[0].2.clone());
    let records = crate::eval::read_manifest(&dataset.join("manifest.jsonl"))
        .with_context(|| format!("reading the runs' dataset {} (pass --dataset DIR if it moved)", dataset.display()))?;
    let lines: Vec<ModelRun> = runs.into_iter().map(|r| r.0).collect();
    let has_rule = lines.iter().any(|m| m.model == "rule");
    // The questions every run was asked or could have been (the CNN is not asked L4): those of the VLM run.
    let asked: std::collections::HashSet<&String> =
        lines.iter().filter(|m| m.model == "vlm").flat_map(|m| m.lines.keys()).collect();
    let chosen: Vec<&crate::types::QaRecord> = records.iter().filter(|r| asked.contains(&r.id)).collect();
    if chosen.is_empty() {
        anyhow::bail!("the VLM run answers no question of {}", dataset.display());
    }
    let analysis = Analysis::new(&router, chosen, lines);
    let mut csv = String::from("policy,composite,vlm_share,ms_per_question,total_s\n");
    println!(
        "{} questions; the router's kind error rate on them {:.4}",
        analysis.records.len(),
        analysis.route_error_rate()
    );
    println!("{:<16} {:>9} {:>9} {:>12} {:>10}", "policy", "composite", "VLM share", "ms/question", "total s");
    let mut results = Vec::new();
    for p in Policy::ALL {
        if p == Policy::RuleOnly && !has_rule {
            continue;
        }
        let r = analysis.policy(p, a.cascade_threshold);
        println!(
            "{:<16} {:>9.4} {:>9.3} {:>12.2} {:>10.1}",
            r.name, r.composite, r.vlm_share, r.ms_per_question, r.total_s
        );
        let _ =
            writeln!(csv, "{},{:.6},{:.6},{:.4},{:.3}", r.name, r.composite, r.vlm_share, r.ms_per_question, r.total_s);
        results.push(r);
    }

    // The referee's curve.
    let steps = 12usize;
    let mut sens_csv = String::from("mapping,error_rate,composite_mean,composite_lo,composite_hi\n");
    let mut curves = Vec::new();
    println!("composite with injected routing errors (mean [2.5 %, 97.5 %] over {} seeds):", a.seeds);
    for (best, name, colour) in
        [(false, "paper mapping (L1/L3 CNN, L2/L4 VLM)", [31, 119, 180]), (true, "best-on-val table", [214, 39, 40])]
    {
        let mut points = Vec::new();
        for k in 0..=steps {
            #[allow(clippy::cast_precision_loss)]
            let rate = a.max_error * k as f64 / steps as f64;
            let mut v: Vec<f64> = (0..a.seeds).map(|s| analysis.with_errors(best, rate, s)).collect();
            let (m, lo, hi) = spread(&mut v);
            println!("  {name:<38} {:>5.1} %  {m:.4} [{lo:.4}, {hi:.4}]", rate * 100.0);
            let _ =
                writeln!(sens_csv, "{},{rate:.4},{m:.6},{lo:.6},{hi:.6}", if best { "best-on-val" } else { "paper" });
            points.push((rate, m, lo, hi));
        }
        curves.push(Curve { name: name.into(), colour, points });
    }
    let mut marks = vec![(
        analysis.route_error_rate(),
        format!("router on these questions: {:.1} %", analysis.route_error_rate() * 100.0),
    )];
    for f in &a.freeform {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let items = crate::models::router::train::read_labelled(&f.display().to_string(), &text)?;
        let s = crate::models::router::train::score(&router, &items);
        let rate = 1.0 - s.kind_accuracy;
        let name = f.file_name().map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into_owned());
        println!("  the router's kind error rate on {name}: {:.1} %", rate * 100.0);
        marks.push((rate, format!("router on {name}: {:.1} %", rate * 100.0)));
    }

    // The cascade's cost-quality curve.
    let mut casc_csv = String::from("threshold,vlm_share,composite,ms_per_question\n");
    let mut pts = Vec::new();
    println!("cascade: threshold, share of questions to the VLM, composite");
    for k in 0..=20 {
        let t = f64::from(k) / 20.0;
        let r = analysis.policy(Policy::Cascade, t);
        println!("  {t:.2}  {:.3}  {:.4}", r.vlm_share, r.composite);
        let _ = writeln!(casc_csv, "{t:.2},{:.6},{:.6},{:.4}", r.vlm_share, r.composite, r.ms_per_question);
        pts.push((r.vlm_share, r.composite));
    }
    pts.sort_by(|x, y| x.0.total_cmp(&y.0));
    let weak = results.iter().find(|r| r.name == "cnn-only").map_or(f64::NAN, |r| r.composite);
    let strong = results.iter().find(|r| r.name == "vlm-only").map_or(f64::NAN, |r| r.composite);
    let g = apgr(&pts, weak, strong);
    println!(
        "APGR {g:.3} (weak: cnn-only {weak:.4}, strong: vlm-only {strong:.4}; over VLM shares {:.3}-{:.3})",
        pts[0].0,
        pts[pts.len() - 1].0
    );

    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let write = |name: &str, text: &str| {
            crate::io::atomic::write(&out.join(name), text.as_bytes()).with_context(|| format!("writing {name}"))
        };
        write("policies.csv", &csv)?;
        write("sensitivity.csv", &sens_csv)?;
        write("cascade.csv", &casc_csv)?;
        let plot = |name: &str, svg: String| -> anyhow::Result<()> {
            write(&format!("{name}.svg"), &svg)?;
            let png = crate::app::failures::figures::png(&svg, 2.0).map_err(anyhow::Error::msg)?;
            crate::io::atomic::write(&out.join(format!("{name}.png")), png)
                .with_context(|| format!("writing {name}.png"))
        };
        let title = "Composite vs injected routing error";
        plot("sensitivity", curves_svg(title, "routing error rate", "composite", a.max_error, &curves, &marks))?;
        let cascade_curve = Curve {
            name: format!("cascade (APGR {g:.2})"),
            colour: [44, 160, 44],
            points: pts.iter().map(|p| (p.0, p.1, p.1, p.1)).collect(),
        };
        let title = "Cascade: composite vs share sent to the VLM";
        // The other policies where they sit: their share sent to the VLM, with their composite.
        let others: Vec<(f64, String)> = results
            .iter()
            .filter(|r| matches!(r.name.as_str(), "oracle" | "best-on-val" | "cnn-only"))
            .map(|r| (r.vlm_share, format!("{} {:.3}", r.name, r.composite)))
            .collect();
        let x = "questions answered by the VLM";
        plot("cascade", curves_svg(title, x, "composite", 1.0, &[cascade_curve], &others))?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
