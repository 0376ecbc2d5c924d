"""The production stack of `ocrkit serve`: the middleware's own routes (page, static files), admission
control (503 + Retry-After instead of a pile-up), JSON request logs, and the real gunicorn process
(embedded via BaseApplication, gthread workers, graceful SIGTERM)."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import threading
import time

import pytest

from ocrkit.errors import OcrkitError
from ocrkit.server.jsonlog import REQUEST_LOGGER, JsonFormatter, gunicorn_logconfig
from ocrkit.server.metrics import parse_exposition
from ocrkit.server.production import (
    OVERLOADED,
    ServeOptions,
    build_app,
    check_model_source,
    gunicorn_settings,
)
from tests.gateway.fakes import BlockingPredictor, EchoPredictor
from tests.gateway.imagegen import make_png
from tests.loadtest.servers import ROOT, get, post, running_server, small_checkpoint, stop
from tests.server.conftest import http_call

PNG = make_png(40, 10)


@pytest.fixture
def echo_server(serve):
    return serve(build_app(ServeOptions(), predictor=EchoPredictor(), environ={}, wait=True))


@pytest.fixture
def request_lines():
    """JSON lines the request logger writes while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(REQUEST_LOGGER)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(old_level)


# -- the page and its files ----------------------------------------------------------------------------


def test_the_page_is_served_with_its_files(echo_server) -> None:
    page = http_call(echo_server, "GET", "/")
    assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    html = page.text
    assert '<input id="file" type="file"' in html and "/static/app.js" in html
    links = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert links and all(link.startswith(("/", "data:")) for link in links), links  # nothing external
    for name, ctype in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        reply = http_call(echo_server, "GET", f"/static/{name}")
        assert reply.status == 200 and reply.headers["content-type"].startswith(ctype)
    assert "url(" not in http_call(echo_server, "GET", "/static/style.css").text
    # the page talks to this server only: /predict, the sample list, and the samples that list names
    fetched = re.findall(r"fetch\(([^,)]*)", http_call(echo_server, "GET", "/static/app.js").text)
    assert sorted(fetched) == ['"/predict"', '"/samples.json"', "sample.url"]
    samples = http_call(echo_server, "GET", "/samples.json").json()
    assert samples and all(sample["url"].startswith("/static/samples/") for sample in samples)
    first = http_call(echo_server, "GET", samples[0]["url"])
    assert first.status == 200 and first.headers["content-type"] == "image/jpeg"
    assert http_call(echo_server, "GET", "/index.html").status == 200


@pytest.mark.parametrize("path", ["/static/nope.js", "/static/../app.py", "/static/"])
def test_unknown_static_files_are_404(echo_server, path: str) -> None:
    reply = http_call(echo_server, "GET", path)
    assert reply.status == 404 and reply.error_code == "not_found"


def test_the_page_is_get_only_and_predict_is_unchanged(echo_server) -> None:
    reply = http_call(echo_server, "POST", "/", PNG, "image/png")
    assert reply.status == 405 and reply.headers["allow"] == "GET, HEAD"
    answer = http_call(echo_server, "POST", "/predict", PNG, "image/png")
    assert answer.status == 200 and answer.json()["text"] == "png 40x10"


def test_every_error_code_has_a_sentence_on_the_page() -> None:
    from ocrkit.gateway.errors import Code

    script = (ROOT / "ocrkit/server/static/app.js").read_text(encoding="utf-8")
    for code in [*(c.value for c in Code), OVERLOADED]:
        assert f"  {code}: " in script, code


# -- admission control ---------------------------------------------------------------------------------


def test_requests_beyond_the_limit_get_503_with_retry_after(serve) -> None:
    predictor = BlockingPredictor()
    options = ServeOptions(max_inflight=1, batching=False)
    server = serve(build_app(options, predictor=predictor, environ={}, wait=True))
    first: dict = {}
    thread = threading.Thread(
        target=lambda: first.update(r=http_call(server, "POST", "/predict", PNG, "image/png"))
    )
    thread.start()
    try:
        assert predictor.started.wait(10)
        refused = http_call(server, "POST", "/predict", PNG, "image/png")
        assert refused.status == 503
        assert refused.error_code == OVERLOADED
        assert refused.headers["retry-after"] == "1"
        assert "x-request-id" in refused.headers
        assert http_call(server, "POST", "/invocations", PNG, "image/png").status == 503  # every POST route
        # health checks and the page still answer while the model is busy
        assert http_call(server, "GET", "/healthz").status == 200
        assert http_call(server, "GET", "/ping").status == 200
        assert http_call(server, "GET", "/").status == 200
    finally:
        predictor.release.set()
        thread.join(10)
    assert first["r"].status == 200
    assert http_call(server, "POST", "/predict", PNG, "image/png").status == 200  # admitted again


def test_a_request_that_waits_too_long_is_answered_504(serve) -> None:
    predictor = BlockingPredictor()
    options = ServeOptions(timeout_s=0.3)
    server = serve(build_app(options, predictor=predictor, environ={}, wait=True))
    try:
        reply = http_call(server, "POST", "/predict", PNG, "image/png")
        assert reply.status == 504 and reply.error_code == "backend_timeout"
    finally:
        predictor.release.set()


def test_options_are_checked() -> None:
    with pytest.raises(OcrkitError, match="max-inflight"):
        ServeOptions(max_inflight=0)
    with pytest.raises(OcrkitError, match="port"):
        ServeOptions(port=70000)
    assert ServeOptions(max_inflight=4).worker_threads == 12
    assert ServeOptions(host="0.0.0.0", port=9).url == "http://127.0.0.1:9"
    assert ServeOptions(host="::1", port=9).url == "http://[::1]:9"
    assert ServeOptions(torch_threads=3).model_threads == 3
    assert ServeOptions(workers=64).model_threads == 1  # never more model threads than cores in all
    with pytest.raises(OcrkitError, match="torch-threads"):
        ServeOptions(torch_threads=0)


def test_a_refusal_is_answered_as_late_as_retry_after_says() -> None:
    assert ServeOptions().refusal_delay_s == 1.0
    assert ServeOptions(retry_after_s=3).refusal_delay_s == 3.0
    assert ServeOptions(shed_delay_s=0.25).refusal_delay_s == 0.25
    with pytest.raises(OcrkitError, match="shed_delay_s"):
        ServeOptions(shed_delay_s=-1)


@pytest.mark.parametrize(
    ("cores", "workers", "threads"), [(1, 1, 1), (2, 1, 1), (2, 2, 1), (4, 1, 3), (8, 2, 3), (8, 4, 1)]
)
def test_the_model_leaves_a_core_to_the_workers_own_threads(monkeypatch, cores, workers, threads) -> None:
    """On 2 cores the model once took both (cores / workers): every wake-up of the main loop (a retry
    storm's accepts and refusals) or of a request thread then stalled torch's parallel steps."""
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert ServeOptions(workers=workers).model_threads == threads
    assert ServeOptions(workers=workers, torch_threads=2).model_threads == 2  # asked for: as asked


def test_gunicorn_is_configured_for_bounded_concurrency() -> None:
    s = gunicorn_settings(ServeOptions(port=9000, workers=2, max_inflight=4, timeout_s=5))
    assert s["bind"] == ["127.0.0.1:9000"] and s["workers"] == 2
    assert s["worker_class"] == "ocrkit.server.worker.OcrkitWorker" and s["threads"] == 12
    assert s["preload_app"] is False  # each worker builds its app and loads the model itself
    assert s["timeout"] == 35 and s["accesslog"] is None
    assert gunicorn_settings(ServeOptions(host="::1", port=9))["bind"] == ["[::1]:9"]


def test_model_source_is_checked_before_anything_starts(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("OCRKIT_WEIGHTS", raising=False)
    monkeypatch.setenv("OCRKIT_DEMO_WEIGHTS", "0")
    with pytest.raises(OcrkitError, match="no model weights"):
        check_model_source(ServeOptions())
    with pytest.raises(OcrkitError, match="not found"):
        check_model_source(ServeOptions(weights=str(tmp_path / "missing.pt")))
    with pytest.raises(OcrkitError, match="cannot import"):
        check_model_source(ServeOptions(predictor="no_such_module:make"))
    with pytest.raises(OcrkitError, match="module:factory"):
        check_model_source(ServeOptions(predictor="just_a_name"))
    weights = tmp_path / "m.pt"
    weights.write_bytes(b"x")
    monkeypatch.setenv("OCRKIT_WEIGHTS", str(weights))
    assert check_model_source(ServeOptions()) == str(weights)


# -- request logs --------------------------------------------------------------------------------------


def test_one_json_line_per_request_without_image_or_text(echo_server, request_lines) -> None:
    http_call(echo_server, "POST", "/predict", PNG, "image/png", {"X-Request-Id": "req-42"})
    http_call(echo_server, "POST", "/predict", b"not an image", "image/png")
    http_call(echo_server, "GET", "/healthz")
    lines = request_lines()
    assert [line["path"] for line in lines] == ["/predict", "/predict", "/healthz"]
    ok, bad, health = lines
    assert ok["msg"] == "request" and ok["request_id"] == "req-42"
    assert ok["method"] == "POST" and ok["status"] == 200 and ok["request_bytes"] == len(PNG)
    assert isinstance(ok["latency_ms"], float) and ok["content_type"] == "image/png"
    assert ok["logger"] == REQUEST_LOGGER and ok["level"] == "info" and "ts" in ok and "pid" in ok
    assert bad["status"] == 400 and bad["error"] == "not_an_image"
    assert health["status"] == 200 and "content_type" not in health
    dumped = json.dumps(lines)
    assert "png 40x10" not in dumped  # the recognised text is never logged
    assert "PNG" not in dumped and "not an image" not in dumped  # nor the body


def test_the_request_id_answered_is_the_one_logged(echo_server, request_lines) -> None:
    reply = http_call(echo_server, "POST", "/predict", PNG, "image/png")
    assert request_lines()[0]["request_id"] == reply.headers["x-request-id"]


def test_json_formatter_keeps_extra_fields_and_exceptions() -> None:
    record = logging.LogRecord("ocrkit.x", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
    record.request_id = "abc"
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    doc = json.loads(JsonFormatter().format(record))
    assert doc["msg"] == "failed here" and doc["level"] == "error" and doc["request_id"] == "abc"
    assert "ValueError: boom" in doc["exc"]


def test_gunicorn_logconfig_formats_its_own_messages_as_json() -> None:
    config = gunicorn_logconfig("warning")
    assert config["loggers"]["gunicorn.error"]["level"] == "WARNING"
    assert config["formatters"]["json"]["()"].endswith("JsonFormatter")


# -- the real gunicorn process -------------------------------------------------------------------------


@pytest.mark.slow
def test_ocrkit_serve_runs_gunicorn_and_stops_gracefully(tmp_path) -> None:
    with running_server(["--predictor", "tests.loadtest.fakes:echo"], tmp_path=tmp_path) as served:
        status, headers, body = post(served.url, "/predict", PNG, "image/png")
        assert status == 200 and json.loads(body)["text"] == "png 40x10"
        assert headers["server"].startswith("gunicorn")  # not a development server
        status, _, body = post(served.url, "/invocations", PNG, "image/png", {"Accept": "text/plain"})
        assert (status, body) == (200, b"png 40x10")
        status, _, body = get(served.url, "/metrics")
        samples = parse_exposition(body.decode())
        key = ("ocrkit_http_requests_total", (("method", "POST"), ("route", "/predict"), ("status", "200")))
        assert status == 200 and samples[key] == 1
        assert get(served.url, "/")[0] == 200
        code = stop(served)
        assert code == 0  # SIGTERM: graceful stop
    lines = [json.loads(line) for line in served.log_text().splitlines() if line.startswith("{")]
    text_lines = [line for line in served.log_text().splitlines() if line and not line.startswith("{")]
    # stderr is JSON lines, apart from the two human lines `ocrkit serve` prints before gunicorn starts
    assert len(text_lines) <= 2, text_lines
    messages = [line["msg"] for line in lines]
    assert any(m.startswith("Booting worker") for m in messages)
    assert any(m.startswith("Listening at: http://127.0.0.1:") for m in messages)
    requests_logged = [line for line in lines if line.get("logger") == REQUEST_LOGGER]
    assert {(line["method"], line["path"], line["status"]) for line in requests_logged} >= {
        ("POST", "/predict", 200),
        ("POST", "/invocations", 200),
        ("GET", "/metrics", 200),
    }
    assert "png 40x10" not in served.log_text()


@pytest.mark.slow
def test_two_workers_each_load_their_own_model(tmp_path) -> None:
    args = ["--predictor", "tests.loadtest.fakes:echo", "--workers", "2"]
    with running_server(args, tmp_path=tmp_path) as served:
        for _ in range(4):
            assert post(served.url, "/predict", PNG, "image/png")[0] == 200
        until = time.monotonic() + 30
        while served.log_text().count('"model loaded"') < 2 and time.monotonic() < until:
            time.sleep(0.1)
        assert served.log_text().count('"model loaded"') == 2  # after the fork, in each worker
    workers = {
        json.loads(line)["pid"]
        for line in served.log_text().splitlines()
        if line.startswith("{") and '"model loaded"' in line
    }
    assert len(workers) == 2 and served.pid not in workers  # never in the arbiter


def test_serve_without_weights_is_one_line_and_exit_2(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OCRKIT_DEMO_WEIGHTS": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "ocrkit.cli", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 2
    assert "no model weights" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.model
def test_serve_a_real_checkpoint(tmp_path) -> None:
    weights = small_checkpoint(tmp_path / "small.pt")
    with running_server(["--weights", str(weights), "--max-len", "12"], tmp_path=tmp_path) as served:
        status, _, body = post(served.url, "/predict", PNG, "image/png")
        answer = json.loads(body)
        assert status == 200 and isinstance(answer["text"], str) and 0 <= answer["confidence"] <= 1
        assert len(answer["text"]) <= 12


def test_serving_code_imports_without_torch_or_gunicorn() -> None:
    """The model loads inside each worker; gunicorn is imported only when serving starts."""
    modules = [
        "ocrkit.commands.serve",
        "ocrkit.loadtest",
        "ocrkit.server.production",
        "ocrkit.server.batching",
        "ocrkit.server.metrics",
        "ocrkit.server.jsonlog",
        "ocrkit.providers.local.provider",
        "ocrkit.providers.local.run",
    ]
    script = (
        "import sys\n"
        "for name in ('torch', 'torchvision', 'numpy', 'cv2', 'PIL', 'gunicorn'):\n"
        "    sys.modules[name] = None\n"
        f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\nprint('OK')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK"


def _serve_fails(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OCRKIT_DEMO_WEIGHTS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "ocrkit.cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )


def test_serve_on_a_busy_port_is_one_line_and_exit_2(tmp_path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _serve_fails(["--predictor", "tests.loadtest.fakes:echo", "--port", str(port)], tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "already in use" in lines[0], done.stderr  # before: 14 lines over 5 s


@pytest.mark.model
def test_serve_refuses_weights_it_cannot_load(tmp_path) -> None:
    """A corrupt file and a wrong-architecture one: one line, exit 2, before any worker starts."""
    import torch

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a checkpoint" * 10)
    wrong = tmp_path / "wrong.pt"
    torch.save({"model": {"backbone.conv1.weight": torch.zeros(3, 3)}}, wrong)
    for weights in (corrupt, wrong):
        done = _serve_fails(["--weights", str(weights), "--port", "0"], tmp_path)
        assert done.returncode == 2, done.stderr  # before: served, answering 503 forever
        assert "Traceback" not in done.stderr and "Booting worker" not in done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and f"cannot serve {weights}" in lines[0], done.stderr


@pytest.mark.slow
def test_native_stderr_lines_become_json_log_lines(tmp_path) -> None:
    """What C code writes to fd 2 (libpng's warnings) no longer interleaves with the JSON lines."""
    with running_server(["--predictor", "tests.loadtest.fakes:noisy"], tmp_path=tmp_path) as served:
        for _ in range(3):
            assert post(served.url, "/predict", PNG, "image/png")[0] == 200
        stop(served)
    lines = [line for line in served.log_text().splitlines() if line.strip()]
    text_lines = [line for line in lines if not line.startswith("{")]
    assert len(text_lines) <= 2, text_lines  # the two lines `ocrkit serve` prints before gunicorn starts
    native = [json.loads(line) for line in lines if line.startswith("{") and '"ocrkit.native"' in line]
    assert sum("libpng warning" in n["msg"] for n in native) == 3 and native[0]["level"] == "warning"
