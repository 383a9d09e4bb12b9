//! Qwen2-VL and Qwen3-VL configuration read from a model folder's `config.json`, in the layouts
//! transformers has written: Qwen2-VL's published one (text keys at the top level, `rope_scaling: {type:
//! mrope}`, vision `in_chans`) and the nested one of transformers 5 (`text_config`, `rope_parameters`);
//! Qwen3-VL's (nested, explicit `head_dim`, q/k norms, interleaved M-RoPE, learned vision positions,
//! deepstack). Every value the engine depends on is checked here, so a model we cannot run fails at
//! load with the key that is wrong.
//! Pure data; runs wherever the model is loaded (a worker or the CLI).

use serde_json::Value;

use super::VlmError;

/// Which architecture a folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Qwen2Vl,
    Qwen3Vl,
}

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
    /// Qwen3-VL interleaves the axes over frequencies (t, h, w, t, h, w, ...); Qwen2-VL uses blocks.
    pub mrope_interleaved: bool,
    pub tie_word_embeddings: bool,
    /// Biases on q/k/v (Qwen2: yes, o_proj never); Qwen3's `attention_bias` covers all four.
    pub qkv_bias: bool,
    pub o_bias: bool,
    /// Per-head RMS norm on queries and keys (Qwen3).
    pub qk_norm: bool,
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
    /// The patch embedding has a bias (Qwen3).
    pub patch_bias: bool,
    /// Learned position embeddings on a square grid of this many cells, interpolated to each image (Qwen3).
    pub position_embeddings: Option<usize>,
    /// Blocks after which a merger's output is added to the decoder's early layers (Qwen3 deepstack).
    pub deepstack: Vec<usize>,
    pub family: Family,
}

/// Activations the vision MLP may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    QuickGelu,
    Gelu,
    /// GELU with the tanh approximation (`gelu_pytorch_tanh`).
    GeluTanh,
    Silu,
}

/// Everything `config.json` says about a Qwen-VL model.
#[derive(Clone, Debug, PartialEq)]
pub struct QwenVlConfig {
    pub family: Family,
    pub text: TextConfig,
    pub vision: VisionConfig,
    pub image_token_id: u32,
    pub vision_start_token_id: u32,
    pub vision_end_token_id: u32,
    pub eos_token_ids: Vec<u32>,
    /// heatscope's own key `heatscope_question_first`: the model was trained with each user turn's text
    /// before its images, so prompts are laid out that way (see [`super::chat::question_first`]).
    /// Published checkpoints do not have it: images first, as users write them.
    pub question_first: bool,
    /// heatscope's own key `heatscope_trained_on`: the one scenario the model was trained on.
    pub trained_on: Option<String>,
}

/// Token ids of a value that is one id or a list of ids (how `eos_token_id` is written); others: none.
pub(super) fn token_ids(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()).into_iter().collect(),
        Some(Value::Array(list)) => {
            list.iter().filter_map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok())).collect()
        }
        _ => Vec::new(),
    }
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

/// The `config.json` key that marks a model trained with the question before the map.
pub const QUESTION_FIRST_KEY: &str = "heatscope_question_first";

/// heatscope's key for the one scenario a model was trained on (`train vlm --scenario`).
pub const TRAINED_ON_KEY: &str = "heatscope_trained_on";

impl QwenVlConfig {
    /// Parse and check `config.json` text.
    pub fn from_json(text: &str) -> Result<Self, VlmError> {
        let root: Value = serde_json::from_str(text).map_err(|e| VlmError::config("config.json", e.to_string()))?;
        let top = Keys { obj: &root, prefix: "" };
        let family = match top.str_or("model_type", "qwen2_vl")? {
            "qwen2_vl" => Family::Qwen2Vl,
            "qwen3_vl" => Family::Qwen3Vl,
            other => {
                return Err(VlmError::unsupported(
                    "model_type",
                    other,
                    "this engine runs Qwen2-VL (\"qwen2_vl\") and Qwen3-VL (\"qwen3_vl\")",
                ));
            }
        };
        // transformers 5 nests the text keys; the published checkpoints keep them at the top level.
        let text_obj = root.get("text_config").filter(|v| v.is_object()).unwrap_or(&root);
        let text_keys = Keys { obj: text_obj, prefix: if text_obj == &root { "" } else { "text_config." } };
        let text = parse_text(&text_keys, &top, family)?;
        let vision_obj = root
            .get("vision_config")
            .filter(|v| v.is_object())
            .ok_or_else(|| VlmError::config("vision_config", "missing"))?;
        let vision = parse_vision(&Keys { obj: vision_obj, prefix: "vision_config." }, text.hidden_size, family)?;
        if let Some(&last) = vision.deepstack.iter().max()
            && (last >= vision.depth || vision.deepstack.len() > text.num_hidden_layers)
        {
            return Err(VlmError::config(
                "vision_config.deepstack_visual_indexes",
                format!(
                    "{:?} must name blocks below depth {} and be no more than the {} decoder layers",
                    vision.deepstack, vision.depth, text.num_hidden_layers
                ),
            ));
        }

        let mut eos_token_ids = token_ids(text_obj.get("eos_token_id"));
        eos_token_ids.extend(token_ids(root.get("eos_token_id")));
        eos_token_ids.sort_unstable();
        eos_token_ids.dedup();
        let config = Self {
            family,
            text,
            vision,
            image_token_id: top.token("image_token_id")?,
            vision_start_token_id: top.token("vision_start_token_id")?,
            vision_end_token_id: top.token("vision_end_token_id")?,
            eos_token_ids,
            question_first: top.bool_or(QUESTION_FIRST_KEY, false)?,
            trained_on: match top.str_or(TRAINED_ON_KEY, "")? {
                "" => None,
                s => Some(s.to_string()),
            },
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

fn parse_text(k: &Keys<'_>, top: &Keys<'_>, family: Family) -> Result<TextConfig, VlmError> {
    let hidden_size = k.usize("hidden_size")?;
    let num_attention_heads = k.usize("num_attention_heads")?;
    let num_key_value_heads = k.usize_or("num_key_value_heads", num_attention_heads)?;
    if num_attention_heads == 0 || (family == Family::Qwen2Vl && hidden_size % num_attention_heads != 0) {
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
    let head_dim = k.usize_or("head_dim", hidden_size / num_attention_heads)?;
    if head_dim == 0 || head_dim % 2 != 0 {
        return Err(VlmError::config(k.name("head_dim"), format!("{head_dim} must be even and positive")));
    }
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
        .unwrap_or_else(|| if family == Family::Qwen2Vl { vec![16, 24, 24] } else { vec![24, 20, 20] });
    let mrope_interleaved = match &rope_keys {
        Some(r) => r.bool_or("mrope_interleaved", family == Family::Qwen3Vl)?,
        None => family == Family::Qwen3Vl,
    };
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
        mrope_interleaved,
        tie_word_embeddings: tie,
        qkv_bias: family == Family::Qwen2Vl || k.bool_or("attention_bias", false)?,
        o_bias: family == Family::Qwen3Vl && k.bool_or("attention_bias", false)?,
        qk_norm: family == Family::Qwen3Vl,
    })
}

fn parse_vision(k: &Keys<'_>, text_hidden: usize, family: Family) -> Result<VisionConfig, VlmError> {
    let qwen3 = family == Family::Qwen3Vl;
    // Qwen2-VL calls the tower's width embed_dim and its output hidden_size; Qwen3-VL hidden_size and
    // out_hidden_size.
    let (width_key, out_key) = if qwen3 { ("hidden_size", "out_hidden_size") } else { ("embed_dim", "hidden_size") };
    let embed_dim = k.usize(width_key)?;
    let num_heads = k.usize_or("num_heads", k.usize_or("num_attention_heads", 16)?)?;
    if num_heads == 0 || embed_dim % num_heads != 0 || (embed_dim / num_heads) % 4 != 0 {
        return Err(VlmError::config(
            k.name("num_heads"),
            format!("{num_heads} heads must divide {width_key} {embed_dim} into heads whose size is a multiple of 4"),
        ));
    }
    let mlp_hidden = if qwen3 {
        k.usize("intermediate_size")?
    } else {
        let mlp_ratio = k.f64_or("mlp_ratio", 4.0)?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let h = (embed_dim as f64 * mlp_ratio) as usize;
        h
    };
    let act = match k.str_or("hidden_act", if qwen3 { "gelu_pytorch_tanh" } else { "quick_gelu" })? {
        "quick_gelu" => Activation::QuickGelu,
        "gelu" => Activation::Gelu,
        "gelu_pytorch_tanh" => Activation::GeluTanh,
        "silu" => Activation::Silu,
        other => {
            return Err(VlmError::unsupported(
                k.name("hidden_act"),
                other,
                "expected quick_gelu, gelu, gelu_pytorch_tanh or silu",
            ));
        }
    };
    let out_dim = k.usize_or(out_key, text_hidden)?;
    if out_dim != text_hidden {
        return Err(VlmError::config(
            k.name(out_key),
            format!("the merger's output width {out_dim} differs from the language model's hidden size {text_hidden}"),
        ));
    }
    let rope_theta =
        k.raw("rope_parameters").map_or(Ok(10_000.0), |obj| Keys { obj, prefix: "" }.f64_or("rope_theta", 10_000.0))?;
    let patch_size = k.usize_or("patch_size", if qwen3 { 16 } else { 14 })?;
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
    let position_embeddings = if qwen3 {
        let n = k.usize_or("num_position_embeddings", 2304)?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let side = (n as f64).sqrt().round() as usize;
        if n == 0 || side * side != n {
            return Err(VlmError::config(k.name("num_position_embeddings"), format!("{n} is not a square grid")));
        }
        Some(n)
    } else {
        None
    };
    let deepstack = match k.raw("deepstack_visual_indexes") {
        None => Vec::new(),
        Some(v) => v
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_u64().and_then(|n| usize::try_from(n).ok())).collect())
            .ok_or_else(|| VlmError::config(k.name("deepstack_visual_indexes"), "must be a list of block indexes"))?,
    };
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
        patch_bias: qwen3,
        position_embeddings,
        deepstack,
        family,
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
        let c = QwenVlConfig::from_json(&nested().to_string()).expect("parses");
        assert_eq!(c.text.head_dim, 8);
        assert!((c.text.rope_theta - 500.0).abs() < 1e-9);
        assert_eq!(c.text.mrope_section, vec![1, 1, 2]);
        assert_eq!(c.eos_token_ids, vec![2]);
        assert_eq!(c.vision.mlp_hidden, 32);
        assert_eq!(c.vision.act, Activation::QuickGelu);
        assert!(!c.question_first, "published layouts ask with the image first");
        let mut v = nested();
        v[QUESTION_FIRST_KEY] = serde_json::json!(true);
        assert!(QwenVlConfig::from_json(&v.to_string()).expect("parses").question_first);
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut v = nested();
        v["text_config"]["rope_parameters"]["mrope_section"] = serde_json::json!([1, 1, 1]);
        let e = QwenVlConfig::from_json(&v.to_string()).expect_err("bad section").to_string();
        assert!(e.contains("mrope_section") && e.contains("head_dim / 2 = 4"), "{e}");

        let mut v = nested();
        v["text_config"]["use_sliding_window"] = serde_json::json!(true);
        let e = QwenVlConfig::from_json(&v.to_string()).expect_err("sliding").to_string();
        assert!(e.contains("use_sliding_window"), "{e}");

        let mut v = nested();
        v["model_type"] = serde_json::json!("llava");
        let e = QwenVlConfig::from_json(&v.to_string()).expect_err("type").to_string();
        assert!(e.contains("model_type") && e.contains("llava"), "{e}");

        let mut v = nested();
        v["text_config"].as_object_mut().expect("object").remove("hidden_size");
        let e = QwenVlConfig::from_json(&v.to_string()).expect_err("missing").to_string();
        assert!(e.contains("text_config.hidden_size") && e.contains("missing"), "{e}");

        let mut v = nested();
        v["image_token_id"] = serde_json::json!(99);
        let e = QwenVlConfig::from_json(&v.to_string()).expect_err("token").to_string();
        assert!(e.contains("image_token_id") && e.contains("vocabulary"), "{e}");

        let mut v = nested();
        v[QUESTION_FIRST_KEY] = serde_json::json!("yes");
        let e = QwenVlConfig::from_json(&v.to_string()).expect_err("flag").to_string();
        assert!(e.contains(QUESTION_FIRST_KEY) && e.contains("true or false"), "{e}");
    }
}
