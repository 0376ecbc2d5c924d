"""Fixtures for model-server tests: the WSGI app served over real HTTP on 127.0.0.1 (wsgiref, tests only)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from ocrkit.server.dev import DevServer, serve_dev
from tests.gateway.imagehost import image_host  # noqa: F401 - shared fixture


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def error_code(self) -> str:
        body = self.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
        return body["error"]["code"]


def http_call(
    server: DevServer,
    method: str,
    path: str,
    body: bytes | str | dict | None = None,
    content_type: str | None = None,
    headers: dict | None = None,
) -> Reply:
    if isinstance(body, dict):
        body = json.dumps(body)
        content_type = content_type or "application/json"
    if isinstance(body, str):
        body = body.encode("utf-8")
    all_headers = dict(headers or {})
    if content_type:
        all_headers["Content-Type"] = content_type
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


@pytest.fixture
def serve() -> Iterator[Callable]:
    """serve(app) -> a running DevServer, closed after the test."""
    running: list[DevServer] = []

    def start(app) -> DevServer:
        server = serve_dev(app)
        running.append(server)
        return server

    yield start
    for server in running:
        server.close()
