//! Chat prompts for Qwen-VL models: the messages a user builds (text and image parts), rendered with
//! the Qwen chat templates (Qwen2-VL adds a default system turn; `<|im_start|>role ... <|im_end|>`, each image as
//! `<|vision_start|><|image_pad|><|vision_end|>`), each image pad expanded to the number of tokens its
//! patch grid merges into, then tokenized with the folder's tokenizer.json. Pure functions.

use std::path::Path;

use super::VlmError;
use super::config::Family;

/// The system turn the template inserts when the conversation does not start with one.
pub const DEFAULT_SYSTEM: &str = "You are a helpful assistant.";
pub const IMAGE_PAD: &str = "<|image_pad|>";

/// One part of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    /// The next image of the prompt's image list.
    Image,
}

/// One chat turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// "system", "user" or "assistant".
    pub role: String,
    pub parts: Vec<Part>,
}

impl Message {
    pub fn user(parts: Vec<Part>) -> Self {
        Self { role: "user".into(), parts }
    }

    pub fn user_text(text: &str) -> Self {
        Self::user(vec![Part::Text(text.into())])
    }

    pub fn images(&self) -> usize {
        self.parts.iter().filter(|p| matches!(p, Part::Image)).count()
    }
}

/// The conversation as the family's chat template writes it (one `<|image_pad|>` per image).
/// Qwen2-VL's template opens with a default system turn; Qwen3-VL's does not.
pub fn render(messages: &[Message], add_generation_prompt: bool, family: Family) -> String {
    let mut out = String::new();
    for (i, m) in messages.iter().enumerate() {
        if i == 0 && m.role != "system" && family == Family::Qwen2Vl {
            out.push_str("<|im_start|>system\n");
            out.push_str(DEFAULT_SYSTEM);
            out.push_str("<|im_end|>\n");
        }
        out.push_str("<|im_start|>");
        out.push_str(&m.role);
        out.push('\n');
        for part in &m.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Image => {
                    out.push_str("<|vision_start|>");
                    out.push_str(IMAGE_PAD);
                    out.push_str("<|vision_end|>");
                }
            }
        }
        out.push_str("<|im_end|>\n");
    }
    if add_generation_prompt {
        out.push_str("<|im_start|>assistant\n");
    }
    out
}

/// Replace the i-th `<|image_pad|>` by `tokens[i]` copies (what the processor does before tokenizing).
pub fn expand_image_pads(prompt: &str, tokens: &[usize]) -> Result<String, VlmError> {
    let pieces: Vec<&str> = prompt.split(IMAGE_PAD).collect();
    if pieces.len() - 1 != tokens.len() {
        return Err(VlmError::Prompt(format!(
            "the prompt has {} image placeholders but {} images were given",
            pieces.len() - 1,
            tokens.len()
        )));
    }
    let mut out = String::with_capacity(prompt.len() + tokens.iter().sum::<usize>() * IMAGE_PAD.len());
    for (i, piece) in pieces.iter().enumerate() {
        out.push_str(piece);
        if let Some(&n) = tokens.get(i) {
            for _ in 0..n {
                out.push_str(IMAGE_PAD);
            }
        }
    }
    Ok(out)
}

/// The folder's tokenizer.json.
pub struct Tokenizer(tokenizers::Tokenizer);

impl Tokenizer {
    pub fn from_dir(dir: &Path) -> Result<Self, VlmError> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(VlmError::file(&path, "is missing (the model folder needs its tokenizer.json)"));
        }
        tokenizers::Tokenizer::from_file(&path)
            .map(Self)
            .map_err(|e| VlmError::file(&path, format!("cannot be read as a tokenizer: {e}")))
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, VlmError> {
        self.0
            .encode(text, true)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| VlmError::Prompt(format!("tokenizing failed: {e}")))
    }

    /// Text of `ids` without special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String, VlmError> {
        self.0.decode(ids, true).map_err(|e| VlmError::Prompt(format!("decoding failed: {e}")))
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.0.token_to_id(token)
    }

    pub fn vocab_size(&self) -> usize {
        self.0.get_vocab_size(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_adds_system_turn_and_generation_prompt() {
        let m = Message::user(vec![Part::Text("Compare".into()), Part::Image, Part::Text("with".into()), Part::Image]);
        assert_eq!(
            render(std::slice::from_ref(&m), true, Family::Qwen2Vl),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nCompare\
             <|vision_start|><|image_pad|><|vision_end|>with<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n\
             <|im_start|>assistant\n"
        );
        let sys = Message { role: "system".into(), parts: vec![Part::Text("Be brief.".into())] };
        let r = render(&[sys, Message::user_text("Hi")], false, Family::Qwen2Vl);
        assert!(r.starts_with("<|im_start|>system\nBe brief.<|im_end|>\n") && !r.contains(DEFAULT_SYSTEM));
        assert!(!r.ends_with("assistant\n"));
        assert!(render(&[m], true, Family::Qwen3Vl).starts_with("<|im_start|>user\nCompare"));
    }

    #[test]
    fn pads_expand_per_image() {
        let s = expand_image_pads("a<|image_pad|>b<|image_pad|>", &[2, 1]).expect("ok");
        assert_eq!(s, "a<|image_pad|><|image_pad|>b<|image_pad|>");
        assert!(expand_image_pads("a<|image_pad|>", &[1, 1]).is_err());
    }
}
