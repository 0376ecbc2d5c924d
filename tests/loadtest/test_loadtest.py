"""The load generator (`ocrkit.loadtest`, `ocrkit loadtest`) and the server's behaviour under overload.

Every run here is bounded (a few seconds, at most 32 clients) and goes to 127.0.0.1 only. Nothing
asserts a speed: the overload test checks behaviour (load is shed with 503 + Retry-After, no request
outlives its timeout, the server recovers, memory stays bounded).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from ocrkit.errors import OcrkitError
from ocrkit.loadtest import Outcome, parse_target, percentile, run_load, summarise, warm_up
from ocrkit.server.metrics import parse_exposition
from ocrkit.server.production import ServeOptions, build_app
from tests.gateway.fakes import EchoPredictor
from tests.gateway.imagegen import make_png
from tests.loadtest.fakes import SLOW_ENV
from tests.loadtest.servers import ROOT, get, post, running_server

PNG = make_png(40, 10)
MiB = 1024 * 1024


# -- the library ---------------------------------------------------------------------------------------


def test_percentiles_interpolate_like_numpy() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([3.0], 99) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_targets() -> None:
    t = parse_target("http://127.0.0.1:8080")
    assert (t.host, t.port, t.path, t.is_loopback) == ("127.0.0.1", 8080, "/predict", True)
    t = parse_target("https://abc.execute-api.us-east-1.amazonaws.com/getPrediction")
    assert (t.port, t.path, t.is_loopback) == (443, "/getPrediction", False)
    assert parse_target("http://localhost:9/predict?char_probs=1").path == "/predict?char_probs=1"
    with pytest.raises(OcrkitError):
        parse_target("ftp://x")


def test_summary_counts_by_status_and_kind() -> None:
    outcomes = [
        Outcome(200, 0.1),
        Outcome(200, 0.3),
        Outcome(503, 0.01, retry_after=True),
        Outcome(504, 2.0),
        Outcome(None, 5.0, "timeout"),
    ]
    r = summarise("http://x", 4, outcomes, 2.0, 5.0)
    assert r.requests == 5 and r.ok == 2 and r.errors == 3
    assert r.by_status == {"200": 2, "503": 1, "504": 1, "timeout": 1}
    assert r.errors_by_status == {"503": 1, "504": 1, "timeout": 1}
    assert r.throughput == 1.0 and r.retry_after == 1 and r.latency_all_max_s == 5.0
    assert r.latency is not None and r.latency.p50 == pytest.approx(0.2)
    doc = r.to_json()
    assert doc["throughput_rps"] == 1.0 and doc["latency_ms"]["p50"] == 200.0


def test_bounds_are_checked() -> None:
    with pytest.raises(OcrkitError):
        run_load("http://127.0.0.1:9", PNG, concurrency=0)
    with pytest.raises(OcrkitError):
        run_load("http://127.0.0.1:9", PNG, duration_s=0)
    with pytest.raises(OcrkitError):
        run_load("http://127.0.0.1:9", PNG, max_requests=0)


def test_a_run_against_the_model_server(serve) -> None:
    server = serve(build_app(ServeOptions(), predictor=EchoPredictor(), environ={}, wait=True))
    r = run_load(f"{server.url}/predict", PNG, concurrency=4, duration_s=0.5, timeout_s=10)
    assert r.requests > 0 and r.ok == r.requests and r.by_status == {"200": r.requests}
    assert r.latency is not None and r.latency.p50 <= r.latency.p99 <= r.latency.max
    capped = run_load(server.url, PNG, concurrency=2, duration_s=30, max_requests=5, timeout_s=10)
    assert capped.requests == 5  # max_requests ends the run long before the duration
    assert warm_up(server.url, PNG, requests=1).status == 200


def _always_busy(environ, start_response):
    start_response("503 Service Unavailable", [("Retry-After", "1"), ("Content-Length", "0")])
    return [b""]


def test_retry_after_is_honoured_unless_ignored(serve) -> None:
    """One client, a server that always answers 503 + Retry-After: 1, for 1.5 s."""
    server = serve(_always_busy)
    polite = run_load(server.url, PNG, concurrency=1, duration_s=1.5, timeout_s=10)
    storm = run_load(server.url, PNG, concurrency=1, duration_s=1.5, timeout_s=10, honour_retry_after=False)
    assert set(polite.by_status) == set(storm.by_status) == {"503"}
    assert polite.requests <= 2  # the request at 0 s, then waits 1 s, then the one at ~1 s
    assert storm.requests > 2 * polite.requests  # resends at once after each refusal


def test_a_closed_port_counts_connection_errors() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        r = run_load(f"http://127.0.0.1:{port}", PNG, concurrency=2, duration_s=0.3, timeout_s=2)
    assert r.ok == 0 and r.requests > 0 and set(r.by_status) == {"connection"}


# -- against `ocrkit serve` ----------------------------------------------------------------------------


@pytest.mark.slow
def test_overload_is_shed_with_503_and_the_server_recovers(tmp_path) -> None:
    """A slow model (0.3 s per call), 2 requests admitted, a 3 s request timeout, 32 clients for 3 s."""
    timeout_s = 3.0
    args = [
        "--predictor",
        "tests.loadtest.fakes:slow",
        "--max-inflight",
        "2",
        "--threads",
        "8",
        "--timeout",
        str(timeout_s),
        "--max-batch",
        "2",
    ]
    with running_server(args, tmp_path=tmp_path, env={SLOW_ENV: "0.3"}) as served:
        assert post(served.url, "/predict", PNG, "image/png")[0] == 200
        rss_before = served.rss_bytes()
        result = run_load(served.url, PNG, concurrency=32, duration_s=3.0, timeout_s=30.0, max_requests=3000)
        rss_after = served.rss_bytes()
        # load was shed, not queued: refusals came at once, with Retry-After
        assert result.by_status.get("503", 0) > 0, result.by_status
        assert result.retry_after == result.by_status["503"]
        assert result.ok > 0
        assert set(result.by_status) <= {"200", "503", "504"}, result.by_status  # no hangs, no resets
        # no request outlived its timeout (plus a margin for a busy machine): a bound, not a speed
        assert result.latency_all_max_s < timeout_s + 10.0
        # and afterwards a single request succeeds
        status, _, body = post(served.url, "/predict", PNG, "image/png")
        assert status == 200 and json.loads(body)["text"] == "png 40x10"
        assert rss_before > 0 and rss_after < rss_before + 200 * MiB
        samples = parse_exposition(get(served.url, "/metrics")[2].decode())
        assert samples[("ocrkit_http_requests_rejected_total", (("route", "/predict"),))] > 0
        refused = samples[("ocrkit_http_requests_rejected_total", (("route", "/predict"),))]
    # refusals are counted, not logged one by one: one summary line per 10 s at most
    log = served.log_text()
    assert '"error": "overloaded"' not in log
    shed_lines = [line for line in log.splitlines() if '"shed"' in line]
    assert 1 <= len(shed_lines) <= 2 and refused >= result.by_status["503"]


@pytest.mark.slow
def test_a_retry_storm_is_refused_off_thread_and_slowed_down(tmp_path) -> None:
    """16 clients that ignore Retry-After against 2 admitted requests: each refusal is answered by the
    worker's main loop as late as Retry-After says (1 s) and closes the connection, so the storm cannot
    outrun the model (first: every refusal came back at once and was resent at once, hundreds a second;
    then 0.5 s late, twice as often as Retry-After allows, each costing the server's CPU)."""
    args = ["--predictor", "tests.loadtest.fakes:slow", "--max-inflight", "2", "--max-batch", "2"]
    with running_server(args, tmp_path=tmp_path, env={SLOW_ENV: "0.2"}) as served:
        result = run_load(
            served.url, PNG, concurrency=16, duration_s=3.0, timeout_s=30.0, honour_retry_after=False
        )
        refused = result.by_status.get("503", 0)
        assert result.ok > 0 and refused > 0 and set(result.by_status) <= {"200", "503"}, result.by_status
        # 14 storming clients x 3 s / 1 s (Retry-After) per refusal = 42 at most, plus the first round
        assert refused <= 14 * (3.0 / 1.0 + 1), result.by_status
        assert result.retry_after == refused
        samples = parse_exposition(get(served.url, "/metrics")[2].decode())
        assert samples[("ocrkit_http_requests_rejected_total", (("route", "/predict"),))] >= refused
        assert get(served.url, "/ping")[0] == 200


@pytest.mark.slow
def test_ocrkit_loadtest_cli_at_1_8_and_32_clients(tmp_path) -> None:
    image = tmp_path / "line.png"
    image.write_bytes(PNG)
    with running_server(["--predictor", "tests.loadtest.fakes:echo"], tmp_path=tmp_path) as served:
        done = subprocess.run(
            [sys.executable, "-m", "ocrkit.cli", "loadtest", "--url", served.url, "--image", str(image)]
            + ["-c", "1", "-c", "8", "-c", "32", "--duration", "1", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["url"] == f"{served.url}/predict" and doc["image_bytes"] == len(PNG)
        assert [r["concurrency"] for r in doc["results"]] == [1, 8, 32]
        for r in doc["results"]:
            assert r["requests"] > 0 and r["ok"] == r["requests"] and r["errors_by_status"] == {}
            assert set(r["latency_ms"]) == {"p50", "p95", "p99", "mean", "max"}
            assert r["throughput_rps"] > 0
        table = subprocess.run(
            [sys.executable, "-m", "ocrkit.cli", "loadtest", "--url", f"{served.url}/predict"]
            + ["--image", str(image), "-c", "2", "--duration", "0.5"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert table.returncode == 0, table.stderr
        assert "p95 ms" in table.stdout and "none" in table.stdout


@pytest.mark.slow
@pytest.mark.model
def test_ocrkit_loadtest_without_image_sends_a_rendered_sample(tmp_path) -> None:
    """The README's example has no --image: a sample word is rendered and sent (it once crashed)."""
    with running_server(["--predictor", "tests.loadtest.fakes:echo"], tmp_path=tmp_path) as served:
        done = subprocess.run(
            [sys.executable, "-m", "ocrkit.cli", "loadtest", "--url", served.url]
            + ["-c", "1", "--duration", "0.5", "--format", "json", "--ignore-retry-after"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["image"].startswith("rendered sample '") and doc["retry_after"] == "ignored"
    assert doc["results"][0]["ok"] == doc["results"][0]["requests"] > 0


def test_loadtest_refuses_a_remote_url_unless_allowed() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ocrkit.cli", "loadtest", "--url", "https://example.com/predict"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "--allow-remote" in done.stderr and "Traceback" not in done.stderr
