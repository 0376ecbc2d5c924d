"""Prometheus text exposition: request counts by status, the latency histogram, requests in flight, the
model and batching gauges; by itself and served at GET /metrics by the production app."""

from __future__ import annotations

import threading
import time

import pytest

from ocrkit.server.metrics import CONTENT_TYPE, MetricFamily, Metrics, parse_exposition
from ocrkit.server.production import ServeOptions, build_app
from tests.gateway.fakes import BlockingPredictor, EchoPredictor
from tests.gateway.imagegen import make_png
from tests.server.conftest import http_call

PNG = make_png(32, 8)


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_counts_and_histogram_render_in_the_text_format() -> None:
    m = Metrics(routes={"/predict"}, buckets=(0.1, 1.0))
    for status, seconds in [(200, 0.05), (200, 0.5), (400, 0.01), (503, 2.0)]:
        m.request_started()
        m.request_finished("post", "/predict", status, seconds)
    m.rejected("/predict")
    text = m.render()
    assert "# TYPE ocrkit_http_requests_total counter" in text
    assert "# TYPE ocrkit_http_request_duration_seconds histogram" in text
    assert "# TYPE ocrkit_http_requests_in_flight gauge" in text
    s = parse_exposition(text)
    assert sample(s, "ocrkit_http_requests_total", method="POST", route="/predict", status="200") == 2
    assert sample(s, "ocrkit_http_requests_total", method="POST", route="/predict", status="503") == 1
    h = "ocrkit_http_request_duration_seconds"
    assert sample(s, f"{h}_bucket", route="/predict", le="0.1") == 2  # cumulative
    assert sample(s, f"{h}_bucket", route="/predict", le="1.0") == 3
    assert sample(s, f"{h}_bucket", route="/predict", le="+Inf") == 4
    assert sample(s, f"{h}_count", route="/predict") == 4
    assert sample(s, f"{h}_sum", route="/predict") == pytest.approx(2.56)
    assert sample(s, "ocrkit_http_requests_in_flight") == 0
    assert sample(s, "ocrkit_http_requests_rejected_total", route="/predict") == 1
    assert m.requests_total(status=200) == 2 and m.requests_total(route="/predict") == 4
    assert text.endswith("\n")


def test_every_family_has_help_and_type_once() -> None:
    m = Metrics()
    m.request_started()
    m.request_finished("GET", "other", 404, 0.001)
    text = m.render()
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names))
    helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP")]
    assert helps == names
    assert "process_resident_memory_bytes" in names


def test_label_values_are_escaped() -> None:
    m = Metrics()
    m.add_collector(lambda: [MetricFamily("x_info", "gauge", "odd labels", [({"v": 'a"b\\c\nd'}, 1)])])
    text = m.render()
    assert 'x_info{v="a\\"b\\\\c\\nd"} 1.0' in text
    assert sample(parse_exposition(text), "x_info", v='a"b\\c\nd') == 1


def test_a_broken_collector_does_not_break_the_scrape() -> None:
    m = Metrics()

    def broken():
        raise RuntimeError("boom")

    m.add_collector(broken)
    assert "ocrkit_http_requests_in_flight" in m.render()


def test_buckets_must_increase() -> None:
    with pytest.raises(ValueError):
        Metrics(buckets=(1.0, 0.5))


def test_metrics_route_counts_what_the_server_answered(serve) -> None:
    server = serve(build_app(ServeOptions(), predictor=EchoPredictor(), environ={}, wait=True))
    for body, ctype in [(PNG, "image/png"), (PNG, "image/png"), (b"words", "image/png"), (PNG, "text/html")]:
        http_call(server, "POST", "/predict", body, ctype)
    http_call(server, "GET", "/nope")
    http_call(server, "GET", "/ping")
    reply = http_call(server, "GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"] == CONTENT_TYPE
    s = parse_exposition(reply.text)
    total = "ocrkit_http_requests_total"
    assert sample(s, total, method="POST", route="/predict", status="200") == 2
    assert sample(s, total, method="POST", route="/predict", status="400") == 1
    assert sample(s, total, method="POST", route="/predict", status="415") == 1
    assert sample(s, total, method="GET", route="other", status="404") == 1  # unknown paths share a label
    assert sample(s, total, method="GET", route="/ping", status="200") == 1
    assert sample(s, "ocrkit_http_request_duration_seconds_count", route="/predict") == 4
    assert sample(s, "ocrkit_model_ready") == 1
    assert sample(s, "ocrkit_model_batches_total") == 2  # batching is on by default
    assert sample(s, "ocrkit_model_images_total") == 2
    assert sample(s, "ocrkit_admission_limit") == 32


def test_in_flight_and_admitted_while_a_request_waits_for_the_model(serve) -> None:
    predictor = BlockingPredictor()
    app = build_app(ServeOptions(batching=False), predictor=predictor, environ={}, wait=True)
    server = serve(app)
    thread = threading.Thread(target=lambda: http_call(server, "POST", "/predict", PNG, "image/png"))
    thread.start()
    try:
        assert predictor.started.wait(10)
        s = parse_exposition(http_call(server, "GET", "/metrics").text)
        assert sample(s, "ocrkit_http_requests_in_flight") == 2  # the waiting request and this scrape
        assert sample(s, "ocrkit_admitted_requests") == 1
    finally:
        predictor.release.set()
        thread.join(10)
    s = parse_exposition(http_call(server, "GET", "/metrics").text)
    assert sample(s, "ocrkit_http_requests_in_flight") == 1
    assert sample(s, "ocrkit_admitted_requests") == 0
    assert ("ocrkit_model_batches_total", ()) not in s  # no batcher without batching


def test_metrics_is_get_only(serve) -> None:
    server = serve(build_app(ServeOptions(), predictor=EchoPredictor(), environ={}, wait=True))
    reply = http_call(server, "POST", "/metrics", b"x", "text/plain")
    assert reply.status == 405 and reply.error_code == "method_not_allowed"


@pytest.mark.slow
def test_two_workers_add_up_in_every_scrape(tmp_path) -> None:
    """6 requests over --workers 2 read back as 6 from whichever worker answers (they once read 2, 2, 4)."""
    from tests.loadtest.servers import get, post, running_server

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    args = ["--predictor", "tests.loadtest.fakes:echo", "--workers", "2"]
    with running_server(args, tmp_path=tmp_path, env={"TMPDIR": str(scratch)}) as served:
        until = time.monotonic() + 60
        while served.log_text().count('"model loaded"') < 2 and time.monotonic() < until:
            time.sleep(0.1)
        for _ in range(6):
            assert post(served.url, "/predict", PNG, "image/png")[0] == 200
        assert [p.name.startswith("ocrkit-metrics-") for p in scratch.iterdir()] == [True]
        seen = []
        for _ in range(8):  # new connections: gunicorn hands them to either worker
            s = parse_exposition(get(served.url, "/metrics")[2].decode())
            seen.append(
                sample(s, "ocrkit_http_requests_total", method="POST", route="/predict", status="200")
            )
            workers = {labels for (name, labels) in s if name == "ocrkit_worker_info"}
            assert len(workers) == 2
            assert sample(s, "ocrkit_admission_limit") == 64  # 32 per worker, summed
        assert seen == [6] * 8
    assert list(scratch.iterdir()) == []  # the per-server folder is removed at stop
