//! `heatscope serve`: the local engine behind the OpenAI-compatible API, so a GPU machine can answer
//! for desktop apps elsewhere. `POST /v1/chat/completions` (streamed as server-sent events or as one
//! JSON body), `GET /v1/models`, `GET /health`. Requests queue for the one model; a client that hangs
//! up cancels its generation. Bad or unsupported requests get HTTP 400 naming the parameter
//! (`openai_request`); bodies and images over the server's limits get 413 before they are read or
//! decoded in full. Runs on named threads: one accepting, one per request, one per generation.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use serde_json::json;
use tiny_http::{Header, Method, Response, StatusCode};

use super::openai::{self, StreamId, Usage};
use super::openai_request::{self, Incoming};
use super::{BackendError, ChatRequest, Finish, LocalBackend};

/// What one request may bring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// Largest request body (JSON with base64 images), in bytes.
    pub max_body_bytes: u64,
    /// Largest image, in pixels, decoded from a request.
    pub max_image_pixels: u64,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self { max_body_bytes: 32 << 20, max_image_pixels: 1 << 24 }
    }
}

/// A running server; dropping it (or [`RunningServer::stop`]) stops accepting.
pub struct RunningServer {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL clients use, e.g. `http://127.0.0.1:8000/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.server.unblock();
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }

    /// Serve until the process ends.
    pub fn wait(mut self) {
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Bind `addr` (port 0 picks a free one) and answer with `backend` as model `name`, with the
/// default [`ServeLimits`].
pub fn serve(backend: Arc<LocalBackend>, name: &str, addr: &str) -> Result<RunningServer, BackendError> {
    serve_with(backend, name, addr, ServeLimits::default())
}

/// [`serve`] with the given limits.
pub fn serve_with(
    backend: Arc<LocalBackend>,
    name: &str,
    addr: &str,
    limits: ServeLimits,
) -> Result<RunningServer, BackendError> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| BackendError::Connect { url: addr.to_string(), reason: format!("cannot listen: {e}") })?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| BackendError::Request("the server is not on an IP address".into()))?;
    let server = Arc::new(server);
    let name = name.to_string();
    let accepting = Arc::clone(&server);
    let counter = Arc::new(AtomicU64::new(0));
    let accept = std::thread::Builder::new()
        .name("serve-accept".into())
        .spawn(move || {
            for request in accepting.incoming_requests() {
                let (backend, name, counter) = (Arc::clone(&backend), name.clone(), Arc::clone(&counter));
                let id = counter.fetch_add(1, Ordering::Relaxed);
                let spawned = std::thread::Builder::new()
                    .name(format!("serve-{id}"))
                    .spawn(move || handle(request, &backend, &name, id, limits));
                if let Err(e) = spawned {
                    tracing::error!("cannot start a request thread: {e}");
                }
            }
        })
        .map_err(|e| BackendError::Request(format!("cannot start the server thread: {e}")))?;
    Ok(RunningServer { server, addr, accept: Some(accept) })
}

fn json_response(status: u16, body: &serde_json::Value) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut r = Response::from_string(body.to_string()).with_status_code(StatusCode(status));
    if let Ok(h) = Header::from_bytes("Content-Type", "application/json") {
        r = r.with_header(h);
    }
    r
}

fn error_body(message: &str) -> serde_json::Value {
    json!({"error": {"message": message, "type": "invalid_request_error"}})
}

fn handle(mut request: tiny_http::Request, backend: &Arc<LocalBackend>, name: &str, id: u64, limits: ServeLimits) {
    let respond = |request: tiny_http::Request, status: u16, body: serde_json::Value| {
        if let Err(e) = request.respond(json_response(status, &body)) {
            tracing::debug!("client went away: {e}");
        }
    };
    match (request.method(), request.url()) {
        (Method::Get, "/health") => respond(request, 200, json!({"status": "ok"})),
        (Method::Get, "/v1/models") => {
            respond(
                request,
                200,
                json!({"object": "list", "data": [{"id": name, "object": "model", "owned_by": "heatscope"}]}),
            );
        }
        (Method::Post, "/v1/chat/completions") => {
            let too_large = || {
                error_body(&format!(
                    "the request is larger than this server's {} MiB (--max-body-mib); send smaller images",
                    limits.max_body_bytes >> 20
                ))
            };
            // A declared length over the limit is refused before a byte of the body is read.
            if request.body_length().is_some_and(|n| n as u64 > limits.max_body_bytes) {
                return respond(request, 413, too_large());
            }
            let mut body = Vec::new();
            if let Err(e) = request.as_reader().take(limits.max_body_bytes + 1).read_to_end(&mut body) {
                return respond(request, 400, error_body(&format!("cannot read the body: {e}")));
            }
            if body.len() as u64 > limits.max_body_bytes {
                return respond(request, 413, too_large());
            }
            let value: serde_json::Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return respond(request, 400, error_body(&format!("the body is not JSON: {e}"))),
            };
            drop(body);
            let incoming = match openai_request::parse(value, limits.max_image_pixels) {
                Ok(i) => i,
                Err(r) => return respond(request, r.status, error_body(&r.message)),
            };
            // Check the prompt before answering 200, so that bad images or placeholders are a 400.
            let prompt = match backend.model().prepare(&incoming.chat.messages, &incoming.chat.images) {
                Ok(p) => p,
                Err(e) => return respond(request, 400, error_body(&e.to_string())),
            };
            let cid = format!("chatcmpl-heatscope-{id}");
            if incoming.stream {
                stream_answer(request, backend, incoming, prompt, StreamId::new(&cid, name));
            } else {
                let cancel = AtomicBool::new(false);
                match backend.chat_prepared(&prompt, &incoming.chat, &cancel, &mut |_| {}) {
                    Ok(reply) => {
                        let finish = finish_name(reply.finish);
                        respond(request, 200, openai::completion_body(&cid, name, &reply, finish, incoming.logprobs));
                    }
                    Err(e) => respond(request, 500, error_body(&e.to_string())),
                }
            }
        }
        _ => respond(request, 404, error_body("unknown endpoint; try POST /v1/chat/completions")),
    }
}

fn finish_name(f: Finish) -> &'static str {
    match f {
        Finish::Length => "length",
        Finish::Stop | Finish::Cancelled => "stop",
    }
}

/// Generate on another thread and stream its chunks as the response body; a hang-up cancels.
fn stream_answer(
    request: tiny_http::Request,
    backend: &Arc<LocalBackend>,
    incoming: Incoming,
    prompt: crate::models::vlm::Prepared,
    stream: StreamId,
) {
    let (tx, rx) = sync_channel::<Vec<u8>>(256);
    let cancel = Arc::new(AtomicBool::new(false));
    let (backend, cancel_gen) = (Arc::clone(backend), Arc::clone(&cancel));
    let Incoming { chat, include_usage, logprobs, .. } = incoming;
    let generation = std::thread::Builder::new().name("serve-generate".into()).spawn(move || {
        let send = |tx: &SyncSender<Vec<u8>>, line: String| {
            if tx.send(line.into_bytes()).is_err() {
                cancel_gen.store(true, Ordering::Relaxed);
            }
        };
        send(&tx, stream.role_line(include_usage));
        let mut on_token = |t: super::ChatToken<'_>| {
            let entry = logprobs
                .then(|| openai::token_logprob(t.token.unwrap_or(t.text), t.logprob.unwrap_or(0.0), t.bytes, t.top));
            send(&tx, stream.token_line(t.text, entry, include_usage));
        };
        let chat: ChatRequest = chat;
        match backend.chat_prepared(&prompt, &chat, &cancel_gen, &mut on_token) {
            Ok(reply) => {
                send(&tx, stream.finish_line(finish_name(reply.finish), include_usage));
                if include_usage {
                    send(&tx, stream.usage_line(Usage::of(&reply)));
                }
                send(&tx, "data: [DONE]\n\n".to_string());
            }
            Err(e) => send(&tx, format!("data: {}\n\n", error_body(&e.to_string()))),
        }
    });
    if let Err(e) = generation {
        let _ = request.respond(json_response(500, &error_body(&format!("cannot start generation: {e}"))));
        return;
    }
    let mut response =
        Response::new(StatusCode(200), Vec::new(), ChannelReader { rx, buf: Vec::new(), pos: 0 }, None, None);
    for (k, v) in [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")] {
        if let Ok(h) = Header::from_bytes(k, v) {
            response.add_header(h);
        }
    }
    if let Err(e) = request.respond(response) {
        tracing::debug!("client went away mid-stream: {e}");
    }
    // Whether the client hung up or the stream ended, stop generating.
    cancel.store(true, Ordering::Relaxed);
}

/// The response body: bytes from the generation thread until it hangs up.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
