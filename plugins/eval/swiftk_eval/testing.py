"""For tests of `swiftk eval` and its backends: an OpenAI-compatible server on 127.0.0.1 that answers every
chat request with the same text.

A real HTTP server (stdlib), so the evaluation path is exercised end to end; its answer is fixed, so a
benchmark's score can be computed by hand.  It records each request it served.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional


class FixedServer:
    def __init__(self, answer: str, model: str = "fixed", api_key: Optional[str] = None):
        self.answer, self.model, self.api_key = answer, model, api_key
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                return not server.api_key or self.headers.get("Authorization") == f"Bearer {server.api_key}"

            def do_GET(self):
                if not self._authorized():
                    return self._send(401, {"error": {"message": "bad key"}})
                if self.path.rstrip("/").endswith("/models"):
                    return self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self._authorized():
                    return self._send(401, {"error": {"message": "bad key"}})
                if body.get("model") not in (None, server.model):
                    return self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist"}})
                server.requests.append(body)
                message = {"role": "assistant", "content": server.answer}
                self._send(200, {
                    "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": 0,
                    "model": body.get("model", server.model),
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })  # fmt: skip

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "FixedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
