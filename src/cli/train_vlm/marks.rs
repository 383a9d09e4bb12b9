//! heatscope's own marks in a trained VLM's folder: the question-first layout and the one scenario it
//! was trained on, each a key in config.json that the engine reads (and the chat template other
//! runtimes render with).

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use crate::models::vlm::chat::jinja_template;
use crate::models::vlm::config::{QUESTION_FIRST_KEY, TRAINED_ON_KEY};

/// Change `out`'s config.json with `edit` (read, edited, written atomically).
pub(super) fn edit_config(out: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> anyhow::Result<()> {
    let path = out.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut config: serde_json::Value = serde_json::from_str(&text)?;
    edit(&mut config);
    crate::io::atomic::write(&path, serde_json::to_string_pretty(&config)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Set `key` to `value` in `out`'s config.json.
fn set_config_key(out: &Path, key: &str, value: serde_json::Value) -> anyhow::Result<()> {
    edit_config(out, |config| config[key] = value)
}

/// Record in `out`'s config.json the one scenario the model is trained on.
pub(super) fn mark_trained_on(out: &Path, scenario: &str) -> anyhow::Result<()> {
    set_config_key(out, TRAINED_ON_KEY, json!(scenario))
}

/// Mark the model folder `out` as asked with the question first: the config key the engine reads and
/// the chat template other runtimes (transformers, vLLM) render with.
pub(super) fn mark_question_first(out: &Path) -> anyhow::Result<()> {
    let path = out.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let family = crate::models::vlm::QwenVlConfig::from_json(&text)?.family;
    set_config_key(out, QUESTION_FIRST_KEY, json!(true))?;
    crate::io::atomic::write(&out.join("chat_template.jinja"), jinja_template(family, true))?;
    Ok(())
}
