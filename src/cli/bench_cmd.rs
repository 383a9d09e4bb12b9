//! `heatscope bench sim`: how fast scenes are generated (truth, observation, labels, questions; no
//! disk), per scenario and grid size, on one thread. Runs on the main thread.

use std::time::Instant;

use crate::sim::{Scenario, generate_scene};

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Scene generation speed on one thread.
    Sim(SimBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct SimBenchArgs {
    /// Grid sizes to time, comma-separated.
    #[arg(long, default_value = "128,256")]
    pub sizes: String,
    /// Scenes per scenario and size.
    #[arg(long, default_value_t = 20)]
    pub scenes: usize,
}

pub fn run(cmd: &BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Sim(a) => {
            let sizes: Vec<usize> = a
                .sizes
                .split(',')
                .map(|s| s.trim().parse::<usize>().map_err(|e| anyhow::anyhow!("--sizes: {s:?}: {e}")))
                .collect::<anyhow::Result<_>>()?;
            if a.scenes == 0 {
                anyhow::bail!("--scenes must be at least 1");
            }
            println!("scene generation, 1 thread, {} scenes per scenario and size", a.scenes);
            for &size in &sizes {
                if !(16..=2048).contains(&size) {
                    anyhow::bail!("size {size} is outside 16-2048");
                }
                let mut all = 0.0;
                for s in Scenario::ALL {
                    let t = Instant::now();
                    for i in 0..a.scenes {
                        std::hint::black_box(generate_scene(s, i, 0, size));
                    }
                    let el = t.elapsed().as_secs_f64();
                    all += el;
                    println!(
                        "  {size:4} px  {:13} {:7.1} ms/scene  {:6.1} scenes/s",
                        s.name(),
                        el * 1e3 / a.scenes as f64,
                        a.scenes as f64 / el
                    );
                }
                let n = (a.scenes * Scenario::ALL.len()) as f64;
                println!("  {size:4} px  {:13} {:7.1} ms/scene  {:6.1} scenes/s", "all", all * 1e3 / n, n / all);
            }
            Ok(())
        }
    }
}
