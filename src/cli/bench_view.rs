//! `heatscope bench eval-view`: the error analysis under load, in the real app window. Builds (once,
//! kept in --dir) a SpectrumQA-sim dataset with a 600-scene test split, a 100,000-question dataset
//! made of its questions repeated under new ids (sharing its scene files), and a rule-baseline run
//! over the large one; then opens the app on that run with the error analysis showing and plays
//! `app::view_bench`'s script (open, idle, scroll, filters, a CNN run streaming in), and prints each
//! figure on its own line. The CLI's own questions/s for the same CNN run comes last.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};

use crate::app::view_bench::{ViewBenchConfig, ViewBenchReport, quantile};

#[derive(Debug, clap::Args)]
pub struct EvalViewBenchArgs {
    /// Folder the fixtures are made in and kept (datasets, runs); made again only when missing.
    #[arg(long, default_value = "target/bench-eval-view")]
    pub dir: PathBuf,
    /// Questions in the large run.
    #[arg(long, default_value_t = 100_000)]
    pub questions: usize,
    /// Frames measured idle and while scrolling.
    #[arg(long, default_value_t = 300)]
    pub frames: usize,
    /// Test scenes the streamed CNN run answers (0: no streaming phase).
    #[arg(long, default_value_t = 600)]
    pub stream_scenes: usize,
    /// The streamed run's CPU share (the app's slider); default: one core's worth of this machine.
    #[arg(long)]
    pub cpu_share: Option<f64>,
    /// Longest the streaming phase is measured (the run is cancelled then).
    #[arg(long, default_value_t = 180.0)]
    pub stream_seconds: f64,
}

/// Run this executable with `args`, failing with its output when it fails.
fn heatscope(args: &[&str]) -> anyhow::Result<std::process::Output> {
    let exe = std::env::current_exe().context("cannot find the heatscope executable")?;
    let out = Command::new(&exe).args(args).output().with_context(|| format!("cannot run {}", exe.display()))?;
    if !out.status.success() {
        bail!("heatscope {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(out)
}

/// Scenes per scenario whose test split (3 of every 20) holds `test` scenes.
fn scenes_for_test(test: usize) -> usize {
    let (mut n, mut count) = (0, 0);
    while count < test {
        if crate::sim::split_of(n) == crate::types::Split::Test {
            count += 1;
        }
        n += 1;
    }
    n
}

/// The large dataset: the small one's questions repeated under new ids (`<id>~<k>`, scene
/// `<scene>~<k>`) until there are `questions`, its `scenes/` a link to the small one's.
fn large_dataset(small: &Path, large: &Path, questions: usize) -> anyhow::Result<()> {
    let records = crate::eval::read_manifest(&small.join("manifest.jsonl"))?;
    if records.is_empty() {
        bail!("{} has no questions", small.display());
    }
    std::fs::create_dir_all(large)?;
    let mut text = String::new();
    for i in 0..questions {
        let k = i / records.len();
        let mut r = records[i % records.len()].clone();
        r.id = format!("{}~{k}", r.id);
        r.scene = format!("{}~{k}", r.scene);
        text += &serde_json::to_string(&r)?;
        text.push('\n');
    }
    let scenes = large.join("scenes");
    if !scenes.exists() {
        let target = std::path::absolute(small.join("scenes"))?;
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, &scenes).context("cannot link the scenes folder")?;
        #[cfg(not(unix))]
        bail!("the benchmark's fixture needs a symbolic link ({}), made on Unix only", target.display());
    }
    std::fs::copy(small.join("dataset.json"), large.join("dataset.json"))?;
    crate::io::atomic::write(&large.join("manifest.jsonl"), text)?;
    Ok(())
}

pub fn run(a: &EvalViewBenchArgs) -> anyhow::Result<()> {
    let small = a.dir.join("stream");
    let large = a.dir.join(format!("large-{}", a.questions));
    let run = a.dir.join(format!("large-{}-run", a.questions));
    let per_scenario = scenes_for_test(a.stream_scenes.max(40) / 3);
    if !small.join("manifest.jsonl").is_file() {
        eprintln!("making the dataset ({per_scenario} scenes per scenario) in {}", small.display());
        let n = per_scenario.to_string();
        let out = small.display().to_string();
        heatscope(&["data", "spectrum", "--scenes", &n, "--out", &out, "--force"])?;
    }
    if !large.join("manifest.jsonl").is_file() {
        eprintln!("making the {}-question dataset in {}", a.questions, large.display());
        large_dataset(&small, &large, a.questions)?;
    }
    if !run.join("summary.json").is_file() {
        eprintln!("running the rule baseline over it into {}", run.display());
        let (d, r) = (large.display().to_string(), run.display().to_string());
        heatscope(&["eval", "--dataset", &d, "--model", "rule", "--run", &r])?;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let cpu_share = a.cpu_share.unwrap_or(1.0 / cores as f64);
    let config = ViewBenchConfig {
        run: std::path::absolute(&run)?,
        frames: a.frames.max(20),
        stream: (a.stream_scenes > 0)
            .then(|| (std::path::absolute(&small).unwrap_or(small.clone()), a.dir.join("stream-run"))),
        cpu_share,
        stream_seconds: a.stream_seconds,
    };
    let report = Arc::new(Mutex::new(ViewBenchReport::default()));
    let options = crate::app::AppOptions { view_bench: Some((config, report.clone())), ..Default::default() };
    crate::app::run(Vec::new(), options)?;
    let r = report.lock().map_err(|_| anyhow::anyhow!("the benchmark's report was poisoned"))?.clone();
    if let Some(why) = &r.error {
        bail!("the benchmark stopped: {why}");
    }
    if !r.done {
        bail!("the window closed before the benchmark finished");
    }
    let idle = quantile(&r.idle, 0.99);
    let scroll = quantile(&r.scroll, 0.99);
    println!("questions={}", r.rows);
    println!("idle_p99_frame_ms={idle:.2}");
    println!("scroll_p99_frame_ms={scroll:.2}");
    println!("scroll_vs_idle={:.2}", scroll / idle.max(1e-9));
    let open_idle = quantile(&r.open_idle, 0.99);
    println!("open_idle_p99_frame_ms={open_idle:.2}");
    println!("scroll_vs_open_idle={:.2}", scroll / open_idle.max(1e-9));
    println!("idle_p99_update_ms={:.2}", quantile(&r.idle_update, 0.99));
    println!("open_idle_p99_update_ms={:.2}", quantile(&r.open_idle_update, 0.99));
    println!("scroll_p99_update_ms={:.2}", quantile(&r.scroll_update, 0.99));
    println!("scrolled_px={:.0}", r.scrolled_px);
    // A filter change is on screen at the end of the frame that applied it.
    let filter = r.filters.iter().map(|f| f.frame_ms).fold(0.0, f64::max);
    println!("filter_ms={filter:.1}");
    println!("filter_update_ms={:.1}", r.filters.iter().map(|f| f.update_ms).fold(0.0, f64::max));
    for f in &r.filters {
        eprintln!(
            "  filter {}: {} rows listed, {:.1} ms in the app's update, {:.1} ms for the frame",
            f.what, f.rows, f.update_ms, f.frame_ms
        );
    }
    println!("open_ms={:.0}", r.open_ms.unwrap_or(f64::NAN));
    eprintln!(
        "  opening: the run read at {:.0} ms, its dataset at {:.0} ms, every row listed at {:.0} ms",
        r.run_read_ms.unwrap_or(f64::NAN),
        r.dataset_read_ms.unwrap_or(f64::NAN),
        r.open_ms.unwrap_or(f64::NAN)
    );
    println!("open_max_update_ms={:.0}", r.open_max_update_ms);
    if a.stream_scenes > 0 {
        let stream = quantile(&r.stream, 0.99);
        println!("stream_p99_frame_ms={stream:.2}");
        println!("stream_vs_idle={:.2}", stream / idle.max(1e-9));
        println!("stream_p99_update_ms={:.2}", quantile(&r.stream_update, 0.99));
        let rate = r.stream_questions as f64 / r.stream_seconds.max(1e-9);
        println!("stream_questions_per_s={rate:.1}");
        eprintln!(
            "  streamed {} questions in {:.1} s at a CPU share of {cpu_share:.2}",
            r.stream_questions, r.stream_seconds
        );
        // The CLI's pace for the same run (all cores, nothing else on screen).
        let start = std::time::Instant::now();
        let out = heatscope(&["eval", "--dataset", &small.display().to_string(), "--model", "cnn", "--split", "test"])?;
        let secs = start.elapsed().as_secs_f64();
        match cli_rate(&String::from_utf8_lossy(&out.stderr)) {
            Some(rate) => println!("cli_questions_per_s={rate:.1}"),
            None => println!("cli_questions_per_s=nan (its progress line was not found; it took {secs:.1} s)"),
        }
    }
    Ok(())
}

/// The questions/s of the CLI run's last progress line ("N/M questions, R/s, …").
fn cli_rate(stderr: &str) -> Option<f64> {
    stderr.split('\r').rev().find_map(|line| {
        let rest = line.split(" questions, ").nth(1)?;
        rest.split("/s").next()?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_test_split_and_the_cli_pace_are_read_right() {
        // 3 of every 20 scenes are test: 200 per scenario from 1339 scenes (66 whole cycles + 2).
        assert_eq!(super::scenes_for_test(200), 1339);
        assert_eq!(super::scenes_for_test(1), 18);
        let stderr = "cnn answers 10 questions\r5/10 questions, 40.5/s, about 1 s left   \r10/10 questions, 52.25/s, about 0 s left   \n";
        assert_eq!(super::cli_rate(stderr), Some(52.25));
        assert_eq!(super::cli_rate("no progress"), None);
    }
}
