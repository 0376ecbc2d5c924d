"""A bounded load generator for an ocrkit endpoint: threads + http.client, standard library only.

`run_load(url, body, concurrency=8, duration_s=10)` starts `concurrency` closed-loop clients: each sends
a request, waits for the answer (at most `timeout_s`), and sends the next, until `duration_s` has passed
(or `max_requests` were sent). It returns a `LoadResult`: throughput, latency percentiles of the
successful answers, and the failures counted by HTTP status or by kind ("timeout", "connection").

Every bound is explicit: the run ends at most `timeout_s` after `duration_s`, every request has a socket
timeout, and the number of clients and the duration are capped. Measurement only: nothing is printed
(the CLI prints), nothing is retried (a 503 is counted as it came; `Retry-After` is counted too).

After a 503 with `Retry-After` a client waits that long (at most until the run ends) before its next
request, as a well-behaved client does; `honour_retry_after=False` makes a retry storm instead: every
client sends again at once, the load a server sees from clients that ignore the header.
"""

from __future__ import annotations

import http.client
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ocrkit.errors import OcrkitError

MAX_CONCURRENCY = 1024
MAX_DURATION_S = 3600.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    def connection(self, timeout_s: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout_s)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)


def parse_target(url: str, default_path: str = "/predict") -> Target:
    """`http://127.0.0.1:8080` -> POST to /predict; a URL with a path keeps it (an API Gateway stage)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OcrkitError(f"not an http(s) URL: {url!r}", hint="e.g. http://127.0.0.1:8080/predict")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OcrkitError(f"bad port in {url!r}") from None
    path = parts.path if parts.path not in ("", "/") else default_path
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port, path)


@dataclass(frozen=True)
class Outcome:
    """One request: the HTTP status (None when no answer came), the time it took, and why it failed."""

    status: int | None
    latency_s: float
    failure: str | None = None  # "timeout" | "connection" when no HTTP answer came
    retry_after: bool = False
    retry_after_s: float | None = None  # the Retry-After header's seconds, when it had a number

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def key(self) -> str:
        return str(self.status) if self.status is not None else (self.failure or "error")


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, seconds: list[float]) -> Percentiles | None:
        if not seconds:
            return None
        values = sorted(seconds)
        return cls(
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            p99=percentile(values, 99),
            mean=sum(values) / len(values),
            max=values[-1],
        )

    def to_json(self) -> dict:
        return {k: round(v * 1000.0, 1) for k, v in vars(self).items()}


@dataclass(frozen=True)
class LoadResult:
    url: str
    concurrency: int
    duration_s: float  # wall time from the first request to the last answer
    requests: int
    ok: int
    by_status: dict[str, int]  # "200": n, "503": n, "timeout": n, "connection": n
    latency: Percentiles | None  # of the successful requests
    latency_all_max_s: float  # the slowest request of any outcome (a bound on hanging)
    retry_after: int  # 503 answers that carried Retry-After
    timeout_s: float
    outcomes: list[Outcome] = field(default_factory=list, repr=False)

    @property
    def errors(self) -> int:
        return self.requests - self.ok

    @property
    def throughput(self) -> float:
        """Successful answers per second."""
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def attempted_rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def errors_by_status(self) -> dict[str, int]:
        return {k: v for k, v in self.by_status.items() if not (k.isdigit() and 200 <= int(k) < 300)}

    def to_json(self) -> dict:
        return {
            "url": self.url,
            "concurrency": self.concurrency,
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "errors_by_status": self.errors_by_status,
            "throughput_rps": round(self.throughput, 2),
            "attempted_rps": round(self.attempted_rate, 2),
            "latency_ms": self.latency.to_json() if self.latency else None,
            "slowest_ms": round(self.latency_all_max_s * 1000.0, 1),
            "retry_after_503": self.retry_after,
            "timeout_s": self.timeout_s,
        }


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) on an already sorted list."""
    if not sorted_values:
        raise ValueError("no values")
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def send_once(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[Outcome, http.client.HTTPConnection | None]:
    """One POST; returns the outcome and the connection to reuse (None when it must not be reused)."""
    started = time.perf_counter()
    own = conn or target.connection(timeout_s)
    try:
        own.request("POST", target.path, body=body, headers=headers)
        response = own.getresponse()
        response.read()
    except TimeoutError:
        own.close()
        return Outcome(None, time.perf_counter() - started, "timeout"), None
    except (OSError, http.client.HTTPException):
        own.close()
        return Outcome(None, time.perf_counter() - started, "connection"), None
    elapsed = time.perf_counter() - started
    header = response.getheader("Retry-After")
    outcome = Outcome(response.status, elapsed, None, header is not None, _seconds(header))
    if response.will_close:
        own.close()
        return outcome, None
    return outcome, own


def _seconds(header: str | None) -> float | None:
    """Retry-After as delay-seconds (the HTTP-date form is not used by ocrkit's servers)."""
    if header is None:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    return value if 0 <= value < MAX_DURATION_S else None


def run_load(
    url: str,
    body: bytes,
    *,
    content_type: str = "image/png",
    concurrency: int = 1,
    duration_s: float = 10.0,
    timeout_s: float = 30.0,
    max_requests: int | None = None,
    headers: dict[str, str] | None = None,
    honour_retry_after: bool = True,
) -> LoadResult:
    """Closed-loop load at `concurrency` clients for `duration_s` (see module doc)."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise OcrkitError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, not {concurrency}")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise OcrkitError(f"duration must be between 0 and {MAX_DURATION_S:g} s, not {duration_s:g}")
    if not timeout_s > 0:
        raise OcrkitError("timeout must be positive")
    if max_requests is not None and max_requests < 1:
        raise OcrkitError("max_requests must be at least 1")
    target = parse_target(url)
    all_headers = {"Content-Type": content_type, "Accept": "application/json", **(headers or {})}
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    sent = 0
    start = time.perf_counter()
    deadline = start + duration_s
    ends: list[float] = []

    def take_ticket() -> bool:
        nonlocal sent
        with lock:
            if time.perf_counter() >= deadline:
                return False
            if max_requests is not None and sent >= max_requests:
                return False
            sent += 1
            return True

    def client() -> None:
        conn: http.client.HTTPConnection | None = None
        mine: list[Outcome] = []
        try:
            while take_ticket():
                outcome, conn = send_once(target, body, all_headers, timeout_s, conn)
                mine.append(outcome)
                if honour_retry_after and outcome.status == 503 and outcome.retry_after_s:
                    time.sleep(max(0.0, min(outcome.retry_after_s, deadline - time.perf_counter())))
        finally:
            if conn is not None:
                conn.close()
            with lock:
                outcomes.extend(mine)
                ends.append(time.perf_counter())

    threads = [
        threading.Thread(target=client, name=f"ocrkit-load-{i}", daemon=True) for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    # Every client stops taking new requests at the deadline and each request ends within timeout_s
    # (plus a connect); the joins cannot wait longer than that.
    hard_stop = deadline + timeout_s * 2 + 5.0
    for thread in threads:
        thread.join(max(0.0, hard_stop - time.perf_counter()))
    with lock:
        done = list(outcomes)
        finished = max(ends) if ends else time.perf_counter()
    return summarise(target.url, concurrency, done, finished - start, timeout_s)


def summarise(
    url: str, concurrency: int, outcomes: list[Outcome], elapsed_s: float, timeout_s: float
) -> LoadResult:
    counts = Counter(o.key for o in outcomes)
    ok = [o.latency_s for o in outcomes if o.ok]
    return LoadResult(
        url=url,
        concurrency=concurrency,
        duration_s=elapsed_s,
        requests=len(outcomes),
        ok=len(ok),
        by_status=dict(sorted(counts.items())),
        latency=Percentiles.of(ok),
        latency_all_max_s=max((o.latency_s for o in outcomes), default=0.0),
        retry_after=sum(1 for o in outcomes if o.status == 503 and o.retry_after),
        timeout_s=timeout_s,
        outcomes=outcomes,
    )


def warm_up(
    url: str,
    body: bytes,
    *,
    content_type: str = "image/png",
    requests: int = 2,
    wait_ready_s: float = 60.0,
    timeout_s: float = 30.0,
) -> Outcome | None:
    """Send `requests` sequential requests before measuring; while the endpoint answers 503 (model still
    loading) keep trying for up to `wait_ready_s`. Returns the last outcome (None when requests=0)."""
    target = parse_target(url)
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    until = time.monotonic() + wait_ready_s
    last: Outcome | None = None
    done = 0
    while done < requests:
        last, conn = send_once(target, body, headers, timeout_s)
        if conn is not None:
            conn.close()
        if (last.status == 503 or last.failure == "connection") and time.monotonic() < until:
            time.sleep(0.5)
            continue
        done += 1
    return last
