//! Qwen2-VL configuration read from a model folder's `config.json`, in either layout transformers has
//! written: the published one (text keys at the top level, `rope_scaling: {type: mrope}`, vision
//! `in_chans`) and the nested one of transformers 5 (`text_config`, `rope_parameters`). Every value the
//! engine depends on is checked here, so a model we cannot run fails at load with the key that is wrong.
//! Pure data; runs wherever the model is loaded (a worker or the CLI).

use serde_json::Value;

use super::VlmError;

/// The language model's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    /// Rotary frequencies given to the temporal, height and width positions; sums to head_dim / 2.
    pub mrope_section: Vec<usize>,
    pub tie_word_embeddings: bool,
}

/// The vision tower's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct VisionConfig {
    pub depth: usize,
    pub embed_dim: usize,
    /// Width of the merged tokens handed to the language model (= its hidden size).
    pub out_dim: usize,
    pub num_heads: usize,
    pub mlp_hidden: usize,
    pub in_channels: usize,
    pub patch_size: usize,
    pub temporal_patch_size: usize,
    pub spatial_merge_size: usize,
    pub act: Activation,
    pub rope_theta: f64,
}

/// Activations the vision MLP may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    QuickGelu,
    Gelu,
    Silu,
}

/// Everything `config.json` says about a Qwen2-VL model.
#[derive(Clone, Debug, PartialEq)]
pub struct Qwen2VlConfig {
    pub text: TextConfig,
    pub vision: VisionConfig,
    pub image_token_id: u32,
    pub vision_start_token_id: u32,
    pub vision_end_token_id: u32,
    pub eos_token_ids: Vec<u32>,
}

/// Reads typed values out of a JSON object and names the key when one is missing or wrong.
struct Keys<'a> {
    obj: &'a Value,
    prefix: &'static str,
}

impl Keys<'_> {
    fn raw(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }
    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
    fn usize(&self, key: &str) -> Result<usize, VlmError> {
        let v = self.raw(key).ok_or_else(|| VlmError::config(self.name(key), "missing"))?;
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| VlmError::config(self.name(key), format!("expected a non-negative integer, found {v}")))
    }
    fn usize_or(&self, key: &str, default: usize) -> Result<usize, VlmError> {
        if self.raw(key).is_some() { self.usize(key) } else { Ok(default) }
    }
    fn f64_or(&self, key: &str, default: f64) -> Result<f64, VlmError> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => {
                v.as_f64().ok_or_else(|| VlmError::config(self.name(key), format!("expected a number, found {v}")))
            }
        }
    }
    fn bool_or(&self, key: &str, default: bool) -> Result<bool, VlmError> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| VlmError::config(self.name(key), format!("expected true or false, found {v}"))),
        }
    }
    fn str_or<'b>(&'b self, key: &str, default: &'b str) -> Result<&'b str, VlmError> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => {
                v.as_str().ok_or_else(|| VlmError::config(self.name(key), format!("expected a string, found {v}")))
            }
        }
    }
    fn token(&self, key: &str) -> Result<u32, VlmError> {
        let n = self.usize(key)?;
        u32::try_from(n).map_err(|_| VlmError::config(self.name(key), format!("token id {n} is out of range")))
    }
}

impl Qwen2VlConfig {
    /// Parse and check `config.json` text.
    pub fn from_json(text: &str) -> Result<Self, VlmError> {
        let root: Value = serde_json::from_str(text).map_err(|e| VlmError::config("config.json", e.to_string()))?;
        let top = Keys { obj: &root, prefix: "" };
        let model_type = top.str_or("model_type", "qwen2_vl")?;
        if model_type != "qwen2_vl" {
            return Err(VlmError::unsupported(
                "model_type",
                model_type,
                "this loader reads Qwen2-VL (model_type \"qwen2_vl\")",
            ));
        }
        // transformers 5 nests the text keys; the published checkpoints keep them at the top level.
        let text_obj = root.get("text_config").filter(|v| v.is_object()).unwrap_or(&root);
        let text_keys = Keys { obj: text_obj, prefix: if text_obj == &root { "" } else { "text_config." } };
        let text = parse_text(&text_keys, &top)?;
        let vision_obj = root
            .get("vision_config")
            .filter(|v| v.is_object())
            .ok_or_else(|| VlmError::config("vision_config", "missing"))?;
        let vision = parse_vision(&Keys { obj: vision_obj, prefix: "vision_config." }, text.hidden_size)?;

        let mut eos_token_ids = Vec::new();
        for source in [text_obj, &root] {
            match source.get("eos_token_id") {
                Some(Value::Number(n)) => eos_token_ids.extend(n.as_u64().and_then(|n| u32::try_from(n).ok())),
                Some(Value::Array(list)) => {
                    eos_token_ids.extend(list.iter().filter_map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok())));
                }
                _ => {}
            }
        }
        eos_token_ids.sort_unstable();
        eos_token_ids.dedup();
        let config = Self {
            text,
            vision,
            image_token_id: top.token("image_token_id")?,
            vision_start_token_id: top.token("vision_start_token_id")?,
            vision_end_token_id: top.token("vision_end_token_id")?,
            eos_token_ids,
        };
        for (key, id) in [
            ("image_token_id", config.image_token_id),
            ("vision_start_token_id", config.vision_start_token_id),
            ("vision_end_token_id", config.vision_end_token_id),
        ] {
            if id as usize >= config.text.vocab_size {
                return Err(VlmError::config(
                    key,
                    format!("token id {id} is outside the vocabulary of {}", config.text.vocab_size),
                ));
            }
        }
        Ok(config)
    }
}

fn parse_text(k: &Keys<'_>, top: &Keys<'_>) -> Result<TextConfig, VlmError> {
    let hidden_size = k.usize("hidden_size")?;
    let num_attention_heads = k.usize("num_attention_heads")?;
    let num_key_value_heads = k.usize_or("num_key_value_heads", num_attention_heads)?;
    if num_attention_heads == 0 || hidden_size % num_attention_heads != 0 {
        return Err(VlmError::config(
            k.name("num_attention_heads"),
            format!("{num_attention_heads} heads do not divide hidden_size {hidden_size}"),
        ));
    }
    if num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
        return Err(VlmError::config(
            k.name("num_key_value_heads"),
            format!("{num_key_value_heads} key/value heads do not divide {num_attention_heads} attention heads"),
        ));
    }
    let head_dim = hidden_size / num_attention_heads;
    let act = k.str_or("hidden_act", "silu")?;
    if act != "silu" {
        return Err(VlmError::unsupported(k.name("hidden_act"), act, "the Qwen2 decoder MLP uses silu"));
    }
    if k.bool_or("use_sliding_window", false)? {
        return Err(VlmError::unsupported(
            k.name("use_sliding_window"),
            "true",
            "sliding-window attention is not implemented; Qwen2-VL checkpoints ship with it off",
        ));
    }
    // Rotary settings: `rope_parameters` (transformers 5) or `rope_scaling` + `rope_theta` (published).
    let rope = k.raw("rope_parameters").or_else(|| k.raw("rope_scaling")).or_else(|| top.raw("rope_scaling"));
    let rope_keys = rope.map(|obj| Keys { obj, prefix: "rope_scaling." });
    if let Some(r) = &rope_keys {
        let kind = r.str_or("rope_type", r.str_or("type", "default")?)?;
        if !matches!(kind, "default" | "mrope") {
            return Err(VlmError::unsupported(
                "rope_scaling.type",
                kind,
                "only the plain multimodal rotary embedding (mrope) is implemented",
            ));
        }
    }
    let rope_theta = match &rope_keys {
        Some(r) if r.raw("rope_theta").is_some() => r.f64_or("rope_theta", 10_000.0)?,
        _ => k.f64_or("rope_theta", top.f64_or("rope_theta", 1_000_000.0)?)?,
    };
    let mrope_section: Vec<usize> = rope_keys
        .as_ref()
        .and_then(|r| r.raw("mrope_section"))
        .map(|v| {
            v.as_array()
                .map(|a| a.iter().filter_map(|x| x.as_u64().and_then(|n| usize::try_from(n).ok())).collect())
                .unwrap_or_default()
        })
        .unwrap_or_else(|| vec![16, 24, 24]);
    if mrope_section.len() != 3 || mrope_section.iter().sum::<usize>() * 2 != head_dim {
        return Err(VlmError::config(
            "rope_scaling.mrope_section",
            format!("{mrope_section:?} must be three numbers summing to head_dim / 2 = {}", head_dim / 2),
        ));
    }
    let tie = k.bool_or("tie_word_embeddings", top.bool_or("tie_word_embeddings", false)?)?
        || top.bool_or("tie_word_embeddings", false)?;
    Ok(TextConfig {
        vocab_size: k.usize("vocab_size")?,
        hidden_size,
        intermediate_size: k.usize("intermediate_size")?,
        num_hidden_layers: k.usize("num_hidden_layers")?,
        num_attention_heads,
        num_key_value_heads,
        head_dim,
        rms_norm_eps: k.f64_or("rms_norm_eps", 1e-6)?,
        rope_theta,
        mrope_section,
        tie_word_embeddings: tie,
    })
}

fn parse_vision(k: &Keys<'_>, text_hidden: usize) -> Result<VisionConfig, VlmError> {
    let embed_dim = k.usize("embed_dim")?;
    let num_heads = k.usize_or("num_heads", k.usize_or("num_attention_heads", 16)?)?;
    if num_heads == 0 || embed_dim % num_heads != 0 || (embed_dim / num_heads) % 4 != 0 {
        return Err(VlmError::config(
            k.name("num_heads"),
            format!("{num_heads} heads must divide embed_dim {embed_dim} into heads whose size is a multiple of 4"),
        ));
    }
    let mlp_ratio = k.f64_or("mlp_ratio", 4.0)?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let mlp_hidden = (embed_dim as f64 * mlp_ratio) as usize;
    let act = match k.str_or("hidden_act", "quick_gelu")? {
        "quick_gelu" => Activation::QuickGelu,
        "gelu" => Activation::Gelu,
        "silu" => Activation::Silu,
        other => {
            return Err(VlmError::unsupported(k.name("hidden_act"), other, "expected quick_gelu, gelu or silu"));
        }
    };
    let out_dim = k.usize_or("hidden_size", text_hidden)?;
    if out_dim != text_hidden {
        return Err(VlmError::config(
            k.name("hidden_size"),
            format!("the merger's output width {out_dim} differs from the language model's hidden size {text_hidden}"),
        ));
    }
    let rope_theta =
        k.raw("rope_parameters").map_or(Ok(10_000.0), |obj| Keys { obj, prefix: "" }.f64_or("rope_theta", 10_000.0))?;
    let patch_size = k.usize_or("patch_size", 14)?;
    let spatial_merge_size = k.usize_or("spatial_merge_size", 2)?;
    let temporal_patch_size = k.usize_or("temporal_patch_size", 2)?;
    for (key, v) in [
        ("patch_size", patch_size),
        ("spatial_merge_size", spatial_merge_size),
        ("temporal_patch_size", temporal_patch_size),
    ] {
        if v == 0 {
            return Err(VlmError::config(k.name(key), "must be at least 1"));
        }
    }
    Ok(VisionConfig {
        depth: k.usize("depth")?,
        embed_dim,
        out_dim,
        num_heads,
        mlp_hidden,
        in_channels: k.usize_or("in_chans", k.usize_or("in_channels", 3)?)?,
        patch_size,
        temporal_patch_size,
        spatial_merge_size,
        act,
        rope_theta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested() -> Value {
        serde_json::json!({
            "model_type": "qwen2_vl", "image_token_id": 5, "vision_start_token_id": 3, "vision_end_token_id": 4,
            "tie_word_embeddings": false,
            "text_config": {"vocab_size": 10, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                "num_attention_heads": 2, "num_key_value_heads": 1, "eos_token_id": 2,
                "rope_parameters": {"rope_type": "default", "mrope_section": [1, 1, 2], "rope_theta": 500.0}},
            "vision_config": {"depth": 1, "embed_dim": 8, "num_heads": 2, "hidden_size": 16}
        })
    }

    #[test]
    fn nested_layout_parses() {
        let c = Qwen2VlConfig::from_json(&nested().to_string()).expect("parses");
        assert_eq!(c.text.head_dim, 8);
        assert!((c.text.rope_theta - 500.0).abs() < 1e-9);
        assert_eq!(c.text.mrope_section, vec![1, 1, 2]);
        assert_eq!(c.eos_token_ids, vec![2]);
        assert_eq!(c.vision.mlp_hidden, 32);
        assert_eq!(c.vision.act, Activation::QuickGelu);
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut v = nested();
        v["text_config"]["rope_parameters"]["mrope_section"] = serde_json::json!([1, 1, 1]);
        let e = Qwen2VlConfig::from_json(&v.to_string()).expect_err("bad section").to_string();
        assert!(e.contains("mrope_section") && e.contains("head_dim / 2 = 4"), "{e}");

        let mut v = nested();
        v["text_config"]["use_sliding_window"] = serde_json::json!(true);
        let e = Qwen2VlConfig::from_json(&v.to_string()).expect_err("sliding").to_string();
        assert!(e.contains("use_sliding_window"), "{e}");

        let mut v = nested();
        v["model_type"] = serde_json::json!("llava");
        let e = Qwen2VlConfig::from_json(&v.to_string()).expect_err("type").to_string();
        assert!(e.contains("model_type") && e.contains("llava"), "{e}");

        let mut v = nested();
        v["text_config"].as_object_mut().expect("object").remove("hidden_size");
        let e = Qwen2VlConfig::from_json(&v.to_string()).expect_err("missing").to_string();
        assert!(e.contains("text_config.hidden_size") && e.contains("missing"), "{e}");

        let mut v = nested();
        v["image_token_id"] = serde_json::json!(99);
        let e = Qwen2VlConfig::from_json(&v.to_string()).expect_err("token").to_string();
        assert!(e.contains("image_token_id") && e.contains("vocabulary"), "{e}");
    }
}
