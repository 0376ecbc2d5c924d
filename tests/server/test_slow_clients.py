"""Hostile-but-fair clients against a real `ocrkit serve --workers 1`: heads trickled a byte at a time,
bodies that never finish, malformed HTTP and malformed chunked bodies. Health checks keep answering,
slow requests are dropped with 408, and every protocol error is a 4xx JSON envelope, never a 500 or
gunicorn's HTML page."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time

import pytest

from tests.gateway.imagegen import make_png
from tests.loadtest.servers import get, post, running_server

PNG = make_png(40, 10)
ECHO = ["--predictor", "tests.loadtest.fakes:echo", "--workers", "1"]


def raw_exchange(port: int, data: bytes, *, shut: bool = False, timeout: float = 20.0) -> bytes:
    """Send bytes as they are; read the answer until the server closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def status_and_json(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), answer[:400]
    return status, json.loads(body)


@pytest.mark.slow
def test_45_trickling_clients_do_not_stop_health_checks(tmp_path) -> None:
    """45 connections sending one header byte every 2 s (more than the worker's 40 threads)."""
    head = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
    with running_server(ECHO, tmp_path=tmp_path) as served:
        socks = [socket.create_connection(("127.0.0.1", served.port), timeout=5) for _ in range(45)]
        stop = threading.Event()

        def trickle() -> None:
            i = 0
            while not stop.is_set() and i < len(head):
                for sock in socks:
                    with contextlib.suppress(OSError):
                        sock.send(head[i : i + 1])
                i += 1
                stop.wait(2.0)

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        try:
            time.sleep(1.0)  # every connection has sent its first byte
            answered = 0
            for _ in range(5):
                with contextlib.suppress(OSError, http.client.HTTPException):
                    answered += get(served.url, "/ping", timeout=3.0)[0] == 200
            assert answered == 5  # before: 0 of 5 (every thread waited on a trickled head)
            assert post(served.url, "/predict", PNG, "image/png", timeout=5.0)[0] == 200
        finally:
            stop.set()
            thread.join(5)
            for sock in socks:
                sock.close()


@pytest.mark.slow
def test_heads_and_bodies_that_do_not_arrive_in_time_get_408(tmp_path) -> None:
    args = [*ECHO, "--header-timeout", "1", "--body-timeout", "1"]
    with running_server(args, tmp_path=tmp_path) as served:
        partial_head = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        status, body = status_and_json(raw_exchange(served.port, partial_head))
        assert (status, body["error"]["code"]) == (408, "request_timeout")
        partial_body = (
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
            b"Content-Length: 1000\r\n\r\n" + PNG[:20]
        )
        status, body = status_and_json(raw_exchange(served.port, partial_body))
        assert (status, body["error"]["code"]) == (408, "request_timeout")
        assert get(served.url, "/ping")[0] == 200
    assert "Traceback" not in served.log_text()


CHUNKED = (
    b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # chunk size not hex
        b"3\r\nabcX\r\n0\r\n\r\n",  # no CRLF after the chunk data
        b"3;\x00\r\nabc\r\n0\r\n\r\n",  # a control character in a chunk extension
        b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",  # a chunk size beyond any limit
        b"3\r\nabc\r\n0\r\nno colon here\r\n\r\n",  # a malformed trailer
    ],
)
def test_malformed_chunked_bodies_are_400_json(tmp_path, body: bytes) -> None:
    with running_server(ECHO, tmp_path=tmp_path) as served:
        status, doc = status_and_json(raw_exchange(served.port, CHUNKED + body, shut=True))
        assert 400 <= status < 500, doc  # before: 500 internal_error
        assert set(doc) == {"error"} and doc["error"]["code"] in ("bad_request", "request_too_large")
        assert get(served.url, "/ping")[0] == 200
    assert "Traceback" not in served.log_text()


@pytest.mark.slow
def test_protocol_errors_answer_with_the_json_envelope(tmp_path) -> None:
    with running_server(ECHO, tmp_path=tmp_path) as served:
        for request in (
            b"GARBAGE\r\n\r\n",
            b"GET /ping HTTP/9.9\r\nHost: x\r\n\r\n",
            b"GET /ping HTTP/1.1\r\nBad Header\r\n\r\n",
            b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            answer = raw_exchange(served.port, request)
            assert b"<html" not in answer.lower()  # before: gunicorn's HTML page
            status, doc = status_and_json(answer)
            assert 400 <= status < 500 and doc["error"]["code"] in ("bad_request", "uri_too_long"), doc
