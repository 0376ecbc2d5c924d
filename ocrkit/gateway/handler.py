"""The gateway: one provider-neutral function from HttpRequest to HttpResponse.

`POST /predict` (and `POST /` for function-style entry points) with an image, base64 JSON or an image URL
answers `200 {"text", "confidence", "model", "latency_ms"}`, or `{"results": [...], ...}` for a batch;
with `Accept: text/plain` the body is the recognised text alone (one line per image for a batch).
Every refusal is `{"error": {"code", "message"}}`; see `ocrkit.gateway.errors.Code` for the codes.
A client mistake is never a 500; an unexpected exception is a 500 with a generic message, logged with the
request id, and no traceback in the body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from ocrkit.gateway.backend import (
    Backend,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    check_predictions,
)
from ocrkit.gateway.errors import Code, GatewayError
from ocrkit.gateway.fetch import UrlFetcher
from ocrkit.gateway.inputs import Fetcher, ParsedInput, decode_body, parse_body
from ocrkit.gateway.limits import Limits
from ocrkit.gateway.messages import HttpRequest, HttpResponse
from ocrkit.gateway.responses import (
    error_response,
    gateway_error_response,
    json_response,
    prefers_text,
    request_id,
    text_response,
)
from ocrkit.prediction import ImageDecodeError, Prediction

log = logging.getLogger("ocrkit.gateway")
DEFAULT_PATHS = ("/predict", "/")
_TRUE = ("1", "true", "yes", "on")


class Gateway:
    """`Gateway(backend, limits).handle(request) -> response`.

    `fetcher` fetches `{"url": ...}` inputs (default: `UrlFetcher(limits)`); `url_input=False` in the
    limits refuses them. `paths` are the routes that accept predictions.
    """

    def __init__(
        self,
        backend: Backend,
        limits: Limits | None = None,
        *,
        fetcher: Fetcher | None = None,
        paths: Iterable[str] = DEFAULT_PATHS,
        model_name: str | None = None,
    ) -> None:
        self.backend = backend
        self.limits = limits or Limits()
        self.paths = frozenset(normalise_path(p) for p in paths)
        self.model_name = model_name or getattr(backend, "name", None) or "ocrkit"
        if not self.limits.url_input:
            self.fetcher: Fetcher | None = None
        else:
            self.fetcher = fetcher or UrlFetcher(self.limits)

    def handle(self, request: HttpRequest) -> HttpResponse:
        rid = request_id(request.headers)
        started = time.perf_counter()
        response = guarded(lambda: self._route(request, started), rid)
        response.headers["X-Request-Id"] = rid
        return response

    # -- steps --------------------------------------------------------------------------------------

    def _route(self, request: HttpRequest, started: float) -> HttpResponse:
        if normalise_path(request.path) not in self.paths:
            raise GatewayError(404, Code.NOT_FOUND, f"no route {request.path}; POST images to /predict")
        if request.method != "POST":
            raise GatewayError(
                405, Code.METHOD_NOT_ALLOWED, f"{request.method} is not allowed here; use POST", allow="POST"
            )
        return self.respond(request, started)

    def respond(self, request: HttpRequest, started: float) -> HttpResponse:
        """The prediction itself, for a request already routed here; raises on refusal."""
        parsed = self.parse(request)
        # The model's deadline counts from the request's arrival: time spent fetching a URL comes out of
        # it, so the gateway answers before the platform in front of it (API Gateway: 30 s) gives up.
        left = self.limits.backend_timeout_s - (time.perf_counter() - started)
        if left <= 0:
            raise BackendTimeout("fetching the image used up the time for this request")
        predictions = self.predict(parsed, timeout_s=left)
        return render(
            predictions,
            parsed,
            accept=request.headers.get("accept"),
            model=self.model_name,
            started=started,
        )

    def parse(self, request: HttpRequest, *, fetch_urls: bool = True) -> ParsedInput:
        refuse_encoded(request)
        body = decode_body(request.body, request.is_base64, self.limits)
        fetcher = self.fetcher if fetch_urls else None
        parsed = parse_body(body, request.headers.get("content-type", ""), self.limits, fetcher=fetcher)
        if request.query.get("char_probs", "").lower() in _TRUE:
            parsed = ParsedInput(parsed.images, parsed.batch, True)
        return parsed

    def predict(self, parsed: ParsedInput, *, timeout_s: float | None = None) -> list[Prediction]:
        payloads = parsed.payloads
        limit = self.limits.backend_timeout_s if timeout_s is None else timeout_s
        result = self.backend.predict(payloads, timeout_s=limit)
        return check_predictions(result, len(payloads))


def render(
    predictions: list[Prediction],
    parsed: ParsedInput,
    *,
    accept: str | None,
    model: str | None,
    started: float | None,
) -> HttpResponse:
    """The success answer: JSON by default, the bare text for `Accept: text/plain`."""
    if prefers_text(accept):
        return text_response(200, "\n".join(p.text for p in predictions))
    items = [p.to_json(with_char_probs=parsed.char_probs) for p in predictions]
    payload: dict = {"results": items} if parsed.batch else dict(items[0])
    if model:
        payload["model"] = model
    if started is not None:
        payload["latency_ms"] = round((time.perf_counter() - started) * 1000.0, 1)
    return json_response(200, payload)


def guarded(step, rid: str) -> HttpResponse:
    """Run one request step and turn every exception into the contract's error answer."""
    try:
        return step()
    except GatewayError as exc:
        return gateway_error_response(exc)
    except ImageDecodeError as exc:
        return error_response(400, Code.UNDECODABLE_IMAGE, f"the image could not be decoded: {exc.message}")
    except BackendTimeout as exc:
        return error_response(504, Code.BACKEND_TIMEOUT, exc.message)
    except BackendUnavailable as exc:
        return error_response(503, Code.MODEL_NOT_READY, exc.message, {"Retry-After": "5"})
    except BackendError as exc:
        return error_response(502, Code.BACKEND_FAILED, exc.message)
    except Exception:
        log.exception("unexpected error handling request %s", rid)
        return error_response(
            500, Code.INTERNAL_ERROR, f"internal error; quote request id {rid} when reporting it"
        )


def refuse_encoded(request: HttpRequest) -> None:
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding and encoding != "identity":
        raise GatewayError(
            415,
            Code.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Encoding {encoding} is not accepted; send the body as is",
        )


def normalise_path(path: str) -> str:
    path = path.split("?", 1)[0] or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path
