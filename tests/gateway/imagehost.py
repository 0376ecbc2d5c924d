"""A local image host on 127.0.0.1 (http.server in a thread) for URL-input tests, as a pytest fixture."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.gateway.imagegen import make_png


@dataclass
class ImageHost:
    """A tiny HTTP server: path -> (status, headers, body) or a callable; records the requests."""

    server: ThreadingHTTPServer
    routes: dict = field(default_factory=dict)
    seen: list = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def image_host() -> Iterator[ImageHost]:
    routes: dict = {}
    seen: list = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            seen.append({"path": self.path, "headers": dict(self.headers)})
            route = routes.get(self.path)
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if callable(route):
                route(self)
                return
            status, headers, body = route
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host = ImageHost(server, routes, seen)
    routes["/line.png"] = (200, {"Content-Type": "image/png"}, make_png(40, 10))
    yield host
    server.shutdown()
    server.server_close()


def slow_route(delay: float):
    def handler(req: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        body = make_png()
        req.send_response(200)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    return handler


def endless_route(req: BaseHTTPRequestHandler) -> None:
    """Streams far more than any limit, without a Content-Length."""
    req.send_response(200)
    req.send_header("Content-Type", "image/png")
    req.end_headers()
    chunk = make_png()[:64] + b"\x00" * 65536
    try:
        for _ in range(400):
            req.wfile.write(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
