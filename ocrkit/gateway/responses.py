"""Shaping answers: JSON bodies, the bare-text answer for `Accept: text/plain`, and the error body."""

from __future__ import annotations

import json
import re
import uuid

from ocrkit.gateway.errors import GatewayError
from ocrkit.gateway.messages import Headers, HttpResponse

JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> HttpResponse:
    body = json.dumps(payload, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")
    out = {"Content-Type": JSON_TYPE, "Cache-Control": "no-store"}
    out.update(headers or {})
    return HttpResponse(status, out, body)


def text_response(status: int, text: str) -> HttpResponse:
    return HttpResponse(
        status, {"Content-Type": TEXT_TYPE, "Cache-Control": "no-store"}, text.encode("utf-8")
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> HttpResponse:
    """Errors are always JSON `{"error": {"code", "message"}}`, whatever the client asked to accept."""
    return json_response(status, {"error": {"code": str(code), "message": message}}, headers)


def gateway_error_response(exc: GatewayError) -> HttpResponse:
    headers = {"Allow": exc.allow} if getattr(exc, "allow", None) else None
    return error_response(exc.status, exc.code, exc.message, headers)


def prefers_text(accept: str | None) -> bool:
    """True when the client ranks text/plain above application/json (`Accept: text/plain`)."""
    if not accept:
        return False
    best_text = -1.0
    best_json = -1.0
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        q = 1.0
        for param in pieces[1:]:
            if param.lower().startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if media == "text/plain":
            best_text = max(best_text, q)
        elif media in ("application/json", "application/*"):
            best_json = max(best_json, q)
    return best_text > 0 and best_text >= best_json


def request_id(headers: Headers) -> str:
    """Echo a well-formed `X-Request-Id` from the client or the platform; otherwise make one."""
    for name in ("x-request-id", "x-amzn-requestid", "x-cloud-trace-context"):
        value = headers.get(name, "").strip()
        if name == "x-cloud-trace-context":
            value = value.split("/", 1)[0]
        if value and _REQUEST_ID.match(value):
            return value
    return uuid.uuid4().hex
