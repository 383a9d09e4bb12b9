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

/// The conversation with each user turn's text parts moved before its images (order within each kind
/// kept, so images still fill the parts in order): how a model trained with the question first (its
/// config's `heatscope_question_first`) must be asked. Then the answer sits at the same distance after
/// every image token whatever the question's length, which is what lets rotary positions say where a
/// token lies in the map.
pub fn question_first(messages: &[Message]) -> Vec<Message> {
    messages
        .iter()
        .map(|m| {
            if m.role != "user" {
                return m.clone();
            }
            let (text, images): (Vec<Part>, Vec<Part>) =
                m.parts.iter().cloned().partition(|p| matches!(p, Part::Text(_)));
            Message { role: m.role.clone(), parts: text.into_iter().chain(images).collect() }
        })
        .collect()
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

/// A Jinja chat template that renders what [`render`] does, after `$system` (what the family writes
/// before the first turn), with each message's `$content`: written into the model folders `train vlm`
/// makes, for transformers and serving engines.
macro_rules! jinja {
    ($system:expr, $content:expr) => {
        concat!(
            "{% for message in messages %}",
            $system,
            "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}{% else %}",
            $content,
            "{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        )
    };
}

/// Qwen2-VL's template opens with a default system turn; Qwen3-VL's does not.
macro_rules! jinja_system {
    (qwen2) => {
        "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    };
    (qwen3) => {
        ""
    };
}

/// Whether a content part is an image, in the forms transformers and OpenAI-style messages use.
macro_rules! jinja_is_image {
    () => {
        "(content['type'] == 'image' or 'image' in content or 'image_url' in content)"
    };
}

/// A message's parts in the order given.
macro_rules! jinja_in_order {
    () => {
        concat!(
            "{% for content in message['content'] %}{% if ",
            jinja_is_image!(),
            " %}<|vision_start|><|image_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}"
        )
    };
}

/// A user turn's text, then its images ([`question_first`]); other turns in the order given.
macro_rules! jinja_question_first {
    () => {
        concat!(
            "{% if message['role'] == 'user' %}{% for content in message['content'] %}{% if not ",
            jinja_is_image!(),
            " and 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}{% for content in message['content'] %}{% if ",
            jinja_is_image!(),
            " %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}{% endfor %}{% else %}",
            jinja_in_order!(),
            "{% endif %}"
        )
    };
}

const JINJA_QWEN2: &str = jinja!(jinja_system!(qwen2), jinja_in_order!());
const JINJA_QWEN3: &str = jinja!(jinja_system!(qwen3), jinja_in_order!());
const JINJA_QWEN2_QUESTION_FIRST: &str = jinja!(jinja_system!(qwen2), jinja_question_first!());
const JINJA_QWEN3_QUESTION_FIRST: &str = jinja!(jinja_system!(qwen3), jinja_question_first!());

/// The chat template (chat_template.jinja) for a family's model, laid out question first or not.
pub fn jinja_template(family: Family, question_first: bool) -> &'static str {
    match (family, question_first) {
        (Family::Qwen2Vl, false) => JINJA_QWEN2,
        (Family::Qwen3Vl, false) => JINJA_QWEN3,
        (Family::Qwen2Vl, true) => JINJA_QWEN2_QUESTION_FIRST,
        (Family::Qwen3Vl, true) => JINJA_QWEN3_QUESTION_FIRST,
    }
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

/// The byte a character of a byte-level BPE vocabulary stands for: printable Latin-1 bytes stand
/// for themselves, the other 68 bytes were moved in order to U+0100 and up.
fn byte_of_char(c: char) -> Option<u8> {
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
    let code = u32::from(c);
    if printable(code) {
        return u8::try_from(code).ok();
    }
    let shifted = code.checked_sub(0x100)?;
    (0..=255u32).filter(|&b| !printable(b)).nth(shifted as usize).and_then(|b| u8::try_from(b).ok())
}

/// The folder's tokenizer.json.
pub struct Tokenizer(tokenizers::Tokenizer);

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokenizer({} tokens)", self.vocab_size())
    }
}

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

    /// The bytes token `id` stands for. A byte-level BPE token may hold part of a UTF-8 character,
    /// which [`Tokenizer::decode`] can only show as U+FFFD; its vocabulary entry maps back to the
    /// exact bytes (GPT-2's byte-to-character table). Other tokenizers: the decoded text's bytes.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        use tokenizers::DecoderWrapper;
        let byte_level = matches!(self.0.get_decoder(), Some(DecoderWrapper::ByteLevel(_)));
        let raw = self.0.id_to_token(id).filter(|_| byte_level).and_then(|t| t.chars().map(byte_of_char).collect());
        raw.unwrap_or_else(|| self.decode(&[id]).unwrap_or_default().into_bytes())
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.0.token_to_id(token)
    }

    pub fn vocab_size(&self) -> usize {
        self.0.get_vocab_size(true)
    }

    /// Write tokenizer.json (readable by Python's tokenizers and transformers too).
    pub fn save(&self, path: &Path) -> Result<(), VlmError> {
        crate::io::atomic::replace(path, |tmp| self.0.save(tmp, true).map_err(std::io::Error::other))
            .map_err(|e| VlmError::file(path, format!("cannot be written: {e}")))
    }

    /// Train a byte-level BPE tokenizer of `vocab_size` entries on `texts`, with the Qwen-VL special
    /// tokens first, so a small domain model need not carry Qwen's 150k-token vocabulary.
    pub fn train(texts: &[String], vocab_size: usize) -> Result<Self, VlmError> {
        use tokenizers::models::TrainerWrapper;
        use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        if vocab_size < 256 + SPECIAL_TOKENS.len() {
            return Err(VlmError::Prompt(format!(
                "a byte-level vocabulary needs at least {} entries, not {vocab_size}",
                256 + SPECIAL_TOKENS.len()
            )));
        }
        let trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .show_progress(false)
            .special_tokens(SPECIAL_TOKENS.iter().map(|t| tokenizers::AddedToken::from(*t, true)).collect())
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut tk = tokenizers::Tokenizer::new(BPE::default());
        tk.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        tk.with_decoder(Some(ByteLevel::default()));
        tk.train(&mut TrainerWrapper::BpeTrainer(trainer), texts.iter())
            .map_err(|e| VlmError::Prompt(format!("training the tokenizer failed: {e}")))?;
        Ok(Self(tk))
    }
}

/// The special tokens of the Qwen-VL chat format, in the order a trained tokenizer numbers them.
pub const SPECIAL_TOKENS: [&str; 7] =
    ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", IMAGE_PAD, "<|video_pad|>"];

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
    fn jinja_templates_differ_only_in_the_default_system_turn() {
        // The bundled model's folder was written by `train vlm --question-first`.
        let bundled = include_str!("../../../models/vlm-spectrum-tiny/chat_template.jinja");
        assert_eq!(jinja_template(Family::Qwen3Vl, true), bundled);
        let system = "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful \
                      assistant.<|im_end|>\n{% endif %}";
        for question_first in [false, true] {
            assert_eq!(
                jinja_template(Family::Qwen2Vl, question_first).replacen(system, "", 1),
                jinja_template(Family::Qwen3Vl, question_first)
            );
        }
    }

    #[test]
    fn question_first_moves_user_text_before_images_only() {
        let t = |s: &str| Part::Text(s.into());
        let user = Message::user(vec![Part::Image, t("What"), Part::Image, t("now?")]);
        let answer = Message { role: "assistant".into(), parts: vec![t("yes")] };
        let out = question_first(&[user.clone(), answer.clone()]);
        assert_eq!(out[0].parts, vec![t("What"), t("now?"), Part::Image, Part::Image]);
        assert_eq!(out[1], answer);
        assert_eq!(out[0].images(), user.images());
    }

    #[test]
    fn trained_tokenizer_round_trips_and_keeps_special_tokens_whole() {
        let corpus: Vec<String> = (0..40)
            .map(|i| format!("Severity {} in the north-east corner; carrier at {}.5 GHz.", ["low", "high"][i % 2], i))
            .collect();
        let tok = Tokenizer::train(&corpus, 300).expect("train");
        assert!(tok.vocab_size() <= 300 && tok.vocab_size() > 263, "{}", tok.vocab_size());
        for (i, special) in SPECIAL_TOKENS.iter().enumerate() {
            assert_eq!(tok.token_id(special), Some(u32::try_from(i).expect("small")));
        }
        let text = "Severity high in the north-east corner; ünïcode ok.";
        let ids = tok.encode(text).expect("encode");
        assert!(ids.len() < text.len(), "merges learned: {} tokens for {} bytes", ids.len(), text.len());
        assert_eq!(tok.decode(&ids).expect("decode"), text);
        let framed = tok.encode("<|im_start|>user\nhi<|im_end|>").expect("encode");
        assert_eq!(framed[0], 1);
        assert_eq!(*framed.last().expect("last"), 2);
        // Saved and read back, it tokenizes the same.
        let dir = tempfile::tempdir().expect("dir");
        tok.save(&dir.path().join("tokenizer.json")).expect("save");
        let back = Tokenizer::from_dir(dir.path()).expect("load");
        assert_eq!(back.encode(text).expect("encode"), ids);
        assert!(Tokenizer::train(&corpus, 100).is_err());
        // Each token's bytes, joined, are the text, even where a token holds part of a character.
        let text = "naïve 🌍 über";
        let ids = tok.encode(text).expect("encode");
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| tok.token_bytes(id)).collect();
        assert_eq!(bytes, text.as_bytes());
        assert!(ids.iter().any(|&id| tok.decode(&[id]).expect("decode").contains('\u{FFFD}')), "a partial token");
    }

    #[test]
    fn the_byte_level_table_covers_every_byte_once() {
        let mut seen = [false; 256];
        for code in 0..0x200u32 {
            if let Some(b) = char::from_u32(code).and_then(byte_of_char) {
                assert!(!seen[usize::from(b)], "byte {b} twice");
                seen[usize::from(b)] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!((byte_of_char('!'), byte_of_char('Ġ'), byte_of_char('Ā')), (Some(b'!'), Some(b' '), Some(0)));
    }

    #[test]
    fn pads_expand_per_image() {
        let s = expand_image_pads("a<|image_pad|>b<|image_pad|>", &[2, 1]).expect("ok");
        assert_eq!(s, "a<|image_pad|><|image_pad|>b<|image_pad|>");
        assert!(expand_image_pads("a<|image_pad|>", &[1, 1]).is_err());
    }
}
