//! `heatscope ask --gsd-sweep` (the ScaleEarth spoofing test from the command line) and
//! `ask --tell-gsd M`: the question asked at log-spaced stated GSDs with the image's true GSD marked,
//! a table on stdout, the verdict on stderr and `--out FILE.csv|.json`. The sweep itself is
//! `backend::gsd_sweep`, shared with the app's GSD panel. Runs on the main thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use crate::backend::gsd_prompt::{GsdStatement, format_gsd};
use crate::backend::gsd_sweep::{self, Shape, SweepPoint, SweepRow};
use crate::backend::{ChatBackend, ChatRequest};

#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// Ask the question once per stated GSD, log-spaced from --sweep-min to --sweep-max, each time with
    /// "The ground sampling distance of this image is G m per pixel." before it; prints the answer and
    /// its mean token log-probability per GSD (needs an --image).
    #[arg(long)]
    pub gsd_sweep: bool,
    /// Smallest stated GSD, metres.
    #[arg(long, value_name = "M", default_value_t = gsd_sweep::DEFAULT_MIN_M, allow_negative_numbers = true, requires = "gsd_sweep")]
    pub sweep_min: f64,
    /// Largest stated GSD, metres.
    #[arg(long, value_name = "M", default_value_t = gsd_sweep::DEFAULT_MAX_M, allow_negative_numbers = true, requires = "gsd_sweep")]
    pub sweep_max: f64,
    /// How many log-spaced GSDs (2-200); the true GSD is added when it is not one of them.
    #[arg(long, value_name = "N", default_value_t = gsd_sweep::DEFAULT_POINTS, requires = "gsd_sweep")]
    pub sweep_points: usize,
    /// The image's true GSD in metres, marked in the sweep (default: its georeferencing, when it has one).
    #[arg(long, value_name = "M", allow_negative_numbers = true, requires = "gsd_sweep")]
    pub gsd: Option<f64>,
    /// Also write the sweep to FILE: .csv (gsd_m,is_true,answer,mean_logprob,tokens) or .json.
    #[arg(long, value_name = "FILE", requires = "gsd_sweep")]
    pub out: Option<PathBuf>,
}

/// A sweep ready to ask: its points, the true GSD and where it came from, the output file.
#[derive(Debug)]
pub struct Plan {
    points: Vec<SweepPoint>,
    truth: Option<(f64, String)>,
    out: Option<(PathBuf, Format)>,
}

#[derive(Clone, Copy, Debug)]
enum Format {
    Csv,
    Json,
}

/// Check the sweep's flags and find the true GSD (the first image's georeferencing unless --gsd).
pub fn plan(a: &SweepArgs, images: &[PathBuf]) -> anyhow::Result<Plan> {
    let grid = gsd_sweep::log_grid(a.sweep_min, a.sweep_max, a.sweep_points)
        .context("bad sweep (--sweep-min, --sweep-max, --sweep-points)")?;
    let Some(image) = images.first() else {
        anyhow::bail!("--gsd-sweep states the GSD of an image: give one with --image FILE");
    };
    let out = match &a.out {
        None => None,
        Some(path) => Some((path.clone(), format_of(path)?)),
    };
    let truth = match a.gsd {
        Some(m) => Some((m, "--gsd".to_string())),
        None => georeferenced_gsd(image)?,
    };
    let points = gsd_sweep::with_truth(&grid, truth.as_ref().map(|t| t.0)).context("bad true GSD (--gsd)")?;
    Ok(Plan { points, truth, out })
}

fn format_of(path: &Path) -> anyhow::Result<Format> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => Ok(Format::Csv),
        Some("json") => Ok(Format::Json),
        _ => anyhow::bail!("--out must end in .csv or .json, not {}", path.display()),
    }
}

/// The GSD an image's georeferencing gives, with the tag it came from (none for a plain picture or a
/// sky image).
fn georeferenced_gsd(image: &Path) -> anyhow::Result<Option<(f64, String)>> {
    let raster = crate::io::load(image, &crate::io::LoadOptions::default())
        .with_context(|| format!("reading the GSD of {}", image.display()))?;
    let resolved = crate::models::gsd::resolve(raster.meta.pixel_size.as_ref(), None, None, false);
    Ok(resolved.map(|r| (r.metres, r.source_text())))
}

/// The sentence `--tell-gsd M` puts before the question.
pub fn told(metres: f64) -> anyhow::Result<String> {
    if !(metres.is_finite() && metres > 0.0) {
        anyhow::bail!("--tell-gsd must be a positive number of metres, not {metres}");
    }
    Ok(GsdStatement::stated(metres).sentence())
}

/// Ask `request` at every point of `plan`; table to stdout, progress and verdict to stderr.
pub fn run(
    plan: &Plan,
    question: &str,
    backend: &dyn ChatBackend,
    bundled: bool,
    request: &ChatRequest,
) -> anyhow::Result<()> {
    let n = plan.points.len();
    match &plan.truth {
        Some((m, from)) => eprintln!("true GSD {} ({from}); {n} points", format_gsd(*m)),
        None => eprintln!("the image has no GSD of its own (give --gsd M to mark one); {n} points"),
    }
    println!("{:>10}  {:>4}  {:>12}  {:>6}  answer", "gsd_m", "true", "mean_logprob", "tokens");
    let rows = gsd_sweep::run(backend, request, &plan.points, &AtomicBool::new(false), &mut |_, r| {
        println!("{}", table_line(r));
    })?;
    let shape = Shape::of(&rows);
    eprintln!("{}: {}", backend.describe(), shape.describe());
    if bundled {
        eprintln!("note: {}", gsd_sweep::BUNDLED_NOTE);
    }
    if let Some((path, format)) = &plan.out {
        let text = match format {
            Format::Csv => gsd_sweep::to_csv(&rows),
            Format::Json => {
                let json = gsd_sweep::to_json(question, &backend.describe(), plan.truth.as_ref().map(|t| t.0), &rows);
                serde_json::to_string_pretty(&json)? + "\n"
            }
        };
        crate::io::atomic::write(path, text).with_context(|| format!("writing the sweep to {}", path.display()))?;
        eprintln!("wrote {} rows to {}", rows.len(), path.display());
    }
    Ok(())
}

/// One row of the stdout table: the answer on one line, cut at 60 characters (the files have it whole).
fn table_line(r: &SweepRow) -> String {
    let flat: String = r.answer.split_whitespace().collect::<Vec<_>>().join(" ");
    let answer =
        if flat.chars().count() > 60 { format!("{}…", flat.chars().take(59).collect::<String>()) } else { flat };
    format!(
        "{:>10}  {:>4}  {:>12}  {:>6}  {answer}",
        format!("{:.4}", r.gsd_m),
        if r.is_true { "*" } else { "" },
        r.mean_logprob.map_or_else(|| "n/a".to_string(), |l| format!("{l:.4}")),
        r.tokens.map_or_else(|| "n/a".to_string(), |t| t.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> SweepArgs {
        SweepArgs { gsd_sweep: true, sweep_min: 0.01, sweep_max: 1000.0, sweep_points: 11, gsd: Some(0.6), out: None }
    }

    #[test]
    fn a_sweep_needs_an_image_a_good_range_and_a_known_file_type() {
        let img = vec![PathBuf::from("no-such-file.tif")];
        let p = plan(&args(), &img).expect("--gsd given: the file is not read");
        assert_eq!(p.points.len(), 12);
        assert_eq!(p.truth.as_ref().map(|t| t.0), Some(0.6));
        let e = plan(&args(), &[]).expect_err("no image");
        assert!(e.to_string().contains("--image"), "{e}");
        let e = plan(&SweepArgs { sweep_min: 0.0, ..args() }, &img).expect_err("min 0");
        assert!(format!("{e:#}").contains("--sweep-min") && format!("{e:#}").contains("positive"), "{e:#}");
        let e = plan(&SweepArgs { out: Some("sweep.txt".into()), ..args() }, &img).expect_err("txt");
        assert!(e.to_string().contains(".csv or .json"), "{e}");
        assert!(plan(&SweepArgs { out: Some("s.JSON".into()), ..args() }, &img).is_ok());
        assert!(told(-1.0).is_err() && told(f64::NAN).is_err());
        assert_eq!(told(2.0).expect("2 m"), "The ground sampling distance of this image is 2 m per pixel.");
    }

    #[test]
    fn the_table_shows_missing_log_probs_as_n_a() {
        let r = SweepRow { gsd_m: 0.6, is_true: true, answer: "a\nb".into(), mean_logprob: None, tokens: None };
        let line = table_line(&r);
        assert!(line.contains("n/a") && line.contains('*') && line.ends_with("a b"), "{line}");
    }
}
