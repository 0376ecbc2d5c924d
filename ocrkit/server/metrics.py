"""Request metrics in the Prometheus text exposition format (version 0.0.4), written by hand.

`Metrics` counts answered requests by method, route and status, keeps a latency histogram per route,
the number of requests in progress and the number refused for overload, and renders them with any
extra collectors (model readiness, batching counters, process memory) for `GET /metrics`.

Routes are the server's own paths (anything else counts as "other"), so label values stay few.
Under gunicorn with several workers each worker keeps its own numbers and `/metrics` answers with
those of the worker that took the scrape (the `pid` of each worker is in `ocrkit_worker_info`); run
one worker per container, as SageMaker and Vertex do, when exact numbers matter.

Standard library only.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
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


@dataclass(frozen=True)
class MetricFamily:
    """One metric as an extra collector reports it: samples are (labels, value)."""

    name: str
    kind: str  # counter | gauge | untyped
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)


Collector = Callable[[], Iterable[MetricFamily]]


class _Histogram:
    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.sum += value
        self.count += 1
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                break


class Metrics:
    """Thread-safe request metrics for one process."""

    def __init__(
        self,
        *,
        prefix: str = "ocrkit",
        routes: Iterable[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError("histogram buckets must be a non-empty increasing sequence")
        self.prefix = prefix
        self.routes = set(routes)
        self.buckets = tuple(float(b) for b in buckets)
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[str, _Histogram] = {}
        self._in_flight = 0
        self._rejected: dict[str, int] = {}
        self._collectors: list[Collector] = []
        self.started_at = time.time()

    # -- recording ----------------------------------------------------------------------------------

    def route_label(self, path: str) -> str:
        return path if path in self.routes else OTHER_ROUTE

    def add_collector(self, collector: Collector) -> None:
        self._collectors.append(collector)

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method.upper(), route, str(status))
        with self._lock:
            self._in_flight -= 1
            self._requests[key] = self._requests.get(key, 0) + 1
            hist = self._latency.get(route)
            if hist is None:
                hist = self._latency[route] = _Histogram(self.buckets)
            hist.observe(max(0.0, seconds))

    def rejected(self, route: str) -> None:
        with self._lock:
            self._rejected[route] = self._rejected.get(route, 0) + 1

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def requests_total(self, *, route: str | None = None, status: int | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (_, r, s), n in self._requests.items()
                if (route is None or r == route) and (status is None or s == str(status))
            )

    # -- exposition ---------------------------------------------------------------------------------

    def render(self) -> str:
        p = self.prefix
        with self._lock:
            requests = dict(self._requests)
            latency = {
                route: (h.counts[:], h.sum, h.count, h.bounds) for route, h in sorted(self._latency.items())
            }
            in_flight = self._in_flight
            rejected = dict(self._rejected)
        out: list[str] = []
        _family(
            out, f"{p}_http_requests_total", "counter", "HTTP requests answered, by method, route and status."
        )
        for (method, route, status), n in sorted(requests.items()):
            out.append(
                _sample(f"{p}_http_requests_total", {"method": method, "route": route, "status": status}, n)
            )
        name = f"{p}_http_request_duration_seconds"
        _family(out, name, "histogram", "Time from the request's arrival to its answer, by route.")
        for route, (counts, total, count, bounds) in latency.items():
            cumulative = 0
            for bound, n in zip(bounds, counts, strict=True):
                cumulative += n
                out.append(_sample(f"{name}_bucket", {"route": route, "le": _num(bound)}, cumulative))
            out.append(_sample(f"{name}_bucket", {"route": route, "le": "+Inf"}, count))
            out.append(_sample(f"{name}_sum", {"route": route}, total))
            out.append(_sample(f"{name}_count", {"route": route}, count))
        _family(out, f"{p}_http_requests_in_flight", "gauge", "Requests being handled right now.")
        out.append(_sample(f"{p}_http_requests_in_flight", {}, in_flight))
        _family(
            out,
            f"{p}_http_requests_rejected_total",
            "counter",
            "Requests refused with 503 because the server was at its limit of requests in progress.",
        )
        for route, n in sorted(rejected.items()):
            out.append(_sample(f"{p}_http_requests_rejected_total", {"route": route}, n))
        for family in [*self._builtin(), *self._collected()]:
            _family(out, family.name, family.kind, family.help)
            for labels, value in family.samples:
                out.append(_sample(family.name, labels, value))
        return "\n".join(out) + "\n"

    def _collected(self) -> list[MetricFamily]:
        families: list[MetricFamily] = []
        for collector in self._collectors:
            try:
                families.extend(collector())
            except Exception:  # a broken collector must not break the scrape
                continue
        return families

    def _builtin(self) -> list[MetricFamily]:
        p = self.prefix
        families = [
            MetricFamily(
                f"{p}_worker_info",
                "gauge",
                "This server process (one per worker).",
                [({"pid": str(os.getpid())}, 1)],
            ),
            MetricFamily(
                "process_start_time_seconds",
                "gauge",
                "Start time of the metrics in seconds since the epoch.",
                [({}, round(self.started_at, 3))],
            ),
        ]
        times = os.times()
        families.append(
            MetricFamily(
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time spent in seconds.",
                [({}, round(times.user + times.system, 3))],
            )
        )
        rss = resident_memory_bytes()
        if rss is not None:
            families.append(
                MetricFamily(
                    "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [({}, rss)]
                )
            )
        return families


def resident_memory_bytes(pid: int | str = "self") -> int | None:
    """Resident set size of a process from /proc (Linux); None elsewhere or when it is gone."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _family(out: list[str], name: str, kind: str, help_text: str) -> None:
    out.append(f"# HELP {name} {help_text.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
    out.append(f"# TYPE {name} {kind}")


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    if labels:
        inner = ",".join(f'{key}="{_escape(str(val))}"' for key, val in labels.items())
        return f"{name}{{{inner}}} {_num(value)}"
    return f"{name} {_num(value)}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def parse_exposition(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Read samples back from the text format (for tests and `ocrkit loadtest`): {(name, labels): value}."""
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
        samples[(name, tuple(labels))] = float(value)
    return samples
