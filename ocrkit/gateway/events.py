"""Platform request shapes -> HttpRequest, and HttpResponse -> the platform's answer.

- AWS API Gateway HTTP API (payload 2.0), Lambda function URLs (same shape) and REST API (payload 1.0)
  events, for the Lambda `handler(event, context)`;
- a Flask/Werkzeug request (Cloud Functions 2nd gen via functions-framework), read by duck typing so
  that nothing here imports Flask.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from ocrkit.gateway.messages import HttpRequest, HttpResponse
from ocrkit.gateway.wsgi import read_upto


def request_from_apigw(event: Mapping) -> HttpRequest:
    """An API Gateway / function URL event as an HttpRequest (the body stays base64 if it was)."""
    context = event.get("requestContext") or {}
    if event.get("version") == "2.0" or "rawPath" in event:
        method = ((context.get("http") or {}).get("method")) or "GET"
        path = event.get("rawPath") or "/"
        stage = context.get("stage")
        if stage and stage != "$default" and (path == f"/{stage}" or path.startswith(f"/{stage}/")):
            path = path[len(stage) + 1 :] or "/"
        headers = dict(event.get("headers") or {})
        if event.get("cookies"):
            headers["cookie"] = "; ".join(event["cookies"])
        query = {k: v.split(",")[0] for k, v in (event.get("queryStringParameters") or {}).items()}
    else:
        method = event.get("httpMethod") or "GET"
        path = event.get("path") or "/"
        multi = event.get("multiValueHeaders") or {}
        headers = (
            {k: ", ".join(v) for k, v in multi.items() if v} if multi else dict(event.get("headers") or {})
        )
        query = dict(event.get("queryStringParameters") or {})
    body = event.get("body")
    if body is None:
        body = b""
    return HttpRequest(
        method=method,
        path=path,
        headers=headers,
        body=body.encode("utf-8") if isinstance(body, str) else bytes(body),
        is_base64=bool(event.get("isBase64Encoded")),
        query=query,
    )


def response_to_apigw(response: HttpResponse) -> dict:
    """The Lambda proxy-integration answer. Text bodies go as text, anything else as base64."""
    try:
        text = response.body.decode("utf-8")
        is_base64 = False
    except UnicodeDecodeError:
        text = base64.b64encode(response.body).decode("ascii")
        is_base64 = True
    return {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": text,
        "isBase64Encoded": is_base64,
    }


def request_from_flask(request: object, *, max_body_bytes: int) -> HttpRequest:
    """A Flask/Werkzeug request as an HttpRequest (Cloud Functions' `predict(request)`).

    Reads at most `max_body_bytes + 1` bytes, so the gateway still sees that the body is over the limit.
    """
    body = read_upto(request.stream, max_body_bytes + 1)  # type: ignore[attr-defined]
    return HttpRequest(
        method=request.method,  # type: ignore[attr-defined]
        path=request.path,  # type: ignore[attr-defined]
        headers=list(request.headers.items()),  # type: ignore[attr-defined]
        body=body,
        query={k: v for k, v in request.args.items()},  # type: ignore[attr-defined]
    )
