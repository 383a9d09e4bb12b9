"""Records the HTTP requests the official openai Python client sends for chat completions, one JSON file
per case (method, path, headers, body), for tests/openai_clients.rs to replay against `heatscope serve`.

    pip install openai
    python3 tools/record_openai_requests.py tests/fixtures/openai_client

The recorder answers every request with HTTP 500, so the client gives up at once (max_retries=0).
Host, Content-Length, Connection and Accept-Encoding are dropped: they belong to one connection.
"""
import base64, json, sys, threading, io
from http.server import BaseHTTPRequestHandler, HTTPServer
import openai

OUT = sys.argv[1]
recorded = []

class H(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        recorded.append({"method": "POST", "path": self.path,
                         "headers": {k: v for k, v in self.headers.items()},
                         "body": json.loads(body)})
        self.send_response(500); self.send_header("Content-Type", "application/json")
        msg = b'{"error":{"message":"recording"}}'
        self.send_header("Content-Length", str(len(msg))); self.end_headers(); self.wfile.write(msg)
    def log_message(self, *a): pass

srv = HTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
client = openai.OpenAI(base_url=f"http://127.0.0.1:{srv.server_port}/v1", api_key="sk-recording", max_retries=0)

# A 16x16 grey PNG made without Pillow.
import zlib, struct
def png(w, h):
    raw = b"".join(b"\x00" + bytes([(x * 16 + y * 8) % 256 for x in range(w) for _ in range(3)]) for y in range(h))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
url = "data:image/png;base64," + base64.b64encode(png(16, 16)).decode()
image_msg = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                           {"type": "text", "text": "Which region is affected?"}]}]
text_msg = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Is the centre affected?"}]

cases = {
    "plain": dict(model="tiny", messages=text_msg),
    "image_nonstream_logprobs": dict(model="tiny", messages=image_msg, max_tokens=8, logprobs=True, top_logprobs=2, temperature=0, seed=3),
    "image_stream_usage": dict(model="tiny", messages=image_msg, stream=True, stream_options={"include_usage": True}, max_completion_tokens=8, logprobs=True, top_logprobs=2),
    "stream_no_usage": dict(model="tiny", messages=text_msg, stream=True, max_tokens=6),
    "sampling": dict(model="tiny", messages=text_msg, temperature=0.7, top_p=0.9, seed=11, max_completion_tokens=6),
    "stop_string": dict(model="tiny", messages=text_msg, stop="\n", max_tokens=12),
    "stop_list": dict(model="tiny", messages=text_msg, stop=[".", "region"], max_tokens=12),
    "n_two": dict(model="tiny", messages=text_msg, n=2, max_tokens=4),
    "json_schema": dict(model="tiny", messages=text_msg, max_tokens=4, response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {"region": {"type": "string"}}}}}),
    "json_object": dict(model="tiny", messages=text_msg, max_tokens=4, response_format={"type": "json_object"}),
    "text_format": dict(model="tiny", messages=text_msg, max_tokens=4, response_format={"type": "text"}),
    "tools": dict(model="tiny", messages=text_msg, max_tokens=4, tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]),
    "top_logprobs_without_logprobs": dict(model="tiny", messages=text_msg, max_tokens=4, top_logprobs=2),
    "frequency_penalty": dict(model="tiny", messages=text_msg, max_tokens=4, frequency_penalty=0.5),
    "user_field": dict(model="tiny", messages=text_msg, max_tokens=4, user="analyst-7"),
}
for name, kw in cases.items():
    before = len(recorded)
    try:
        r = client.chat.completions.create(**kw)
        if kw.get("stream"):
            for _ in r: pass
    except Exception as e:
        pass
    assert len(recorded) == before + 1, name
    rec = recorded[-1]
    rec["case"] = name
    for h in ["Host", "Content-Length", "Connection", "Accept-Encoding"]:
        rec["headers"].pop(h, None)
    json.dump(rec, open(f"{OUT}/{name}.json", "w"), indent=1, sort_keys=True)
print(len(recorded), "requests recorded")
