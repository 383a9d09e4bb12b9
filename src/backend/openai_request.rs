//! What `heatscope serve` accepts in `POST /v1/chat/completions`: every parameter of the
//! chat-completions API that clients send is read and checked here. Supported ones behave as the API
//! says (`model`, `messages`, `stream`, `stream_options.include_usage`, `max_tokens` /
//! `max_completion_tokens`, `temperature`, `top_p`, `seed`, `stop`, `logprobs`, `top_logprobs`,
//! `n` = 1, `response_format` of type text, `user`, zero penalties and an empty `logit_bias`);
//! anything else (more than one choice, JSON output formats, tools, non-zero penalties, unknown
//! parameters) is refused with a message naming the parameter, never ignored. Image parts are
//! decoded within a pixel budget. Pure parsing; runs on the server's request threads.

use serde_json::Value;

use super::ChatRequest;
use crate::models::vlm::{Message, Part};

/// Most alternatives a client may ask for per token (the API's limit).
pub const MAX_TOP_LOGPROBS: u64 = 20;
/// Most stop sequences per request (the API's limit).
pub const MAX_STOP: usize = 4;
/// Longest answer a request may ask for.
pub const MAX_TOKENS: u64 = 8192;

/// Why a request is refused: 400 for a bad or unsupported request, 413 for one too large to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    fn bad(message: impl Into<String>) -> Self {
        Self { status: 400, message: message.into() }
    }
}

/// A request the server can answer, with how the answer should be shaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub chat: ChatRequest,
    pub stream: bool,
    /// `stream_options.include_usage`: a last chunk with the token counts.
    pub include_usage: bool,
    /// Report each token's log-probability (and `chat.top_logprobs` alternatives).
    pub logprobs: bool,
}

/// Read a request body (already parsed as JSON). `max_image_pixels` bounds each decoded image.
pub fn parse(body: Value, max_image_pixels: u64) -> Result<Incoming, Refusal> {
    let Value::Object(mut map) = body else {
        return Err(Refusal::bad("the request body must be a JSON object"));
    };
    // Optional parameters may be sent as null, which means "not given".
    map.retain(|_, v| !v.is_null());
    let mut take = |name: &str| map.remove(name);
    let messages = take("messages").ok_or_else(|| Refusal::bad("messages: required"))?;
    let _model = take("model").map(|v| string(&v, "model")).transpose()?;
    let stream = take("stream").map(|v| boolean(&v, "stream")).transpose()?.unwrap_or(false);
    let include_usage = match take("stream_options") {
        None => false,
        Some(Value::Object(o)) => {
            if let Some(k) = o.keys().find(|k| *k != "include_usage") {
                return Err(Refusal::bad(format!("stream_options.{k}: not supported")));
            }
            if !stream {
                return Err(Refusal::bad("stream_options: only allowed with stream: true"));
            }
            o.get("include_usage").map(|v| boolean(v, "stream_options.include_usage")).transpose()?.unwrap_or(false)
        }
        Some(_) => return Err(Refusal::bad("stream_options: must be an object")),
    };
    let max_tokens = match (take("max_tokens"), take("max_completion_tokens")) {
        (Some(a), Some(b)) if a != b => {
            return Err(Refusal::bad("max_tokens and max_completion_tokens differ: give one of them"));
        }
        (Some(v), _) => Some(integer(&v, "max_tokens", 1, MAX_TOKENS)?),
        (None, Some(v)) => Some(integer(&v, "max_completion_tokens", 1, MAX_TOKENS)?),
        (None, None) => None,
    };
    let temperature = take("temperature").map(|v| number(&v, "temperature", 0.0, 2.0)).transpose()?;
    let top_p = take("top_p").map(|v| number(&v, "top_p", 0.0, 1.0)).transpose()?;
    if top_p == Some(0.0) {
        return Err(Refusal::bad("top_p: must be greater than 0"));
    }
    let seed = match take("seed") {
        None => None,
        // The API's seed is any 64-bit integer; negative ones are folded into the same range.
        Some(v) => Some(
            v.as_u64()
                .or_else(|| v.as_i64().map(i64::cast_unsigned))
                .ok_or_else(|| Refusal::bad(format!("seed: must be an integer, not {v}")))?,
        ),
    };
    let stop = match take("stop") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) if items.len() <= MAX_STOP => {
            items.iter().map(|v| string(v, "stop")).collect::<Result<Vec<_>, _>>()?
        }
        Some(Value::Array(items)) => {
            return Err(Refusal::bad(format!("stop: at most {MAX_STOP} sequences, got {}", items.len())));
        }
        Some(v) => return Err(Refusal::bad(format!("stop: must be a string or a list of strings, not {v}"))),
    };
    if stop.iter().any(String::is_empty) {
        return Err(Refusal::bad("stop: an empty stop sequence would end every answer at once"));
    }
    let logprobs = take("logprobs").map(|v| boolean(&v, "logprobs")).transpose()?.unwrap_or(false);
    let top_logprobs = take("top_logprobs").map(|v| integer(&v, "top_logprobs", 0, MAX_TOP_LOGPROBS)).transpose()?;
    if top_logprobs.is_some_and(|k| k > 0) && !logprobs {
        return Err(Refusal::bad("top_logprobs: requires logprobs: true"));
    }
    if let Some(n) = take("n").map(|v| integer(&v, "n", 1, u64::MAX)).transpose()?
        && n > 1
    {
        return Err(Refusal::bad(format!("n: only one choice per request is supported, not {n}")));
    }
    if let Some(format) = take("response_format") {
        match format.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some(other) => {
                return Err(Refusal::bad(format!(
                    "response_format: type {other} is not supported (answers are plain text; ask for the format in \
                     the prompt)"
                )));
            }
            None => return Err(Refusal::bad("response_format: must be an object with a type")),
        }
    }
    let _user = take("user").map(|v| string(&v, "user")).transpose()?;
    // vLLM's extension: the answer must be exactly one of these strings.
    let choices = match take("guided_choice") {
        None => Vec::new(),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| match v.as_str() {
                Some(s) if !s.is_empty() => Ok(s.to_string()),
                _ => Err(Refusal::bad(format!("guided_choice: every option must be a non-empty string, not {v}"))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(v) => return Err(Refusal::bad(format!("guided_choice: must be a non-empty list of strings, not {v}"))),
    };
    // Only the formats heatscope knows, written as its clients write them.
    let pattern = match take("guided_regex") {
        None => None,
        Some(v) => {
            let known = [crate::models::vlm::AnswerPattern::Box];
            let found = v.as_str().and_then(|s| known.into_iter().find(|p| p.regex() == s));
            Some(found.ok_or_else(|| {
                Refusal::bad(format!(
                    "guided_regex: only the L3 box format is supported ({}), not {v}",
                    known[0].regex()
                ))
            })?)
        }
    };
    for penalty in ["frequency_penalty", "presence_penalty"] {
        if let Some(v) = take(penalty)
            && number(&v, penalty, -2.0, 2.0)? != 0.0
        {
            return Err(Refusal::bad(format!("{penalty}: not supported (only 0)")));
        }
    }
    if let Some(v) = take("logit_bias")
        && v.as_object().is_none_or(|o| !o.is_empty())
    {
        return Err(Refusal::bad("logit_bias: not supported"));
    }
    if let Some(name) = map.keys().next() {
        return Err(Refusal::bad(format!("{name}: not supported by heatscope serve")));
    }
    let (messages, images) = read_messages(messages, max_image_pixels)?;
    let defaults = ChatRequest::default();
    #[allow(clippy::cast_possible_truncation)] // both are bounded above
    let chat = ChatRequest {
        messages,
        images,
        max_tokens: max_tokens.map_or(defaults.max_tokens, |m| m as usize),
        temperature: temperature.map_or(defaults.temperature, |t| t as f32),
        top_p: top_p.map_or(defaults.top_p, |p| p as f32),
        seed: seed.unwrap_or(defaults.seed),
        stop,
        top_logprobs: if logprobs { top_logprobs.unwrap_or(0) as usize } else { 0 },
        choices,
        pattern,
    };
    Ok(Incoming { chat, stream, include_usage, logprobs })
}

fn string(v: &Value, name: &str) -> Result<String, Refusal> {
    v.as_str().map(str::to_string).ok_or_else(|| Refusal::bad(format!("{name}: must be a string, not {v}")))
}

fn boolean(v: &Value, name: &str) -> Result<bool, Refusal> {
    v.as_bool().ok_or_else(|| Refusal::bad(format!("{name}: must be true or false, not {v}")))
}

fn integer(v: &Value, name: &str, lo: u64, hi: u64) -> Result<u64, Refusal> {
    v.as_u64()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| Refusal::bad(format!("{name}: must be an integer from {lo} to {hi}, not {v}")))
}

fn number(v: &Value, name: &str, lo: f64, hi: f64) -> Result<f64, Refusal> {
    v.as_f64()
        .filter(|x| (lo..=hi).contains(x))
        .ok_or_else(|| Refusal::bad(format!("{name}: must be a number from {lo} to {hi}, not {v}")))
}

/// Messages and their decoded images, in order.
fn read_messages(messages: Value, max_image_pixels: u64) -> Result<(Vec<Message>, Vec<image::RgbImage>), Refusal> {
    let Value::Array(items) = messages else {
        return Err(Refusal::bad("messages: must be a list"));
    };
    if items.is_empty() {
        return Err(Refusal::bad("messages: no messages"));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut images = Vec::new();
    for (i, m) in items.into_iter().enumerate() {
        let Value::Object(mut m) = m else {
            return Err(Refusal::bad(format!("messages[{i}]: must be an object")));
        };
        let role = m.remove("role").map(|v| string(&v, &format!("messages[{i}].role"))).transpose()?;
        let role = match role.as_deref() {
            Some(r @ ("system" | "user" | "assistant")) => r.to_string(),
            // The newer name of the system turn.
            Some("developer") => "system".to_string(),
            other => return Err(Refusal::bad(format!("messages[{i}].role: unknown role {other:?}"))),
        };
        let mut parts = Vec::new();
        match m.remove("content") {
            Some(Value::String(s)) => parts.push(Part::Text(s)),
            Some(Value::Array(content)) => {
                for (j, item) in content.iter().enumerate() {
                    let at = format!("messages[{i}].content[{j}]");
                    match item.get("type").and_then(Value::as_str) {
                        Some("text") => parts
                            .push(Part::Text(item.get("text").and_then(Value::as_str).unwrap_or_default().to_string())),
                        Some("image_url") => {
                            let url = item
                                .get("image_url")
                                .and_then(|u| u.get("url").or(Some(u)))
                                .and_then(Value::as_str)
                                .ok_or_else(|| Refusal::bad(format!("{at}: an image_url part without a url")))?;
                            images.push(decode_image(url, max_image_pixels).map_err(|mut r| {
                                r.message = format!("{at}: {}", r.message);
                                r
                            })?);
                            parts.push(Part::Image);
                        }
                        other => return Err(Refusal::bad(format!("{at}: unsupported content part type {other:?}"))),
                    }
                }
            }
            Some(Value::Null) | None if role == "assistant" => {}
            other => {
                let shown = other.map_or_else(|| "nothing".to_string(), |v| v.to_string());
                return Err(Refusal::bad(format!(
                    "messages[{i}].content: must be a string or a list of parts, not {shown}"
                )));
            }
        }
        if let Some(k) = m.keys().find(|k| *k != "name") {
            return Err(Refusal::bad(format!("messages[{i}].{k}: not supported")));
        }
        out.push(Message { role, parts });
    }
    Ok((out, images))
}

/// Decode a `data:image/...;base64,` URL, refusing images over `max_pixels` before decoding them.
pub fn decode_image(url: &str, max_pixels: u64) -> Result<image::RgbImage, Refusal> {
    use base64::Engine;
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(Refusal::bad(
            "only data: URLs are accepted for images (the server does not fetch from the network)",
        ));
    };
    let (_, b64) =
        rest.split_once(";base64,").ok_or_else(|| Refusal::bad("the data URL is not base64 (expected ;base64,)"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| Refusal::bad(format!("bad base64: {e}")))?;
    let reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| Refusal::bad(format!("the image cannot be read: {e}")))?;
    let (w, h) = reader.into_dimensions().map_err(|e| Refusal::bad(format!("the image cannot be decoded: {e}")))?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(Refusal {
            status: 413,
            message: format!(
                "the image is {w} x {h} = {pixels} pixels, over this server's {max_pixels} (--max-image-pixels); \
                 send it smaller"
            ),
        });
    }
    let opts =
        crate::io::LoadOptions { max_samples: max_pixels.saturating_mul(3), ..crate::io::LoadOptions::default() };
    crate::io::decode_rgb(std::path::Path::new("the data URL"), &bytes, &opts)
        .map_err(|e| Refusal::bad(format!("the image cannot be decoded: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PIXELS: u64 = 1 << 24;

    fn refused(body: Value) -> Refusal {
        parse(body, PIXELS).expect_err("refused")
    }

    fn text() -> Value {
        json!([{"role": "user", "content": "hi"}])
    }

    #[test]
    fn every_supported_parameter_is_read() {
        let body = json!({
            "model": "m", "messages": text(), "stream": true, "stream_options": {"include_usage": true},
            "max_completion_tokens": 9, "temperature": 0.5, "top_p": 0.9, "seed": 7, "stop": ["\n", "."],
            "logprobs": true, "top_logprobs": 3, "n": 1, "response_format": {"type": "text"}, "user": "u1",
            "frequency_penalty": 0, "presence_penalty": 0.0, "logit_bias": {}, "tools": null,
        });
        let r = parse(body, PIXELS).expect("accepted");
        assert!(r.stream && r.include_usage && r.logprobs);
        let c = r.chat;
        assert_eq!((c.max_tokens, c.temperature, c.top_p, c.seed, c.top_logprobs), (9, 0.5, 0.9, 7, 3));
        assert_eq!(c.stop, ["\n", "."]);
        let r = parse(json!({"messages": text(), "stop": "END", "seed": -1, "max_tokens": 4}), PIXELS).unwrap();
        assert_eq!((r.chat.stop, r.chat.seed, r.chat.max_tokens), (vec!["END".to_string()], u64::MAX, 4));
        assert!(!r.stream && !r.include_usage && !r.logprobs && r.chat.top_logprobs == 0);
    }

    #[test]
    fn guided_choice_and_the_box_regex_constrain_the_answer() {
        let r = parse(json!({"messages": text(), "guided_choice": ["yes", "no"]}), PIXELS).unwrap();
        assert_eq!(r.chat.choices, ["yes", "no"]);
        let regex = crate::models::vlm::AnswerPattern::Box.regex();
        let r = parse(json!({"messages": text(), "guided_regex": regex}), PIXELS).unwrap();
        assert_eq!(r.chat.pattern, Some(crate::models::vlm::AnswerPattern::Box));
        // What the client sends, the server reads back.
        let messages = vec![crate::models::vlm::Message::user_text("how bad?")];
        let req = ChatRequest { messages, choices: vec!["low".into(), "high".into()], ..ChatRequest::default() };
        let body = crate::backend::openai::request_body("m", &req, false).unwrap();
        assert_eq!(parse(body, PIXELS).unwrap().chat.choices, ["low", "high"]);
        for (body, want) in [
            (json!({"messages": text(), "guided_choice": []}), "guided_choice: must be a non-empty list"),
            (json!({"messages": text(), "guided_choice": ["a", 3]}), "guided_choice: every option"),
            (json!({"messages": text(), "guided_regex": "[a-z]+"}), "guided_regex: only the L3 box format"),
        ] {
            let r = refused(body.clone());
            assert!(r.status == 400 && r.message.contains(want), "{body}: {r:?}");
        }
    }

    #[test]
    fn unsupported_parameters_are_named() {
        let cases = [
            (json!({"messages": text(), "n": 2}), "n: only one choice"),
            (
                json!({"messages": text(), "response_format": {"type": "json_schema"}}),
                "response_format: type json_schema",
            ),
            (
                json!({"messages": text(), "response_format": {"type": "json_object"}}),
                "response_format: type json_object",
            ),
            (json!({"messages": text(), "tools": []}), "tools: not supported"),
            (json!({"messages": text(), "frequency_penalty": 0.5}), "frequency_penalty: not supported"),
            (json!({"messages": text(), "logit_bias": {"50256": -100}}), "logit_bias: not supported"),
            (json!({"messages": text(), "top_logprobs": 2}), "top_logprobs: requires logprobs"),
            (
                json!({"messages": text(), "top_logprobs": 21, "logprobs": true}),
                "top_logprobs: must be an integer from 0 to 20",
            ),
            (json!({"messages": text(), "temperature": 3}), "temperature: must be a number from 0 to 2"),
            (json!({"messages": text(), "top_p": 0}), "top_p: must be greater than 0"),
            (json!({"messages": text(), "max_tokens": 0}), "max_tokens: must be an integer from 1"),
            (json!({"messages": text(), "max_tokens": 3, "max_completion_tokens": 4}), "differ"),
            (json!({"messages": text(), "stop": ["a", "b", "c", "d", "e"]}), "stop: at most 4"),
            (json!({"messages": text(), "stop": ""}), "stop: an empty stop sequence"),
            (json!({"messages": text(), "stream_options": {"include_usage": true}}), "only allowed with stream"),
            (json!({"messages": text(), "stream": "yes"}), "stream: must be true or false"),
            (json!({"messages": text(), "seed": 1.5}), "seed: must be an integer"),
            (json!({"messages": [{"role": "tool", "content": "x"}]}), "messages[0].role"),
            (json!({"messages": [{"role": "user", "content": "x", "tool_calls": []}]}), "messages[0].tool_calls"),
            (json!({"messages": []}), "no messages"),
            (json!({"model": "m"}), "messages: required"),
            (json!([1, 2]), "JSON object"),
        ];
        for (body, want) in cases {
            let r = refused(body.clone());
            assert!(r.status == 400 && r.message.contains(want), "{body}: {r:?}");
        }
    }

    #[test]
    fn images_are_decoded_within_the_pixel_budget() {
        let img = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        use base64::Engine;
        let url = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(&png));
        let body = json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url, "detail": "low"}}, {"type": "text", "text": "q"}]}]});
        let r = parse(body.clone(), PIXELS).unwrap();
        assert_eq!(r.chat.images, vec![img]);
        assert_eq!(r.chat.messages[0].parts, vec![Part::Image, Part::Text("q".into())]);
        let r = parse(body, 1000).unwrap_err();
        assert!(
            r.status == 413 && r.message.contains("40 x 30") && r.message.contains("messages[0].content[0]"),
            "{r:?}"
        );
        let bad = |url: &str| {
            let body =
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]});
            refused(body).message
        };
        assert!(bad("http://x/y.png").contains("data: URLs"));
        assert!(bad("data:image/png;base64,!!!").contains("base64"));
        assert!(bad("data:image/png;base64,AAAA").contains("image"));
    }
}
