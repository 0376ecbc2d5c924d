"""The model server: one WSGI application speaking every contract, backed by one Predictor or Backend.

Routes:

| method | path                         | contract                                                       |
|--------|------------------------------|----------------------------------------------------------------|
| POST   | /predict                     | the gateway's (image, base64 JSON or image URL; see gateway)    |
| GET    | /ping                        | SageMaker health: 200 once the model is loaded, else 503        |
| POST   | /invocations                 | SageMaker inference (raw image or base64 JSON; no URLs)         |
| GET    | $AIP_HEALTH_ROUTE (/health)  | Vertex AI health: 200 once the model is loaded, else 503        |
| POST   | $AIP_PREDICT_ROUTE           | Vertex AI `{"instances": [...]}` -> `{"predictions": [...]}`    |
| GET    | /healthz                     | liveness: 200 while the process serves, with `ready` in the body |

When `AIP_PREDICT_ROUTE` is `/predict` (or `/invocations`) the route answers both: a JSON body with
`"instances"` is read as a Vertex request, anything else as the route's own contract.

Production serving (gunicorn) is configured elsewhere; `ocrkit.server.dev.serve_dev` is for tests.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping

from ocrkit.gateway.backend import Backend, as_backend, check_predictions
from ocrkit.gateway.errors import Code, GatewayError
from ocrkit.gateway.handler import Gateway, guarded, normalise_path, refuse_encoded
from ocrkit.gateway.inputs import Fetcher, ParsedInput, load_json
from ocrkit.gateway.limits import Limits
from ocrkit.gateway.messages import Headers, HttpRequest, HttpResponse
from ocrkit.gateway.responses import error_response, gateway_error_response, json_response, request_id
from ocrkit.gateway.wsgi import request_from_environ, send
from ocrkit.server.sagemaker import parse_invocation, render_invocation
from ocrkit.server.vertex import VertexRoutes, is_vertex_document, parse_instances, render_predictions

log = logging.getLogger("ocrkit.server")
Handler = Callable[[HttpRequest, float], HttpResponse]


class ServerApp:
    """A WSGI callable. `app.handle(HttpRequest)` serves the same routes without a WSGI server."""

    def __init__(
        self,
        backend: Backend,
        limits: Limits,
        *,
        vertex: VertexRoutes,
        fetcher: Fetcher | None = None,
        model_name: str | None = None,
    ) -> None:
        self.backend = backend
        self.limits = limits
        self.vertex = vertex
        self.gateway = Gateway(backend, limits, fetcher=fetcher, paths=("/predict",), model_name=model_name)
        self.model_name = self.gateway.model_name
        self._routes: dict[str, dict[str, Handler]] = {}
        self._add("GET", "/ping", self._ready_check)
        self._add("GET", "/healthz", self._liveness)
        self._add("POST", "/invocations", self._invocations)
        self._add("POST", "/predict", self.gateway.respond)
        self._add("GET", vertex.health, self._ready_check)
        fallback = self._routes.get(normalise_path(vertex.predict), {}).get("POST")
        self._add("POST", vertex.predict, self._vertex_predict_with(fallback))

    def _add(self, method: str, path: str, handler: Handler) -> None:
        self._routes.setdefault(normalise_path(path), {})[method] = handler

    @property
    def routes(self) -> dict[str, tuple[str, ...]]:
        return {path: tuple(sorted(methods)) for path, methods in self._routes.items()}

    # -- entry points -------------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            request = request_from_environ(environ, max_body_bytes=self.limits.max_request_bytes)
        except GatewayError as exc:
            response = gateway_error_response(exc)
            response.headers["X-Request-Id"] = request_id_from_environ(environ)
            if exc.code in (Code.BAD_REQUEST, Code.REQUEST_TIMEOUT):
                # the body was not read to its end: where a next request would start is unknown
                response.headers["Connection"] = "close"
            return send(response, start_response)
        except Exception:
            log.exception("could not read the request")
            response = error_response(500, Code.INTERNAL_ERROR, "internal error reading the request")
            return send(response, start_response)
        return send(self.handle(request), start_response)

    def handle(self, request: HttpRequest) -> HttpResponse:
        rid = request_id(request.headers)
        started = time.perf_counter()
        response = guarded(lambda: self._dispatch(request, started), rid)
        response.headers["X-Request-Id"] = rid
        return response

    def _dispatch(self, request: HttpRequest, started: float) -> HttpResponse:
        methods = self._routes.get(normalise_path(request.path))
        if methods is None:
            raise GatewayError(404, Code.NOT_FOUND, f"no route {request.path}")
        handler = methods.get(request.method)
        if handler is None:
            allow = ", ".join(sorted(methods))
            raise GatewayError(
                405,
                Code.METHOD_NOT_ALLOWED,
                f"{request.method} is not allowed here; use {allow}",
                allow=allow,
            )
        return handler(request, started)

    # -- routes -------------------------------------------------------------------------------------

    def is_ready(self) -> bool:
        ready = getattr(self.backend, "ready", None)
        return True if ready is None else bool(ready())

    def _ready_check(self, request: HttpRequest, started: float) -> HttpResponse:
        if self.is_ready():
            return json_response(200, {"status": "ok", "model": self.model_name})
        message = getattr(self.backend, "status_message", lambda: "the model is not loaded yet")()
        return error_response(503, Code.MODEL_NOT_READY, message, {"Retry-After": "5"})

    def _liveness(self, request: HttpRequest, started: float) -> HttpResponse:
        return json_response(200, {"status": "ok", "ready": self.is_ready(), "model": self.model_name})

    def _invocations(self, request: HttpRequest, started: float) -> HttpResponse:
        refuse_encoded(request)
        parsed = parse_invocation(request.body, request.headers.get("content-type"), self.limits)
        predictions = self._predict(parsed)
        return render_invocation(predictions, parsed, request.headers.get("accept"))

    def _vertex_predict_with(self, fallback: Handler | None) -> Handler:
        def vertex_predict(request: HttpRequest, started: float) -> HttpResponse:
            if fallback is not None:
                media = request.content_type
                if media not in ("", "application/json") or not request.body.lstrip().startswith(b"{"):
                    return fallback(request, started)
                doc = load_json(request.body)
                if not is_vertex_document(doc):
                    return fallback(request, started)
            else:
                if request.content_type not in ("", "application/json"):
                    raise GatewayError(
                        415, Code.UNSUPPORTED_MEDIA_TYPE, 'send application/json {"instances": [...]}'
                    )
                if not request.body:
                    raise GatewayError(
                        400, Code.EMPTY_BODY, 'the request body is empty; send {"instances": [...]}'
                    )
                doc = load_json(request.body)
            parsed = parse_instances(doc, self.limits)
            return render_predictions(self._predict(parsed), parsed)

        return vertex_predict

    def _predict(self, parsed: ParsedInput) -> list:
        payloads = parsed.payloads
        result = self.backend.predict(payloads, timeout_s=self.limits.backend_timeout_s)
        return check_predictions(result, len(payloads))


def create_app(
    model: object,
    limits: Limits | None = None,
    *,
    vertex: VertexRoutes | None = None,
    fetcher: Fetcher | None = None,
    model_name: str | None = None,
    max_concurrency: int = 1,
    environ: Mapping[str, str] | None = None,
) -> ServerApp:
    """The model server for `model`: a Predictor (run in-process) or any Backend (e.g. LoadingBackend).

    `limits` default to `Limits.from_env()` and the Vertex routes to the `AIP_*` variables, read from
    `environ` (default: the process environment).
    """
    env = os.environ if environ is None else environ
    backend = as_backend(model, name=model_name or "ocrkit", max_concurrency=max_concurrency)
    return ServerApp(
        backend,
        limits if limits is not None else Limits.from_env(env),
        vertex=vertex if vertex is not None else VertexRoutes.from_env(env),
        fetcher=fetcher,
        model_name=model_name,
    )


def request_id_from_environ(environ: Mapping[str, str]) -> str:
    return request_id(Headers({"X-Request-Id": environ.get("HTTP_X_REQUEST_ID", "")}))
