"""The gunicorn worker of `ocrkit serve`: gthread, plus read deadlines and JSON protocol errors.

gunicorn's gthread worker hands a connection to a thread as soon as its first byte arrives; the thread
then blocks until the whole request head is in. 45 clients trickling one header byte every 2 s held
all 40 threads of a worker, and `/ping` stopped answering. Here:

- request heads are collected by the worker's main loop, without a thread: a connection goes to a
  thread only once its head is complete (or over `MAX_HEAD_BYTES`, for gunicorn to refuse). A head not
  complete within `header_timeout_s` (default 10 s, `OCRKIT_HEADER_TIMEOUT_S`) from its first byte
  wait is answered 408 `request_timeout` and closed: slow clients cost a socket, never a thread;
- once a thread has the request, every read of the socket (the rest of the head, the body) is bounded
  by one deadline: `body_timeout_s` (default 30 s, `OCRKIT_BODY_TIMEOUT_S`) for the whole body, so a
  body trickled byte by byte is answered 408 too (`ocrkit.gateway.wsgi.read_body`);
- a POST that the app would refuse for overload (`ProductionApp.shed_now`) is refused by the main loop
  as soon as its head is in: no thread, no HTTP parsing, no WSGI call. Its 503 is sent after
  `shed_delay_s` (`OCRKIT_SHED_DELAY_S`; `ocrkit serve` sets it to the Retry-After, 1 s) and the
  connection closed, so a client that ignores Retry-After and resends at once is refused no more often
  than the header asks (each refusal still costs this loop about half a millisecond of CPU); the
  request threads and the model keep the CPU (a retry storm of 64 clients once cut good answers to a
  third);
- errors in the HTTP message itself (a bad request line, bad chunked framing, ...) are answered with
  the JSON error envelope every other error uses, not gunicorn's HTML page.

Imported by gunicorn only (`worker_class`), in the server process.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import socket
import time
from functools import partial

from gunicorn import util
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import TConn, ThreadWorker

from ocrkit.gateway.errors import Code

HEADER_TIMEOUT_ENV = "OCRKIT_HEADER_TIMEOUT_S"
BODY_TIMEOUT_ENV = "OCRKIT_BODY_TIMEOUT_S"
SHED_DELAY_ENV = "OCRKIT_SHED_DELAY_S"
DEFAULT_SHED_DELAY_S = 1.0  # the Retry-After ocrkit serve sends
LINGER_S = 2.0  # after a refusal, unread request bytes are read and dropped this long (no RST)
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 30.0
MAX_HEAD_BYTES = 64 * 1024  # above gunicorn's own limits (8190-byte request line, 100 x 8190 headers)
_CODES = {
    400: Code.BAD_REQUEST,
    408: Code.REQUEST_TIMEOUT,
    414: Code.URI_TOO_LONG,
    431: Code.HEADERS_TOO_LARGE,
    501: Code.NOT_IMPLEMENTED,
}


class RequestTimeout(NoMoreData, TimeoutError):
    """The request did not arrive within its deadline (gunicorn closes quietly; the app answers 408)."""


def error_bytes(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error answer with the JSON error envelope, closing the connection."""
    code = _CODES.get(status, Code.BAD_REQUEST if status < 500 else Code.INTERNAL_ERROR)
    text = message or reason
    body = json.dumps({"error": {"code": str(code), "message": text[:300]}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    util.write_nonblock(sock, error_bytes(int(status_int), reason, mesg))


def _seconds(name: str, default: float, *, zero_ok: bool = False) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 or (zero_ok and value == 0) else default


class _DeadlineSocket:
    """The parser's view of a client socket: every recv ends by `deadline` (monotonic), if one is set."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._timeout: float | None = None
        self.deadline: float | None = None

    def gettimeout(self) -> float | None:
        return self._timeout

    def settimeout(self, value: float | None) -> None:
        self._timeout = value

    def recv(self, size: int) -> bytes:
        timeout = self._timeout
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise RequestTimeout("the request did not arrive in time")
            timeout = left if timeout is None else min(timeout, left)
        self._sock.settimeout(timeout)
        try:
            return self._sock.recv(size)
        except TimeoutError:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise RequestTimeout("the request did not arrive in time") from None
            raise
        finally:
            self._sock.settimeout(None)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class OcrkitWorker(ThreadWorker):
    """gthread with head collection in the main loop and read deadlines (see the module doc)."""

    def init_process(self) -> None:
        self.header_timeout_s = _seconds(HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT_S)
        self.body_timeout_s = _seconds(BODY_TIMEOUT_ENV, DEFAULT_BODY_TIMEOUT_S)
        self.shed_delay_s = _seconds(SHED_DELAY_ENV, DEFAULT_SHED_DELAY_S, zero_ok=True)
        self.collecting: list[TConn] = []
        self.tarpit: list[tuple[float, TConn, bytes]] = []  # refused: (when to answer, conn, answer)
        self.lingering: list[tuple[float, TConn]] = []  # answered and half-closed: (close by, conn)
        # gunicorn answers protocol errors through util.write_error (an HTML page); this process answers
        # them with the JSON envelope instead.
        util.write_error = _write_json_error
        super().init_process()  # runs the main loop

    # -- heads, collected in the main loop -------------------------------------------------------------

    def accept(self, listener) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._collect(TConn(self.cfg, client_sock, client_addr, listener.getsockname()))

    def on_client_socket_readable(self, conn, client) -> None:
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._collect(conn)

    def on_pending_socket_readable(self, conn, client) -> None:
        self.poller.unregister(client)
        self.pending_conns.remove(conn)
        self._collect(conn)

    def _collect(self, conn) -> None:
        conn.sock.setblocking(False)
        conn.ocrkit_head = bytearray()
        conn.ocrkit_deadline = time.monotonic() + self.header_timeout_s
        self.collecting.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_readable, conn))

    def _on_head_readable(self, conn, client) -> None:
        try:
            data = conn.sock.recv(MAX_HEAD_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before sending a request
            self._stop_collecting(conn)
            self._close(conn)
            return
        conn.ocrkit_head += data
        if b"\r\n\r\n" in conn.ocrkit_head or len(conn.ocrkit_head) >= MAX_HEAD_BYTES:
            self._stop_collecting(conn)
            answer = self._shed_answer(conn.ocrkit_head)
            if answer is not None:
                self.tarpit.append((time.monotonic() + self.shed_delay_s, conn, answer))
                return
            conn.data_ready = True
            self.enqueue_req(conn)

    def _shed_answer(self, head: bytearray) -> bytes | None:
        shed_now = getattr(self.wsgi, "shed_now", None)
        if shed_now is None or not head.startswith(b"POST "):
            return None
        line = bytes(head[: head.find(b"\r\n")])
        parts = line.split(b" ")
        if len(parts) != 3:
            return None  # a malformed request line: gunicorn answers it
        path = parts[1].split(b"?", 1)[0].decode("latin-1")
        return shed_now("POST", path)

    def _answer_refused(self, now: float) -> None:
        due = [item for item in self.tarpit if item[0] <= now]
        if not due:
            return
        self.tarpit = [item for item in self.tarpit if item[0] > now]
        for _, conn, answer in due:
            self._discard_input(conn)
            try:
                conn.sock.send(answer)
                conn.sock.shutdown(socket.SHUT_WR)
            except OSError:
                self._close(conn)
                continue
            self.lingering.append((now + LINGER_S, conn))
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_linger_readable, conn))

    def _discard_input(self, conn) -> bool:
        """Read and drop what the client sent; True at end of stream."""
        try:
            for _ in range(64):
                if not conn.sock.recv(65536):
                    return True
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        return False

    def _on_linger_readable(self, conn, client) -> None:
        if self._discard_input(conn):
            self._end_linger(conn)

    def _end_linger(self, conn) -> None:
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(conn.sock)
        self.lingering = [item for item in self.lingering if item[1] is not conn]
        self._close(conn)

    def _stop_collecting(self, conn) -> None:
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(conn.sock)
        self.collecting.remove(conn)

    def _close(self, conn) -> None:
        self.nr_conns -= 1
        conn.close()

    def wait_for_and_dispatch_events(self, timeout):
        if self.tarpit:  # wake up when the next refusal is due
            timeout = max(0.0, min(timeout, min(item[0] for item in self.tarpit) - time.monotonic()))
        return super().wait_for_and_dispatch_events(timeout)

    def murder_keepalived(self, force: bool = False) -> None:
        super().murder_keepalived(force)
        now = time.monotonic()
        self._answer_refused(float("inf") if force else now)
        for _, conn in [item for item in self.lingering if force or item[0] <= now]:
            self._end_linger(conn)
        for conn in [c for c in self.collecting if force or c.ocrkit_deadline <= now]:
            self._stop_collecting(conn)
            if conn.ocrkit_head:  # a request was started: say why it is dropped
                with contextlib.suppress(OSError):
                    conn.sock.send(
                        error_bytes(408, "Request Timeout", "the request headers did not arrive in time")
                    )
            self._close(conn)

    # -- requests, in a thread ----------------------------------------------------------------------

    def handle(self, conn):
        head = getattr(conn, "ocrkit_head", None)
        if head is not None:
            conn.ocrkit_head = None
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(head))
        if conn.parser is not None and not getattr(conn, "is_http2", False):
            reader = conn.parser.unreader
            if not isinstance(reader.sock, _DeadlineSocket):
                reader.sock = _DeadlineSocket(reader.sock)
            reader.sock.deadline = time.monotonic() + self.header_timeout_s
        return super().handle(conn)

    def handle_request(self, req, conn):
        sock = getattr(conn.parser.unreader, "sock", None) if conn.parser is not None else None
        if isinstance(sock, _DeadlineSocket):
            sock.deadline = time.monotonic() + self.body_timeout_s
        try:
            return super().handle_request(req, conn)
        finally:
            if isinstance(sock, _DeadlineSocket):
                sock.deadline = None
