"""Request metrics for `GET /metrics`, kept by the Prometheus client library (`prometheus_client`).

`Metrics` counts answered requests by method, route and status, keeps a latency histogram per route,
the requests in progress and the requests refused for overload, and holds the server's own gauges and
counters (model readiness, admission, batching, memory), all with the names ocrkit has always exposed
(`ocrkit_http_requests_total`, `ocrkit_http_request_duration_seconds`, ...).

Under gunicorn with several workers each worker is its own process: `ocrkit serve` runs the library's
multiprocess mode (`multiprocess_begin` makes a fresh per-server folder for `PROMETHEUS_MULTIPROC_DIR`
before any worker starts, gunicorn's `child_exit` hook calls `mark_process_dead`, `multiprocess_end`
removes the folder), so a scrape answered by any worker adds up every worker's numbers. Gauges say how
they combine: requests in flight, admitted and the admission limit are summed over live workers;
`ocrkit_model_ready` is the minimum (1 only when every live worker has its model).

Routes are the server's own paths (anything else counts as "other"), so label values stay few. The
library is imported only when a `Metrics` is built, in the worker, after the folder is known.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    60.0,
)
OTHER_ROUTE = "other"
_PROCESS_REFRESH_S = 1.0


@dataclass(frozen=True)
class MetricFamily:
    """One metric as an extra collector reports it: samples are (labels, value)."""

    name: str
    kind: str  # counter | gauge | untyped
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)


Collector = Callable[[], Iterable[MetricFamily]]


# -- the multiprocess folder (in the gunicorn arbiter) ------------------------------------------------


def multiprocess_begin(environ: dict[str, str] | None = None) -> Path:
    """A fresh, empty folder for this server's metric files, named in the environment its workers inherit."""
    env = os.environ if environ is None else environ
    folder = Path(tempfile.mkdtemp(prefix="ocrkit-metrics-"))
    env[MULTIPROC_ENV] = str(folder)
    return folder


def multiprocess_end(folder: Path, environ: dict[str, str] | None = None) -> None:
    """Remove the folder `multiprocess_begin` made (and only that one)."""
    env = os.environ if environ is None else environ
    if env.get(MULTIPROC_ENV) == str(folder):
        del env[MULTIPROC_ENV]
    if folder.name.startswith("ocrkit-metrics-"):
        shutil.rmtree(folder, ignore_errors=True)


def mark_process_dead(pid: int) -> None:
    """gunicorn's child_exit hook: drop a dead worker's live gauges (its counters keep counting)."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder or not os.path.isdir(folder):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, folder)


def _multiprocess_folder() -> str | None:
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder or not os.path.isdir(folder):
        return None
    from prometheus_client import values

    if values.ValueClass is values.MutexValue:  # imported before the folder was set (same process)
        values.ValueClass = values.get_value_class()
    return folder


# -- the metrics of one process ------------------------------------------------------------------------


class Metrics:
    """Thread-safe request metrics; multiprocess-aware when `PROMETHEUS_MULTIPROC_DIR` names a folder."""

    def __init__(
        self,
        *,
        prefix: str = "ocrkit",
        routes: Iterable[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError("histogram buckets must be a non-empty increasing sequence")
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()
        self.prefix = prefix
        self.routes = set(routes)
        self.buckets = tuple(float(b) for b in buckets)
        self.folder = _multiprocess_folder()
        self._registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._in_flight_here = 0
        self._collectors: list[Collector] = []
        self._on_scrape: list[Callable[[], None]] = []
        self._process_at = 0.0
        self.started_at = time.time()
        p, reg = prefix, self._registry
        self._requests = Counter(
            f"{p}_http_requests",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=reg,
        )
        self._latency = Histogram(
            f"{p}_http_request_duration_seconds",
            "Time from the request's arrival to its answer, by route.",
            ["route"],
            buckets=self.buckets,
            registry=reg,
        )
        self._in_flight = self.gauge(f"{p}_http_requests_in_flight", "Requests being handled right now.")
        self._rejected = Counter(
            f"{p}_http_requests_rejected",
            "Requests refused with 503 because the server was at its limit of requests in progress "
            "(refused before the body is read, and not logged one by one).",
            ["route"],
            registry=reg,
        )
        if self.folder is None:
            from prometheus_client import ProcessCollector

            ProcessCollector(registry=reg)
            info = Gauge(f"{p}_worker_info", "This server process (one per worker).", ["pid"], registry=reg)
            info.labels(pid=str(os.getpid())).set(1)
        else:
            info = Gauge(
                f"{p}_worker_info",
                "This server process (one per worker; the pid label names it).",
                registry=reg,
                multiprocess_mode="liveall",
            )
            info.set(1)
            self._rss = self.gauge("process_resident_memory_bytes", "Resident memory of all workers, bytes.")
            self._cpu = self.gauge("process_cpu_seconds_total", "CPU time of all live workers, seconds.")
            self._refresh_process()

    # -- defining ------------------------------------------------------------------------------------

    def gauge(self, name: str, help_text: str, mode: str = "livesum"):
        """A gauge in this registry; `mode` says how workers combine (livesum, livemin, liveall, ...)."""
        from prometheus_client import Gauge

        return Gauge(name, help_text, registry=self._registry, multiprocess_mode=mode)

    def counter(self, name: str, help_text: str):
        """A counter (`name` without `_total`), summed over workers, dead ones included."""
        from prometheus_client import Counter

        return Counter(name, help_text, registry=self._registry)

    def add_collector(self, collector: Collector) -> None:
        """Extra families computed at scrape time in the process that answers the scrape."""
        self._collectors.append(collector)

    def on_scrape(self, callback: Callable[[], None]) -> None:
        """Called before each render (to bring gauges up to date)."""
        self._on_scrape.append(callback)

    # -- recording ----------------------------------------------------------------------------------

    def route_label(self, path: str) -> str:
        return path if path in self.routes else OTHER_ROUTE

    def request_started(self) -> None:
        with self._lock:
            self._in_flight_here += 1
        self._in_flight.inc()

    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._in_flight_here -= 1
        self._in_flight.dec()
        self._requests.labels(method.upper(), route, str(status)).inc()
        self._latency.labels(route).observe(max(0.0, seconds))
        if self.folder is not None and time.monotonic() - self._process_at > _PROCESS_REFRESH_S:
            self._refresh_process()

    def rejected(self, route: str) -> None:
        """A request refused for overload: one counter increment, nothing else."""
        self._rejected.labels(route).inc()

    @property
    def in_flight(self) -> int:
        """Requests in progress in this process."""
        with self._lock:
            return self._in_flight_here

    def requests_total(self, *, route: str | None = None, status: int | None = None) -> int:
        samples = parse_exposition(self.render())
        total = 0.0
        for (name, labels), value in samples.items():
            if name != f"{self.prefix}_http_requests_total":
                continue
            found = dict(labels)
            if (route is None or found["route"] == route) and (
                status is None or found["status"] == str(status)
            ):
                total += value
        return int(total)

    def _refresh_process(self) -> None:
        self._process_at = time.monotonic()
        rss = resident_memory_bytes()
        if rss is not None:
            self._rss.set(rss)
        times = os.times()
        self._cpu.set(times.user + times.system)

    # -- exposition ---------------------------------------------------------------------------------

    def render(self) -> str:
        from prometheus_client import CollectorRegistry, generate_latest

        for callback in self._on_scrape:
            with contextlib.suppress(Exception):  # a broken hook must not break the scrape
                callback()
        if self.folder is None:
            registry = self._registry
            extras = _Extras(self._collectors)
            registry.register(extras)
            try:
                return generate_latest(registry).decode("utf-8")
            finally:
                registry.unregister(extras)
        from prometheus_client import multiprocess

        self._refresh_process()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.folder)
        registry.register(_Extras(self._collectors))
        return generate_latest(registry).decode("utf-8")


class _Extras:
    """Adapts `MetricFamily` collectors to the library's collector protocol."""

    def __init__(self, collectors: list[Collector]) -> None:
        self.collectors = collectors

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import Metric

        for collector in self.collectors:
            try:
                families = list(collector())
            except Exception:  # a broken collector must not break the scrape
                continue
            for family in families:
                kind = family.kind if family.kind in ("counter", "gauge") else "untyped"
                name = (
                    family.name[: -len("_total")]
                    if kind == "counter" and family.name.endswith("_total")
                    else family.name
                )
                metric = Metric(name, family.help, kind)
                for labels, value in family.samples:
                    metric.add_sample(family.name, dict(labels), float(value))
                yield metric


def resident_memory_bytes(pid: int | str = "self") -> int | None:
    """Resident set size of a process from /proc (Linux); None elsewhere or when it is gone."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def parse_exposition(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Read samples back from the text format (for tests and `ocrkit loadtest`): {(name, labels): value}.

    Labels come back sorted by name, whatever order the text had them in."""
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        labels: list[tuple[str, str]] = []
        if "{" in head:
            name, _, rest = head.partition("{")
            rest = rest.rstrip("}")
            i = 0
            while i < len(rest):
                eq = rest.index("=", i)
                key = rest[i:eq].strip().lstrip(",").strip()
                j = eq + 2  # past ="
                buf = []
                while rest[j] != '"':
                    if rest[j] == "\\":
                        j += 1
                        buf.append({"n": "\n"}.get(rest[j], rest[j]))
                    else:
                        buf.append(rest[j])
                    j += 1
                labels.append((key, "".join(buf)))
                i = j + 1
        else:
            name = head
        samples[(name, tuple(sorted(labels)))] = float(value)
    return samples
