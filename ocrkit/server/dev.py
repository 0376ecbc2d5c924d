"""A development server for tests and local poking: wsgiref in a background thread, on 127.0.0.1.

Not for production: wsgiref is single-process, speaks HTTP/1.0 and has no worker management. Production
serving of the same WSGI app (gunicorn) is configured with the deploy targets.
"""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class DevServer:
    """A running dev server: `.url`, `.port`, `.close()`; also a context manager."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = make_server(
            host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ocrkit-dev-server",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> DevServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_dev(app, host: str = "127.0.0.1", port: int = 0) -> DevServer:
    """Serve a WSGI app in a background thread (tests only); port 0 picks a free port."""
    return DevServer(app, host, port)
