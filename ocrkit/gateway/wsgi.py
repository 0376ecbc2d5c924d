"""WSGI environ <-> HttpRequest / HttpResponse, for the model server and any WSGI host."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from http import HTTPStatus
from urllib.parse import parse_qsl

from ocrkit.gateway.errors import Code, GatewayError, bad_request, too_large
from ocrkit.gateway.messages import HttpRequest, HttpResponse

_CHUNK = 64 * 1024
# After refusing an oversize body, read (and drop) up to this much of it, so that the client sees the 413
# instead of a connection reset; anything larger is left unread and the connection closes.
DRAIN_LIMIT = 16 * 1024 * 1024


def request_from_environ(environ: dict, *, max_body_bytes: int) -> HttpRequest:
    """Build an HttpRequest; raise a 413 GatewayError when the body is over `max_body_bytes`."""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").title(), value))
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", environ["CONTENT_TYPE"]))
    if environ.get("CONTENT_LENGTH"):
        headers.append(("Content-Length", environ["CONTENT_LENGTH"]))
    body = read_body(environ, max_body_bytes)
    path = environ.get("PATH_INFO", "") or "/"
    with contextlib.suppress(UnicodeError):
        path = path.encode("latin-1").decode("utf-8")
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    return HttpRequest(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=path,
        headers=headers,
        body=body,
        query=query,
    )


def read_body(environ: dict, max_body_bytes: int) -> bytes:
    """The body, at most `max_body_bytes` (413 beyond). A body that cannot be read is the client's doing:
    malformed chunked framing -> 400 `bad_request`, one that does not arrive in time (the server's read
    deadline, a TimeoutError) -> 408 `request_timeout`; both close the connection."""
    try:
        return _read_body(environ, max_body_bytes)
    except GatewayError:
        raise
    except TimeoutError:
        raise GatewayError(
            408, Code.REQUEST_TIMEOUT, "the request body did not arrive in time; send it at once"
        ) from None
    except Exception as exc:  # the server's reader: bad chunk sizes, missing terminators, early EOF
        raise bad_request(
            Code.BAD_REQUEST, f"the request body could not be read ({type(exc).__name__}: {exc})"[:300]
        ) from None


def _read_body(environ: dict, max_body_bytes: int) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    raw_length = (environ.get("CONTENT_LENGTH") or "").strip()
    if raw_length:
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0:
            raise too_large(Code.REQUEST_TOO_LARGE, "the Content-Length header is not a number")
        if length > max_body_bytes:
            _drain(stream, length)
            raise too_large(
                Code.REQUEST_TOO_LARGE,
                f"the request body is {length:,} bytes; the limit is {max_body_bytes:,} bytes",
            )
        return read_upto(stream, length)
    if environ.get("wsgi.input_terminated"):  # chunked upload, the server marks the end
        body = read_upto(stream, max_body_bytes + 1)
        if len(body) > max_body_bytes:
            raise too_large(Code.REQUEST_TOO_LARGE, f"the request body is over {max_body_bytes:,} bytes")
        return body
    return b""


def read_upto(stream, limit: int) -> bytes:
    parts: list[bytes] = []
    left = limit
    while left > 0:
        chunk = stream.read(min(_CHUNK, left))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _drain(stream, length: int) -> None:
    if length > DRAIN_LIMIT:
        return
    left = length
    while left > 0:
        chunk = stream.read(min(_CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)


def send(response: HttpResponse, start_response: Callable) -> Iterable[bytes]:
    """Hand an HttpResponse to a WSGI server."""
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    headers = [(name, value) for name, value in response.headers.items() if name.lower() != "content-length"]
    headers.append(("Content-Length", str(len(response.body))))
    start_response(f"{response.status} {reason}", headers)
    return [response.body]
