"""A small TCP proxy for fault injection: it sits between a client and the broker, can cut
every connection through it, and can terminate TLS with a given certificate. The shared
broker itself is never restarted."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from types import TracebackType


class TcpProxy:
    def __init__(self, target: tuple[str, int], tls: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.tls = tls
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.connections = 0  # accepted so far
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def cut(self) -> None:
        """Close every open connection through the proxy, as a network failure would."""
        if self._close_all():
            self.cuts += 1

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            # Wakes the accept() in progress: closing the socket alone does not, and it would let
            # one more connection through.
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._close_all()

    def _close_all(self) -> bool:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        return bool(sockets)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            if self.tls is not None:
                client = self.tls.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()  # a failed TLS handshake: the client sees the connection end
            return
        with self._lock:
            self.connections += 1
            self._sockets.update((client, upstream))
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
