//! A new model folder for `train vlm`: the architecture's config, a tokenizer trained on the run's
//! text, processor and generation settings and the chat template; or another folder's files to
//! fine-tune from.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::json;

use super::{Family, MERGE, VlmTrainArgs};
use crate::models::vlm::chat::{SPECIAL_TOKENS, Tokenizer, jinja_template};
use crate::models::vlm::train::copy_folder_files;

/// Write config, tokenizer and processor files for a fresh model whose images are at most `side`
/// pixels a side.
pub(super) fn write_model_folder(out: &Path, a: &VlmTrainArgs, side: usize, texts: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let tok = Tokenizer::train(texts, a.vocab)?;
    tok.save(&out.join("tokenizer.json"))?;
    let id = |t: &str| tok.token_id(t).ok_or_else(|| anyhow::anyhow!("the tokenizer lost {t}"));
    let heads = (a.width / 64).max(1);
    let head_dim = a.width / heads;
    let vision = (a.width / 2).max(32);
    let vision_heads = (vision / 32).max(1);
    let depth = (a.layers / 2).max(2);
    let qwen3 = a.family == Family::Qwen3Vl;
    let mut text = json!({
        "vocab_size": tok.vocab_size(),
        "hidden_size": a.width,
        "intermediate_size": a.width * 3,
        "num_hidden_layers": a.layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": true,
        "bos_token_id": id("<|endoftext|>")?,
        "eos_token_id": id("<|im_end|>")?,
    });
    let patch = a.family.patch();
    let (architecture, model_type, vision_config, mean_std) = if qwen3 {
        text["model_type"] = json!("qwen3_vl_text");
        text["head_dim"] = json!(head_dim);
        text["attention_bias"] = json!(false);
        text["rope_parameters"] = json!({
            "rope_type": "default", "mrope_section": mrope_section(head_dim, a.family),
            "mrope_interleaved": true, "rope_theta": a.rope_theta,
        });
        let patches = side / patch;
        let vision_config = json!({
            "model_type": "qwen3_vl_vision",
            "depth": depth,
            "hidden_size": vision,
            "intermediate_size": vision * 4,
            "out_hidden_size": a.width,
            "num_heads": vision_heads,
            "patch_size": patch,
            "spatial_merge_size": MERGE,
            "temporal_patch_size": 2,
            "in_channels": 3,
            "hidden_act": "gelu_pytorch_tanh",
            // One learned position per patch of a full-size image, so a map at `side` pixels uses them
            // without interpolation.
            "num_position_embeddings": patches * patches,
            "deepstack_visual_indexes": [0],
        });
        ("Qwen3VLForConditionalGeneration", "qwen3_vl", vision_config, [0.5; 6])
    } else {
        text["model_type"] = json!("qwen2_vl_text");
        text["rope_parameters"] = json!({
            "rope_type": "default", "mrope_section": mrope_section(head_dim, a.family), "rope_theta": a.rope_theta,
        });
        let vision_config = json!({
            "model_type": "qwen2_vl_vision",
            "depth": depth,
            "embed_dim": vision,
            "hidden_size": a.width,
            "num_heads": vision_heads,
            "mlp_ratio": 4,
            "patch_size": patch,
            "spatial_merge_size": MERGE,
            "temporal_patch_size": 2,
            "in_channels": 3,
            "hidden_act": "quick_gelu",
        });
        let clip = [0.48145466, 0.4578275, 0.40821073, 0.26862954, 0.26130258, 0.27577711];
        ("Qwen2VLForConditionalGeneration", "qwen2_vl", vision_config, clip)
    };
    let config = json!({
        "architectures": [architecture],
        "model_type": model_type,
        "image_token_id": id("<|image_pad|>")?,
        "video_token_id": id("<|video_pad|>")?,
        "vision_start_token_id": id("<|vision_start|>")?,
        "vision_end_token_id": id("<|vision_end|>")?,
        "tie_word_embeddings": true,
        "text_config": text,
        "vision_config": vision_config,
    });
    let pre = json!({
        "min_pixels": 56 * 56, "max_pixels": side * side, "patch_size": patch, "temporal_patch_size": 2, "merge_size": MERGE,
        "image_mean": &mean_std[..3], "image_std": &mean_std[3..],
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": if qwen3 { "Qwen3VLProcessor" } else { "Qwen2VLProcessor" },
    });
    let generation = json!({"eos_token_id": [id("<|im_end|>")?], "pad_token_id": id("<|endoftext|>")?});
    let tokenizer_config = json!({
        "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "extra_special_tokens": SPECIAL_TOKENS[1..].to_vec(),
        "model_max_length": 4096, "tokenizer_class": "PreTrainedTokenizerFast",
    });
    for (name, v) in [
        ("config.json", &config),
        ("preprocessor_config.json", &pre),
        ("generation_config.json", &generation),
        ("tokenizer_config.json", &tokenizer_config),
    ] {
        crate::io::atomic::write(&out.join(name), serde_json::to_string_pretty(v)?)
            .with_context(|| format!("writing {name}"))?;
    }
    crate::io::atomic::write(&out.join("chat_template.jinja"), jinja_template(a.family.engine(), false))?;
    Ok(())
}

/// Copy a model folder's configuration, tokenizer and processor files (not its weights) into `out`.
pub(super) fn copy_model_files(from: &Path, out: &Path) -> anyhow::Result<()> {
    if !from.join("config.json").is_file() {
        bail!("{} is not a model folder (no config.json)", from.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    Ok(copy_folder_files(from, out)?)
}

/// Three rotary sections (temporal, row, column) summing to head_dim / 2: Qwen2-VL's proportions
/// (a quarter temporal), or Qwen3-VL's (24 : 20 : 20).
fn mrope_section(head_dim: usize, family: Family) -> [usize; 3] {
    let half = head_dim / 2;
    let t = match family {
        Family::Qwen2Vl => half / 4,
        Family::Qwen3Vl => half * 3 / 8,
    };
    let h = (half - t) / 2;
    [t, h, half - t - h]
}
