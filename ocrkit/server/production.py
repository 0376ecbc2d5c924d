"""The production server behind `ocrkit serve` and `ocrkit deploy --cloud local`: gunicorn, embedded.

One process tree: a gunicorn arbiter and `workers` gthread workers, each with its own copy of the WSGI
app built after the fork (`ServeOptions` -> `build_app`), so each worker loads the model in its own
background thread (a loading thread does not survive a fork; nothing is preloaded in the arbiter).

Each worker's app is the model server (`ocrkit.server.app.ServerApp`: `/predict`, `/ping`,
`/invocations`, the Vertex routes, `/healthz`) wrapped in `ProductionApp`, which adds:

- `GET /` and `GET /static/*`: the web page (package data in `ocrkit/server/static/`);
- `GET /metrics`: Prometheus text format (`ocrkit.server.metrics`);
- admission control: at most `max_inflight` POST requests per worker are in progress (in the model or
  waiting for it); one more is answered at once with 503 `overloaded` and `Retry-After`, so load is
  shed instead of piling up. GET routes (health, metrics, the page) are never refused;
- a deadline per request: `timeout_s` (the gateway's `backend_timeout_s`) from arrival -> 504;
- one JSON log line per request on stderr (`ocrkit.server.jsonlog`).

The model sits behind `BatchingBackend` (dynamic batching, the default) or an `InProcessBackend` that
runs one request at a time (`batching=False`), and uses `model_threads` CPU threads per worker ((cores - 1)
/ workers, at least 1, unless `torch_threads` says otherwise): threads beyond the free cores make each
of torch's parallel steps wait for a thread that is not running, and one core is left to the workers'
own threads (accepting, refusing, decoding images, writing answers).

gunicorn is imported only by `run` (the module imports with the standard library alone).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from importlib import resources

from ocrkit.errors import OcrkitError
from ocrkit.gateway.backend import Backend, InProcessBackend
from ocrkit.gateway.errors import Code
from ocrkit.gateway.handler import normalise_path
from ocrkit.gateway.limits import Limits
from ocrkit.gateway.messages import Headers
from ocrkit.gateway.responses import JSON_TYPE, request_id
from ocrkit.prediction import Predictor
from ocrkit.server import native_stderr
from ocrkit.server.app import ServerApp, create_app
from ocrkit.server.batching import BatchingBackend
from ocrkit.server.decoder import cap_decoder
from ocrkit.server.jsonlog import REQUEST_LOGGER, gunicorn_logconfig
from ocrkit.server.loading import LoadingBackend
from ocrkit.server.metrics import CONTENT_TYPE as METRICS_TYPE
from ocrkit.server.metrics import Metrics, mark_process_dead, multiprocess_begin, multiprocess_end
from ocrkit.server.openapi import build_spec
from ocrkit.server.vertex import VertexRoutes
from ocrkit.weights import resolve_weights

HEADER_TIMEOUT_ENV = "OCRKIT_HEADER_TIMEOUT_S"  # read by ocrkit.server.worker in each worker
BODY_TIMEOUT_ENV = "OCRKIT_BODY_TIMEOUT_S"
SHED_DELAY_ENV = "OCRKIT_SHED_DELAY_S"
log = logging.getLogger("ocrkit.server")
request_log = logging.getLogger(REQUEST_LOGGER)

#: The error code of a request refused because the server is at its limit (503, with Retry-After).
OVERLOADED = str(Code.OVERLOADED)
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
SAMPLE_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png"}
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data: blob: http: https:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class ServeOptions:
    """Everything `ocrkit serve` and the local deploy target configure."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    threads: int | None = None  # per worker; default max_inflight + 8 (spare threads answer 503s, health)
    max_inflight: int = 32  # POST requests in progress per worker; more are refused with 503
    timeout_s: float | None = None  # per request; default: the gateway's backend_timeout_s (25 s)
    batching: bool = True
    max_batch: int = 8
    max_wait_ms: float = 5.0
    weights: str | None = None  # checkpoint; default $OCRKIT_WEIGHTS, else the demo checkpoint
    device: str | None = None  # None: CUDA when available, else CPU
    quantize: str = "none"
    engine: str | None = None  # torch | onnx; None: $OCRKIT_ENGINE, else torch
    max_len: int | None = None  # tokens per image at most; default the model's (100, the report's)
    torch_threads: int | None = None  # CPU threads per worker for the model; default (cores - 1) / workers
    predictor: str | None = None  # "module:callable" returning a Predictor, instead of weights
    name: str = "ocrkit"
    log_level: str = "info"
    graceful_timeout_s: float = 10.0
    retry_after_s: int = 1
    # a request head must arrive within this (else 408 and closed); then the body within body_timeout_s
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    # a refused POST is answered this late (off-thread), so clients that ignore Retry-After cannot storm;
    # None: as late as Retry-After says (`refusal_delay_s`)
    shed_delay_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise OcrkitError(f"port must be between 0 and 65535, not {self.port}")
        for key in ("workers", "max_inflight", "max_batch"):
            if getattr(self, key) < 1:
                raise OcrkitError(f"{key.replace('_', '-')} must be at least 1, not {getattr(self, key)}")
        if self.threads is not None and self.threads < 2:
            raise OcrkitError("threads must be at least 2 (one spare answers health checks and 503s)")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise OcrkitError(f"timeout must be positive, not {self.timeout_s}")
        for key in ("header_timeout_s", "body_timeout_s"):
            if not getattr(self, key) > 0:
                raise OcrkitError(f"{key} must be positive, not {getattr(self, key)}")
        if self.shed_delay_s is not None and not self.shed_delay_s >= 0:
            raise OcrkitError(f"shed_delay_s must not be negative, not {self.shed_delay_s}")
        if self.max_wait_ms < 0:
            raise OcrkitError("max-wait-ms must not be negative")
        if self.max_len is not None and self.max_len < 1:
            raise OcrkitError(f"max-len must be at least 1, not {self.max_len}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise OcrkitError(f"torch-threads must be at least 1, not {self.torch_threads}")
        if self.engine is not None:
            from ocrkit.engine import parse_engine

            parse_engine(self.engine)

    @property
    def chosen_engine(self):
        """The engine to load: ``engine``, else ``$OCRKIT_ENGINE`` (what the cloud targets' servers
        read), else torch."""
        from ocrkit.engine import engine_from_env, parse_engine

        return engine_from_env() if self.engine is None else parse_engine(self.engine)

    @property
    def model_threads(self) -> int:
        """CPU threads the model may use in each worker: all the cores but one, shared by the workers.

        The core left over runs the workers' own threads (the main loop that accepts connections and
        refuses overload, the request threads that decode images and write answers). When the model's
        parallel threads take every core, each wake-up of those threads takes a core from one of the
        model's threads and the whole parallel step waits for it: on 2 cores shared with other jobs, 2
        model threads read 2.7-13.5 images a second at 0.07-0.31 CPU s each and a retry storm moved that
        by 0.27-1.46x; 1 thread read 17-39 at 0.023-0.046 CPU s each (README, "Retry storm").
        """
        if self.torch_threads is not None:
            return self.torch_threads
        return max(1, (available_cores() - 1) // self.workers)

    @property
    def refusal_delay_s(self) -> float:
        """How late a refused POST is answered: a client that ignores Retry-After and resends at once is
        still refused no more often than Retry-After asks (each refusal costs the server's main loop an
        accept, a read, a send and a close, about half a millisecond of CPU)."""
        return float(self.retry_after_s) if self.shed_delay_s is None else self.shed_delay_s

    @property
    def worker_threads(self) -> int:
        return self.threads if self.threads is not None else self.max_inflight + 8

    def limits(self, environ: dict[str, str] | None = None) -> Limits:
        limits = Limits.from_env(environ)
        if self.timeout_s is not None:
            limits = limits.with_(backend_timeout_s=float(self.timeout_s))
        return limits

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def with_(self, **changes: object) -> ServeOptions:
        return replace(self, **changes)


def available_cores() -> int:
    """The CPUs this process may run on (its affinity mask), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# -- the predictor ---------------------------------------------------------------------------------


def check_model_source(options: ServeOptions) -> str:
    """Fail fast, before any process starts, when no model can be found; returns it in words."""
    if options.predictor:
        _import_factory(options.predictor)
        return f"predictor {options.predictor}"
    from ocrkit.engine import Engine

    file = resolve_weights(options.weights)
    engine = options.chosen_engine
    if engine is Engine.onnx:
        from ocrkit.engine.manifest import is_export_dir, read_manifest
        from ocrkit.engine.onnx_runtime import require_onnxruntime

        require_onnxruntime()  # not imported here: the arbiter forks the workers
        if file.is_dir() or is_export_dir(file):
            read_manifest(file)  # a stale or incomplete export fails here, before any worker starts
            return f"{file} (ONNX engine)"
    if not file.is_file():
        raise OcrkitError(f"model weights not found: {file}")
    return str(file) + (" (ONNX engine)" if engine is Engine.onnx else "")


def _import_factory(spec: str) -> Callable[[], object]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise OcrkitError(f"--predictor must look like 'package.module:factory', not {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise OcrkitError(f"cannot import the predictor module {module_name!r}: {exc}") from None
    target: object = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise OcrkitError(f"{module_name!r} has no {attr!r}")
    if not callable(target):
        raise OcrkitError(f"{spec} is not callable")
    return target  # type: ignore[return-value]


def load_predictor(options: ServeOptions) -> Predictor:
    """Build the predictor named by the options (the torch engine imports torch; the ONNX one does not)."""
    from ocrkit.engine import Engine
    from ocrkit.engine import load_predictor as engine_predictor

    if options.predictor:
        predictor = _import_factory(options.predictor)()
    elif options.chosen_engine is Engine.onnx:
        extra = {} if options.max_len is None else {"max_len": options.max_len}
        if options.quantize != "none":
            raise OcrkitError("--quantize int8 is a torch-engine option; the ONNX engine runs float32")
        predictor = engine_predictor(
            Engine.onnx,
            options.weights,
            device=options.device,
            batch_size=max(32, options.max_batch),
            threads=options.model_threads,
            **extra,
        )
    else:
        limit_cpu_threads(options.model_threads)
        extra = {} if options.max_len is None else {"max_len": options.max_len}
        predictor = engine_predictor(
            Engine.torch,
            options.weights,
            device=options.device,
            quantize=options.quantize,
            batch_size=max(32, options.max_batch),
            **extra,
        )
    if not callable(getattr(predictor, "predict_images", None)):
        raise OcrkitError(f"{type(predictor).__name__} has no predict_images(images)")
    return predictor  # type: ignore[return-value]


def limit_cpu_threads(threads: int) -> None:
    """Cap the model's CPU threads in this process (a gunicorn worker), for every thread that runs it.

    OpenMP reads OMP_NUM_THREADS once, when torch loads, and applies it to each thread that calls
    into it (the batching thread, per-request threads); `torch.set_num_threads` alone would set only
    the calling thread's. More threads than free cores make each parallel step wait for a thread that
    is not running: on a shared or oversubscribed CPU that costs far more than it gains.
    """
    if "torch" not in sys.modules:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(threads)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def model_backend(predictor: Predictor, options: ServeOptions) -> Backend:
    if options.batching:
        return BatchingBackend(
            predictor,
            name=options.name,
            max_batch=options.max_batch,
            max_wait_ms=options.max_wait_ms,
            max_queue=max(options.max_inflight, 1),
        )
    return InProcessBackend(predictor, name=options.name, max_concurrency=1)


# -- the WSGI app of one worker --------------------------------------------------------------------


class _Static:
    """The web page's files and the shipped sample images (`samples/<name>`), read once from the package."""

    def __init__(self) -> None:
        folder = resources.files("ocrkit.server") / "static"
        self.files: dict[str, tuple[bytes, str]] = {}
        for name, content_type in STATIC_FILES.items():
            try:
                self.files[name] = ((folder / name).read_bytes(), content_type)
            except (FileNotFoundError, OSError):
                log.warning("web page file %s is missing from the package", name)
        self.samples: list[dict[str, str]] = []
        samples = resources.files("ocrkit") / "assets" / "samples"
        try:
            labels = (samples / "labels.tsv").read_text(encoding="utf-8")
        except (FileNotFoundError, OSError):
            labels = ""
        for line in labels.splitlines():
            name, _, label = line.partition("\t")
            kind = SAMPLE_TYPES.get(name.rsplit(".", 1)[-1].lower())
            if not name or kind is None or "/" in name:
                continue
            try:
                self.files[f"samples/{name}"] = ((samples / name).read_bytes(), kind)
            except (FileNotFoundError, OSError):
                continue
            self.samples.append({"name": name, "url": f"/static/samples/{name}", "label": label.strip()})

    def get(self, name: str) -> tuple[bytes, str] | None:
        return self.files.get(name)


class ProductionApp:
    """WSGI middleware around a ServerApp: the page, /metrics, admission control and request logs.

    A POST beyond `max_inflight` is refused first thing, before its body is read, its request id is
    made or anything is logged: one counter increment (`ocrkit_http_requests_rejected_total`) and a
    prepared 503. Under a retry storm (clients that ignore Retry-After) refusals then cost next to
    nothing next to the model's work; one summary line per `SHED_LOG_EVERY_S` says how many were shed.
    """

    SHED_LOG_EVERY_S = 10.0

    def __init__(
        self,
        app: ServerApp,
        *,
        max_inflight: int = 32,
        retry_after_s: int = 1,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.max_inflight = max_inflight
        self.retry_after_s = retry_after_s
        self.static = _Static()
        routes = set(app.routes) | {"/", "/static", "/metrics", "/openapi.json", "/samples.json"}
        self.metrics = metrics or Metrics(routes=routes)
        self.metrics.routes |= routes
        self._admitted = 0
        self._lock = threading.Lock()
        self._shed = 0
        self._shed_logged_at = -self.SHED_LOG_EVERY_S  # the first refusal is logged at once
        self._refusal = _refusal(max_inflight, retry_after_s)
        self._model = _ModelMetrics(self.metrics, max_inflight)
        spec = build_spec(
            {**app.routes, **OWN_ROUTES},
            app.limits,
            vertex_predict=normalise_path(app.vertex.predict),
            vertex_health=normalise_path(app.vertex.health),
            title=f"ocrkit ({app.model_name})",
        )
        self._openapi = json.dumps(spec, ensure_ascii=False).encode("utf-8")
        self._samples = json.dumps(self.static.samples, ensure_ascii=False).encode("utf-8")
        self.metrics.on_scrape(self._sync_metrics)
        self._sync_metrics()
        wait = getattr(app.backend, "wait", None)
        if callable(wait):  # the ready gauge turns 1 once the model is in, without waiting for a request
            threading.Thread(target=lambda: (wait(), self._sync_metrics()), daemon=True).start()

    # -- WSGI ---------------------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        raw_path = environ.get("PATH_INFO", "") or "/"
        admitted = False
        if method == "POST" and not _is_own_route(raw_path):
            if not self._admit():
                return self._refuse(raw_path, environ, start_response)
            admitted = True
        started = time.perf_counter()
        path = normalise_path(raw_path)
        rid = request_id(Headers({"X-Request-Id": environ.get("HTTP_X_REQUEST_ID", "")}))
        environ["HTTP_X_REQUEST_ID"] = rid
        route = self.metrics.route_label("/static" if path.startswith("/static/") else path)
        captured: dict[str, object] = {"status": 500, "headers": []}

        def capture(status: str, headers: list, exc_info=None):
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = headers
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        self.metrics.request_started()
        body: list[bytes] = []
        try:
            own = self._own_route(method, path)
            body = own(environ, capture) if own is not None else list(self.app(environ, capture))
        finally:
            if admitted:
                self._release()
            seconds = time.perf_counter() - started
            status = int(captured["status"])  # type: ignore[arg-type]
            self.metrics.request_finished(method, route, status, seconds)
            if admitted:
                self._model.sync(self.app)
            self._log(environ, rid, method, path, status, seconds, body, captured["headers"])
        return body

    def _own_route(self, method: str, path: str):
        if path in ("/", "/index.html"):
            return self._page_handler("index.html", method)
        if path.startswith("/static/"):
            return self._page_handler(path[len("/static/") :], method)
        if path == "/metrics":
            return self._metrics_handler(method)
        if path == "/openapi.json":
            return self._json_handler(self._openapi, method)
        if path == "/samples.json":
            return self._json_handler(self._samples, method)
        return None

    # -- admission ----------------------------------------------------------------------------------

    def _admit(self) -> bool:
        with self._lock:
            if self._admitted >= self.max_inflight:
                self._shed += 1
                return False
            self._admitted += 1
        self._model.admitted.inc()
        return True

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1
        self._model.admitted.dec()

    @property
    def admitted(self) -> int:
        with self._lock:
            return self._admitted

    def _refuse(self, raw_path: str, environ: dict, start_response: Callable) -> list[bytes]:
        """503 before the body is read; a large unread body closes the connection instead of draining."""
        self.metrics.rejected(self.metrics.route_label(normalise_path(raw_path)))
        status, headers, body, close_headers = self._refusal
        rid = request_id(Headers({"X-Request-Id": environ.get("HTTP_X_REQUEST_ID", "")}))
        start_response(status, [*(close_headers if _big_body(environ) else headers), ("X-Request-Id", rid)])
        self._log_shed()
        return [body]

    def shed_now(self, method: str, raw_path: str) -> bytes | None:
        """For the worker's main loop, before a request reaches a thread: the whole 503 answer (closing
        the connection) when this POST would be refused, else None. Counted like any refusal."""
        if method != "POST" or _is_own_route(raw_path) or self._admitted < self.max_inflight:
            return None
        with self._lock:
            self._shed += 1
        self.metrics.rejected(self.metrics.route_label(normalise_path(raw_path)))
        self._log_shed()
        status, headers, body, close_headers = self._refusal
        rid = request_id(Headers({}))
        head = "".join(f"{name}: {value}\r\n" for name, value in (*close_headers, ("X-Request-Id", rid)))
        return f"HTTP/1.1 {status}\r\n{head}\r\n".encode("latin-1") + body

    def _log_shed(self) -> None:
        now = time.monotonic()
        if now - self._shed_logged_at >= self.SHED_LOG_EVERY_S:
            with self._lock:
                shed, self._shed = self._shed, 0
                since, self._shed_logged_at = now - self._shed_logged_at, now
            log.warning(
                "shed %d requests with 503 in the last %.0f s (at the limit of %d in progress)",
                shed,
                since,
                self.max_inflight,
                extra={"shed": shed, "limit": self.max_inflight},
            )

    def _sync_metrics(self) -> None:
        self._model.sync(self.app)

    # -- own routes ---------------------------------------------------------------------------------

    def _page_handler(self, name: str, method: str):
        def handler(environ: dict, start_response: Callable) -> list[bytes]:
            found = self.static.get(name)
            if method not in ("GET", "HEAD"):
                return _error(
                    start_response, 405, "method_not_allowed", f"{method} is not allowed here; use GET"
                )
            if found is None:
                return _error(start_response, 404, "not_found", f"no file {name}")
            data, content_type = found
            headers = {"Content-Type": content_type, **PAGE_HEADERS}
            return _plain(start_response, 200, b"" if method == "HEAD" else data, headers, len(data))

        return handler

    def _json_handler(self, data: bytes, method: str):
        def handler(environ: dict, start_response: Callable) -> list[bytes]:
            if method not in ("GET", "HEAD"):
                return _error(
                    start_response, 405, "method_not_allowed", f"{method} is not allowed here; use GET"
                )
            headers = {"Content-Type": JSON_TYPE, "Cache-Control": "no-cache"}
            return _plain(start_response, 200, b"" if method == "HEAD" else data, headers, len(data))

        return handler

    def _metrics_handler(self, method: str):
        def handler(environ: dict, start_response: Callable) -> list[bytes]:
            if method not in ("GET", "HEAD"):
                return _error(
                    start_response, 405, "method_not_allowed", f"{method} is not allowed here; use GET"
                )
            data = self.metrics.render().encode("utf-8")
            headers = {"Content-Type": METRICS_TYPE, "Cache-Control": "no-store"}
            return _plain(start_response, 200, b"" if method == "HEAD" else data, headers, len(data))

        return handler

    # -- logs ---------------------------------------------------------------------------------------

    def _log(
        self,
        environ: dict,
        rid: str,
        method: str,
        path: str,
        status: int,
        seconds: float,
        body: list[bytes],
        headers: object,
    ) -> None:
        if not request_log.isEnabledFor(logging.INFO):
            return
        fields: dict[str, object] = {
            "request_id": rid,
            "method": method,
            "path": path,
            "status": status,
            "latency_ms": round(seconds * 1000.0, 1),
            "request_bytes": _content_length(environ),
            "response_bytes": sum(len(chunk) for chunk in body),
        }
        content_type = environ.get("CONTENT_TYPE")
        if content_type and fields["request_bytes"]:
            fields["content_type"] = content_type.split(";", 1)[0].strip()[:64]
        if status >= 400:
            fields["error"] = _error_code(body)
        request_log.info("request", extra=fields)


OWN_PATHS = frozenset({"/", "/index.html", "/metrics", "/openapi.json", "/samples.json"})
#: The routes ProductionApp answers itself, as the OpenAPI document names them.
OWN_ROUTES = {
    "/": ("GET",),
    "/static/{name}": ("GET",),
    "/metrics": ("GET",),
    "/openapi.json": ("GET",),
    "/samples.json": ("GET",),
}
#: Bodies up to this size are drained after a refusal (cheaper than a new connection); larger ones
#: are left unread and the connection is closed.
DRAIN_REFUSED_BYTES = 64 * 1024


def _is_own_route(raw_path: str) -> bool:
    return raw_path in OWN_PATHS or raw_path.startswith("/static/") or normalise_path(raw_path) in OWN_PATHS


def _big_body(environ: dict) -> bool:
    length = environ.get("CONTENT_LENGTH") or ""
    if not length:
        return bool(environ.get("HTTP_TRANSFER_ENCODING"))
    try:
        return int(length) > DRAIN_REFUSED_BYTES
    except ValueError:
        return True


def _refusal(max_inflight: int, retry_after_s: int) -> tuple[str, tuple, bytes, tuple]:
    """The 503 `overloaded` answer, made once: status, headers, body, headers that close the connection."""
    message = (
        f"the server is busy: {max_inflight} requests are already in progress; retry in {retry_after_s} s"
    )
    body = json.dumps({"error": {"code": OVERLOADED, "message": message}}).encode()
    headers = (
        ("Content-Type", JSON_TYPE),
        ("Cache-Control", "no-store"),
        ("Retry-After", str(retry_after_s)),
        ("Content-Length", str(len(body))),
    )
    return "503 Service Unavailable", headers, body, (*headers, ("Connection", "close"))


class _ModelMetrics:
    """The server's own gauges and counters, kept per worker and combined by the metrics library."""

    def __init__(self, metrics: Metrics, max_inflight: int) -> None:
        p = metrics.prefix
        self.metrics = metrics
        self.ready = metrics.gauge(
            f"{p}_model_ready", "1 once every live worker's model is loaded.", "livemin"
        )
        self.admitted = metrics.gauge(
            f"{p}_admitted_requests",
            "POST requests admitted and in progress (in the model or waiting for it).",
        )
        limit = metrics.gauge(f"{p}_admission_limit", "POST requests admitted at most at once (all workers).")
        limit.set(max_inflight)
        self._batch: tuple | None = None
        self._seen = (0, 0, 0)
        self._lock = threading.Lock()

    def sync(self, app: ServerApp) -> None:
        self.ready.set(int(app.is_ready()))
        batcher = _find_batcher(app.backend)
        if batcher is None:
            return
        with self._lock:
            if self._batch is None:
                p = self.metrics.prefix
                self._batch = (
                    self.metrics.counter(f"{p}_model_batches", "Calls of the model."),
                    self.metrics.counter(f"{p}_model_images", "Images the model read."),
                    self.metrics.counter(f"{p}_model_batch_requests", "Requests the model answered."),
                    self.metrics.gauge(f"{p}_model_queue_length", "Requests waiting for the model."),
                )
            batches, images, requests, queue = self._batch
            s = batcher.stats
            now = (s.batches, s.images, s.requests)
            for counter, new, old in zip((batches, images, requests), now, self._seen, strict=True):
                if new > old:
                    counter.inc(new - old)
            self._seen = now
            queue.set(batcher.queued())


def _find_batcher(backend: object) -> BatchingBackend | None:
    if isinstance(backend, BatchingBackend):
        return backend
    inner = getattr(backend, "_inner", None)
    return inner if isinstance(inner, BatchingBackend) else None


def _content_length(environ: dict) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _error_code(body: list[bytes]) -> str | None:
    data = b"".join(body)
    if len(data) > 4096:
        return None
    try:
        doc = json.loads(data)
        return str(doc["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def _error(start_response: Callable, status: int, code: str, message: str) -> list[bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = {"Content-Type": JSON_TYPE, "Cache-Control": "no-store"}
    if status == 405:
        headers["Allow"] = "GET, HEAD"
    return _plain(start_response, status, body, headers)


def _plain(
    start_response: Callable,
    status: int,
    body: bytes,
    headers: dict[str, str] | None = None,
    length: int | None = None,
) -> list[bytes]:
    from http import HTTPStatus

    out = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
    out["Content-Length"] = str(len(body) if length is None else length)
    start_response(f"{status} {HTTPStatus(status).phrase}", list(out.items()))
    return [body]


def build_app(
    options: ServeOptions,
    *,
    predictor: Predictor | None = None,
    environ: dict[str, str] | None = None,
    wait: bool = False,
) -> ProductionApp:
    """The app of one worker: the model loads in a background thread (health answers 503 until then).

    `predictor` (tests) skips loading; `wait=True` blocks until the model is loaded. Logging is left as
    it is (under gunicorn, `gunicorn_settings` configures it; elsewhere see `jsonlog.configure`).
    """
    env = dict(os.environ if environ is None else environ)

    def loader() -> Backend:
        return model_backend(predictor if predictor is not None else load_predictor(options), options)

    backend = LoadingBackend(loader, name=options.name)
    if wait:
        backend.wait()
    server = create_app(
        backend,
        options.limits(env),
        vertex=VertexRoutes.from_env(env),
        model_name=options.name,
        environ=env,
    )
    return ProductionApp(server, max_inflight=options.max_inflight, retry_after_s=options.retry_after_s)


# -- gunicorn ---------------------------------------------------------------------------------------


def gunicorn_settings(options: ServeOptions) -> dict[str, object]:
    host = options.host
    bind = f"[{host}]:{options.port}" if ":" in host else f"{host}:{options.port}"
    timeout = options.timeout_s if options.timeout_s is not None else options.limits().backend_timeout_s
    threads = options.worker_threads
    return {
        "bind": [bind],
        "workers": options.workers,
        # gthread, with request heads collected off-thread and read deadlines (ocrkit.server.worker)
        "worker_class": "ocrkit.server.worker.OcrkitWorker",
        "threads": threads,
        # Connections a worker holds at once (in work, waiting for a thread, or idle kept-alive).
        # A connection whose head is still arriving costs a socket, not a thread (ocrkit.server.worker).
        "worker_connections": max(4 * threads, 512),
        # The arbiter restarts a worker silent this long (gthread's main loop stays responsive while
        # request threads wait on the model, so only a wedged worker hits this).
        "timeout": int(timeout) + 30,
        "graceful_timeout": int(options.graceful_timeout_s),
        "keepalive": 5,
        "preload_app": False,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": options.log_level,
        "logconfig_dict": gunicorn_logconfig(options.log_level),
        "proc_name": f"ocrkit-serve-{options.name}",
        "control_socket_disable": True,
        # a dead worker's live gauges leave the metrics (prometheus_client's multiprocess mode)
        "child_exit": _child_exit,
    }


def _child_exit(server: object, worker: object) -> None:
    mark_process_dead(getattr(worker, "pid", 0))


def run(options: ServeOptions, *, predictor: Predictor | None = None) -> None:
    """Serve with gunicorn in this process until SIGTERM/SIGINT (gunicorn handles the signals)."""
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        raise OcrkitError("the HTTP server needs gunicorn: pip install 'ocrkit[serve]'") from None

    settings = gunicorn_settings(options)
    os.environ[HEADER_TIMEOUT_ENV] = str(options.header_timeout_s)
    os.environ[BODY_TIMEOUT_ENV] = str(options.body_timeout_s)
    os.environ[SHED_DELAY_ENV] = str(options.refusal_delay_s)
    # Every worker writes its metrics to this server's own folder; any worker's scrape adds them up.
    metrics_folder = multiprocess_begin()

    class OcrkitApplication(BaseApplication):
        def load_config(self) -> None:
            for key, value in settings.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self):
            # Runs in each worker after the fork (no preload): the model loads there, and OpenCV with
            # it, after its decode caps are set to the gateway's limits.
            cap_decoder(options.limits())
            native_stderr.route()  # libpng / OpenCV messages become JSON log lines too
            return build_app(options, predictor=predictor)

    try:
        OcrkitApplication().run()
    finally:
        multiprocess_end(metrics_folder)
