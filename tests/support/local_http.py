"""A local HTTP (or HTTPS) server for the management client's tests: it answers every request
with what a test chooses and records what it received, headers included."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()


def json_answer(body: Any, status: int = 200) -> Answer:
    return Answer(status, body)


def redirect(location: str, status: int = 302) -> Answer:
    return Answer(status, None, (("Location", location),))


class LocalServer:
    """`with LocalServer(answer) as server:` serves on 127.0.0.1 (`port`, or a free one);
    `answer(received, count)` gives the answer to the count-th request (from 1)."""

    def __init__(
        self,
        answer: Callable[[Received, int], Answer],
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.received: list[Received] = []
        self.scheme = "https" if tls else "http"
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                got = Received(self.command, self.path, dict(self.headers.items()))
                server.received.append(got)
                reply = answer(got, len(server.received))
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
