//! The OpenAI-compatible chat-completions wire format that vLLM, Ollama, llama.cpp server and
//! `heatscope serve` speak: the client's request body (text and base64 data-URL image parts), streamed
//! `chat.completion.chunk` events (server-sent events, `data: ...` lines ending with `data: [DONE]`)
//! with per-token log-probabilities and their alternatives, the non-streaming response, and token
//! usage. Shared by the client and the server so both sides agree; what the server accepts is
//! checked in `openai_request`. Pure data and (de)serialization.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Alternative, BackendError, ChatReply, ChatRequest};
use crate::models::vlm::Part;

/// Encode an RGB image as a PNG data URL.
pub fn png_data_url(image: &image::RgbImage) -> Result<String, BackendError> {
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| BackendError::Request(format!("encoding an image as PNG: {e}")))?;
    Ok(format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png)))
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
    if !req.stop.is_empty() {
        body["stop"] = json!(req.stop);
    }
    if req.top_logprobs > 0 {
        body["top_logprobs"] = json!(req.top_logprobs);
    }
    if !req.choices.is_empty() {
        // vLLM's extensions (heatscope serve reads them too).
        body["guided_choice"] = json!(req.choices);
    } else if let Some(p) = req.pattern {
        body["guided_regex"] = json!(p.regex());
    }
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    Ok(body)
}

/// One streamed chunk, as the client reads it.
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
    /// The token's bytes (null for servers that do not say).
    #[serde(default)]
    pub bytes: Option<Vec<u8>>,
    #[serde(default)]
    pub top_logprobs: Vec<TopLogprob>,
}

impl TokenLogprob {
    /// The bytes the token stands for: as the server sent them, else its text's.
    pub fn raw_bytes(&self) -> Vec<u8> {
        self.bytes.clone().unwrap_or_else(|| self.token.as_bytes().to_vec())
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f32,
    #[serde(default)]
    pub bytes: Option<Vec<u8>>,
}

impl TopLogprob {
    pub fn alternative(&self) -> Alternative {
        let bytes = self.bytes.clone().unwrap_or_else(|| self.token.as_bytes().to_vec());
        Alternative { token: self.token.clone(), bytes, logprob: self.logprob }
    }
}

/// Token counts of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    #[serde(default)]
    pub total_tokens: usize,
}

impl Usage {
    pub fn new(prompt_tokens: usize, completion_tokens: usize) -> Self {
        Self { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens }
    }

    /// The counts of a finished answer.
    pub fn of(reply: &ChatReply) -> Self {
        Self::new(reply.prompt_tokens.unwrap_or(0), reply.logprobs.len())
    }
}

/// Seconds since 1970, the API's `created`.
fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// One token's entry in a `logprobs.content` list: its text, log-probability, the bytes it stands
/// for (its text's when unknown) and the alternatives asked for.
pub fn token_logprob(token: &str, logprob: f32, bytes: Option<&[u8]>, top: &[Alternative]) -> Value {
    let top: Vec<Value> =
        top.iter().map(|a| json!({"token": a.token, "logprob": a.logprob, "bytes": a.bytes})).collect();
    json!({"token": token, "logprob": logprob, "bytes": bytes.unwrap_or(token.as_bytes()), "top_logprobs": top})
}

/// Identity of one streamed answer: its id, model and creation time, the same on every chunk.
#[derive(Clone, Debug)]
pub struct StreamId {
    pub id: String,
    pub model: String,
    pub created: u64,
}

impl StreamId {
    pub fn new(id: &str, model: &str) -> Self {
        Self { id: id.into(), model: model.into(), created: now() }
    }

    fn chunk(&self, choices: Value, usage: Option<Usage>, include_usage: bool) -> String {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": choices,
        });
        if include_usage {
            chunk["usage"] = json!(usage);
        }
        format!("data: {chunk}\n\n")
    }

    /// The first chunk: the assistant role, no content yet.
    pub fn role_line(&self, include_usage: bool) -> String {
        let choice =
            json!({"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null});
        self.chunk(json!([choice]), None, include_usage)
    }

    /// One token: new text, and (when asked for) the token's log-probability entry.
    pub fn token_line(&self, text: &str, logprob: Option<Value>, include_usage: bool) -> String {
        let logprobs = logprob.map(|l| json!({"content": [l]}));
        let choice = json!({"index": 0, "delta": {"content": text}, "logprobs": logprobs, "finish_reason": null});
        self.chunk(json!([choice]), None, include_usage)
    }

    /// The last chunk of the answer: why it ended.
    pub fn finish_line(&self, finish: &str, include_usage: bool) -> String {
        let choice = json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": finish});
        self.chunk(json!([choice]), None, include_usage)
    }

    /// The usage chunk that `stream_options.include_usage` asks for: no choices, the token counts.
    pub fn usage_line(&self, usage: Usage) -> String {
        self.chunk(json!([]), Some(usage), true)
    }
}

/// The non-streaming response body; `logprobs` says whether to report them.
pub fn completion_body(id: &str, model: &str, reply: &ChatReply, finish: &str, logprobs: bool) -> Value {
    let logprobs = logprobs.then(|| {
        let content: Vec<Value> = reply
            .logprobs
            .iter()
            .enumerate()
            .map(|(i, (t, l))| {
                let top = reply.top_logprobs.get(i).map_or(&[][..], Vec::as_slice);
                token_logprob(t, *l, reply.token_bytes.get(i).map(Vec::as_slice), top)
            })
            .collect();
        json!({"content": content})
    });
    json!({
        "id": id,
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "system_fingerprint": null,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply.text},
            "logprobs": logprobs,
            "finish_reason": finish,
        }],
        "usage": Usage::of(reply),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Finish;
    use crate::models::vlm::Message;

    #[test]
    fn request_round_trips_through_the_wire_format() {
        let img = image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 40, y as u8 * 60, 7]));
        let req = ChatRequest {
            messages: vec![Message::user(vec![Part::Image, Part::Text("Which region?".into())])],
            images: vec![img.clone()],
            stop: vec!["\n".into()],
            top_logprobs: 2,
            ..ChatRequest::default()
        };
        let body = request_body("m", &req, true).expect("body");
        assert_eq!((body["stream"].clone(), body["top_logprobs"].clone()), (json!(true), json!(2)));
        let back = crate::backend::openai_request::parse(body, 1 << 20).expect("the server reads it");
        assert_eq!(back.chat.messages, req.messages);
        assert_eq!(back.chat.images, vec![img], "PNG data URLs are lossless");
        assert_eq!((back.chat.stop, back.chat.top_logprobs, back.include_usage), (req.stop, 2, true));
    }

    #[test]
    fn chunk_lines_parse_back() {
        let s = StreamId::new("c1", "m");
        let alt = |t: &str, logprob| Alternative { token: t.into(), bytes: t.as_bytes().to_vec(), logprob };
        let line =
            s.token_line("hi", Some(token_logprob("hi", -0.5, None, &[alt("hi", -0.5), alt("ho", -1.5)])), false);
        let json = line.strip_prefix("data: ").expect("prefix").trim();
        let c: Chunk = serde_json::from_str(json).expect("chunk");
        assert_eq!(c.choices[0].delta.content.as_deref(), Some("hi"));
        let lp = &c.choices[0].logprobs.as_ref().expect("lp").content[0];
        assert!((lp.logprob + 0.5).abs() < 1e-6 && lp.top_logprobs[1].token == "ho");
        assert!(c.usage.is_none() && !json.contains("usage"), "no usage key without include_usage");
        let usage: Chunk =
            serde_json::from_str(s.usage_line(Usage::new(7, 3)).trim_start_matches("data: ").trim()).unwrap();
        assert_eq!((usage.choices.len(), usage.usage), (0, Some(Usage::new(7, 3))));
        assert_eq!(Usage::new(7, 3).total_tokens, 10);
    }

    #[test]
    fn the_completion_reports_logprobs_only_when_asked() {
        let reply = ChatReply {
            text: "é".into(),
            logprobs: vec![("é".into(), -0.25)],
            token_bytes: vec!["é".as_bytes().to_vec()],
            top_logprobs: vec![vec![
                Alternative { token: "é".into(), bytes: vec![0xc3, 0xa9], logprob: -0.25 },
                Alternative { token: "e".into(), bytes: vec![b'e'], logprob: -2.0 },
            ]],
            finish: Finish::Stop,
            prompt_tokens: Some(5),
            first_token_secs: None,
            total_secs: 0.1,
            domain: None,
        };
        let with = completion_body("c", "m", &reply, "stop", true);
        let entry = &with["choices"][0]["logprobs"]["content"][0];
        assert_eq!(entry["bytes"], json!([0xc3, 0xa9]));
        assert_eq!(entry["top_logprobs"][1]["token"], "e");
        assert_eq!(with["usage"], json!({"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}));
        assert!(with["created"].as_u64().is_some_and(|t| t > 1_700_000_000));
        assert!(completion_body("c", "m", &reply, "stop", false)["choices"][0]["logprobs"].is_null());
    }
}
