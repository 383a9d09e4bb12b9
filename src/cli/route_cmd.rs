//! `heatscope route [QUESTION...]`: what the router reads in each question (or each line of stdin)
//! and where `--policy` would send it: exactly one JSON object per question, in order, on stdout.
//! Main thread.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;

use crate::models::router::Router;
use crate::models::router::policy::{OnAbstain, Policy, decide};

#[derive(Debug, clap::Args)]
pub struct RouteArgs {
    /// Questions to route; none: one question per line of stdin (an empty line is routed too, so
    /// output lines match input lines).
    pub questions: Vec<String>,
    /// The router folder (config.json, model.safetensors); default the bundled models/router.
    #[arg(long, value_name = "DIR")]
    pub router: Option<PathBuf>,
    /// oracle, learned, best-on-val, cascade, cnn-only, vlm-only or rule-only (oracle needs a
    /// dataset's level, so it is refused here).
    #[arg(long, default_value = "best-on-val")]
    pub policy: String,
    /// What an abstention does: vlm (the VLM answers) or ask (nobody answers; "model" is null).
    #[arg(long, default_value = "vlm")]
    pub on_abstain: String,
    /// The cascade hands a question to the VLM when the CNN's confidence is below this.
    #[arg(long, default_value_t = 0.5)]
    pub cascade_threshold: f64,
}

/// The router these flags name.
pub fn load_router(dir: Option<&PathBuf>) -> anyhow::Result<Router> {
    match dir {
        Some(d) => Router::load(d).with_context(|| format!("loading the router from {}", d.display())),
        None => Router::bundled().context("loading the bundled router"),
    }
}

/// One question's JSON line.
fn line(
    router: &Router,
    policy: Policy,
    on_abstain: OnAbstain,
    threshold: f64,
    question: &str,
) -> anyhow::Result<String> {
    let route = router.route(question);
    let decision = decide(policy, &router.config, &route, None, on_abstain, threshold).map_err(anyhow::Error::msg)?;
    let value = serde_json::json!({
        "level": route.level,
        "kind": route.kind,
        "regions": route.regions,
        "confidence": (f64::from(route.confidence) * 1e4).round() / 1e4,
        "abstained": route.abstained,
        "model": decision.model,
        "why": decision.why,
    });
    Ok(serde_json::to_string(&value)?)
}

pub fn run(a: &RouteArgs) -> anyhow::Result<()> {
    let policy = Policy::parse(&a.policy).map_err(|e| anyhow::anyhow!("--policy: {e}"))?;
    if policy == Policy::Oracle {
        anyhow::bail!(
            "--policy oracle reads the dataset's level, which a typed question does not have; use it with `heatscope eval --model router`"
        );
    }
    let on_abstain = OnAbstain::parse(&a.on_abstain).map_err(|e| anyhow::anyhow!("--on-abstain: {e}"))?;
    if !(0.0..=1.0).contains(&a.cascade_threshold) {
        anyhow::bail!("--cascade-threshold must be between 0 and 1");
    }
    let router = load_router(a.router.as_ref())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut emit = |q: &str| -> anyhow::Result<()> {
        writeln!(out, "{}", line(&router, policy, on_abstain, a.cascade_threshold, q)?)?;
        Ok(())
    };
    if a.questions.is_empty() {
        let stdin = std::io::stdin();
        let mut reader = stdin.lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf).context("reading stdin")? == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&buf);
            emit(text.trim_end_matches(['\n', '\r']))?;
        }
    } else {
        for q in &a.questions {
            emit(q)?;
        }
    }
    Ok(())
}
