//! The OpenAI-compatible chat-completions wire format that vLLM, Ollama, llama.cpp server and
//! `heatscope serve` speak: requests with text and base64 data-URL image parts, streamed
//! `chat.completion.chunk` events (server-sent events, `data: ...` lines ending with `data: [DONE]`)
//! with per-token log-probabilities, and the non-streaming response. Shared by the client and the
//! server so both sides agree. Pure data and (de)serialization.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{BackendError, ChatRequest};
use crate::models::vlm::{Message, Part};

/// Encode an RGB image as a PNG data URL.
pub fn png_data_url(image: &image::RgbImage) -> Result<String, BackendError> {
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| BackendError::Request(format!("encoding an image as PNG: {e}")))?;
    Ok(format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png)))
}

/// Decode a `data:image/...;base64,` URL (the only image form `heatscope serve` accepts).
pub fn decode_data_url(url: &str) -> Result<image::RgbImage, String> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err("only data: URLs are accepted for images (the server does not fetch from the network)".into());
    };
    let (_, b64) = rest.split_once(";base64,").ok_or("the data URL is not base64 (expected ;base64,)")?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|e| format!("bad base64: {e}"))?;
    image::load_from_memory(&bytes).map(|i| i.to_rgb8()).map_err(|e| format!("the image cannot be decoded: {e}"))
}

/// The request body for `POST /v1/chat/completions`. Images fill the messages' image parts in order.
pub fn request_body(model: &str, req: &ChatRequest, stream: bool) -> Result<Value, BackendError> {
    let mut images = req.images.iter();
    let mut messages = Vec::new();
    for m in &req.messages {
        let mut content = Vec::new();
        for part in &m.parts {
            match part {
                Part::Text(t) => content.push(json!({"type": "text", "text": t})),
                Part::Image => {
                    let img = images.next().ok_or_else(|| {
                        BackendError::Request("the messages have more image parts than images".into())
                    })?;
                    content.push(json!({"type": "image_url", "image_url": {"url": png_data_url(img)?}}));
                }
            }
        }
        messages.push(json!({"role": m.role, "content": content}));
    }
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": stream,
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "seed": req.seed,
        "logprobs": true,
    });
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    Ok(body)
}

/// A request as the server reads it.
#[derive(Debug, Deserialize)]
pub struct IncomingRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub messages: Vec<IncomingMessage>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default, alias = "max_completion_tokens")]
    pub max_tokens: Option<usize>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub seed: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct IncomingMessage {
    pub role: String,
    pub content: Value,
}

impl IncomingRequest {
    /// Messages and decoded images, or a reason the request is unusable (answered with 400).
    pub fn into_chat(self) -> Result<ChatRequest, String> {
        let mut messages = Vec::new();
        let mut images = Vec::new();
        for m in self.messages {
            if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
                return Err(format!("unknown role {:?}", m.role));
            }
            let mut parts = Vec::new();
            match m.content {
                Value::String(s) => parts.push(Part::Text(s)),
                Value::Array(items) => {
                    for item in items {
                        match item.get("type").and_then(Value::as_str) {
                            Some("text") => parts.push(Part::Text(
                                item.get("text").and_then(Value::as_str).unwrap_or_default().to_string(),
                            )),
                            Some("image_url") => {
                                let url = item
                                    .get("image_url")
                                    .and_then(|u| u.get("url").or(Some(u)))
                                    .and_then(Value::as_str)
                                    .ok_or("an image_url part without a url")?;
                                images.push(decode_data_url(url)?);
                                parts.push(Part::Image);
                            }
                            other => return Err(format!("unsupported content part type {other:?}")),
                        }
                    }
                }
                other => return Err(format!("message content must be a string or a list of parts, not {other}")),
            }
            messages.push(Message { role: m.role, parts });
        }
        if messages.is_empty() {
            return Err("no messages".into());
        }
        let defaults = ChatRequest::default();
        Ok(ChatRequest {
            messages,
            images,
            max_tokens: self.max_tokens.unwrap_or(defaults.max_tokens).min(8192),
            temperature: self.temperature.unwrap_or(defaults.temperature).max(0.0),
            top_p: self.top_p.unwrap_or(defaults.top_p).clamp(1e-6, 1.0),
            seed: self.seed.unwrap_or(defaults.seed),
        })
    }
}

/// One streamed chunk.
#[derive(Debug, Serialize, Deserialize)]
pub struct Chunk {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub logprobs: Option<Logprobs>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Logprobs {
    #[serde(default)]
    pub content: Vec<TokenLogprob>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TokenLogprob {
    pub token: String,
    pub logprob: f32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// `data: {...}` line for one streamed token (or the final chunk when `finish` is set).
/// `token` is (new text, the token's own text, its log-probability).
pub fn chunk_line(
    id: &str,
    model: &str,
    token: Option<(&str, &str, f32)>,
    finish: Option<&str>,
    usage: Option<Usage>,
) -> String {
    let mut choice = json!({"index": 0, "delta": {}, "finish_reason": finish});
    if let Some((text, token, logprob)) = token {
        choice["delta"] = json!({"content": text});
        choice["logprobs"] =
            json!({"content": [{"token": token, "logprob": logprob, "bytes": null, "top_logprobs": []}]});
    }
    let mut chunk = json!({
        "id": id,
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [choice],
    });
    if let Some(u) = usage {
        chunk["usage"] = json!(u);
    }
    format!("data: {chunk}\n\n")
}

/// The non-streaming response body.
pub fn completion_body(
    id: &str,
    model: &str,
    text: &str,
    logprobs: &[(String, f32)],
    finish: &str,
    usage: Usage,
) -> Value {
    let content: Vec<Value> =
        logprobs.iter().map(|(t, l)| json!({"token": t, "logprob": l, "bytes": null, "top_logprobs": []})).collect();
    json!({
        "id": id,
        "object": "chat.completion",
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": {"content": content},
            "finish_reason": finish,
        }],
        "usage": usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_through_the_wire_format() {
        let img = image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 40, y as u8 * 60, 7]));
        let req = ChatRequest {
            messages: vec![Message::user(vec![Part::Image, Part::Text("Which region?".into())])],
            images: vec![img.clone()],
            ..ChatRequest::default()
        };
        let body = request_body("m", &req, true).expect("body");
        assert_eq!(body["stream"], true);
        let incoming: IncomingRequest = serde_json::from_value(body).expect("parse");
        let back = incoming.into_chat().expect("chat");
        assert_eq!(back.messages, req.messages);
        assert_eq!(back.images, vec![img], "PNG data URLs are lossless");
    }

    #[test]
    fn bad_requests_say_why() {
        let bad = |v: Value| serde_json::from_value::<IncomingRequest>(v).expect("parse").into_chat().expect_err("bad");
        let e = bad(
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}),
        );
        assert!(e.contains("data: URLs"), "{e}");
        let e = bad(
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,!!!"}}]}]}),
        );
        assert!(e.contains("base64"), "{e}");
        let e = bad(json!({"messages": [{"role": "wizard", "content": "hi"}]}));
        assert!(e.contains("role"), "{e}");
        assert!(bad(json!({"messages": []})).contains("no messages"));
    }

    #[test]
    fn chunk_lines_parse_back() {
        let line = chunk_line("c1", "m", Some(("hi", "hi", -0.5)), None, None);
        let json = line.strip_prefix("data: ").expect("prefix").trim();
        let c: Chunk = serde_json::from_str(json).expect("chunk");
        assert_eq!(c.choices[0].delta.content.as_deref(), Some("hi"));
        assert!((c.choices[0].logprobs.as_ref().expect("lp").content[0].logprob + 0.5).abs() < 1e-6);
    }
}
