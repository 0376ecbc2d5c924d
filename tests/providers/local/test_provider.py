"""The local deploy target: plan -> apply (a detached gunicorn process) -> status / invoke -> teardown.

Servers get unique names per test (`t-<random>`), so finding a server by its name can only ever match
the ones a test started.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path

import pytest

from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.records import ResourceRecord
from ocrkit.deploy.state import DeployState, load_state, open_state
from ocrkit.errors import OcrkitError
from ocrkit.providers.local.processes import find_servers
from ocrkit.providers.local.processes import is_our_server as _is_our_server
from ocrkit.providers.local.provider import COST_NOTE, KIND, LocalProvider
from ocrkit.providers.local.run import command_line, parse_args
from ocrkit.providers.local.spec import LocalDeploySpec, load_local_spec
from tests.gateway.imagegen import make_png
from tests.loadtest.servers import ROOT

PNG = make_png(40, 10)


def unique_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def provider(tmp_path) -> LocalProvider:
    return LocalProvider(cwd=ROOT)


@pytest.fixture
def deployment(tmp_path, provider):
    """A started echo server; torn down after the test whatever happened."""
    name = unique_name()
    spec = LocalDeploySpec(name=name, predictor="tests.loadtest.fakes:echo", stop_timeout_s=10)
    state = open_state(name, "local", tmp_path / "state")
    events = RecordingEvents()
    provider.apply(spec, provider.plan(spec, state), state, events)
    yield spec, state, events
    destroy(provider, name, state, RecordingEvents())


def test_the_default_config_loads() -> None:
    loaded = load_local_spec()
    spec = loaded.spec
    assert (spec.name, spec.host, spec.port, spec.workers, spec.batching) == (
        "ocrkit",
        "127.0.0.1",
        0,
        1,
        True,
    )
    assert not spec.is_public


def test_config_mistakes_name_the_field(tmp_path) -> None:
    config = tmp_path / "local.yaml"
    config.write_text("name: demo\nhost: my-laptop\n", encoding="utf-8")
    with pytest.raises(OcrkitError, match="host"):
        load_local_spec(config)
    config.write_text("name: demo\nport: 70000\n", encoding="utf-8")
    with pytest.raises(OcrkitError, match="port"):
        load_local_spec(config)
    config.write_text("name: demo\nweights: model.pt\n", encoding="utf-8")
    assert load_local_spec(config).spec.weights == str(tmp_path / "model.pt")  # relative to the file


def test_plan_for_nothing_running_is_one_free_create(provider, tmp_path) -> None:
    spec = LocalDeploySpec(name="demo", predictor="tests.loadtest.fakes:echo")
    plan = provider.plan(spec, None)
    assert plan.cloud == "local" and plan.name == "demo" and plan.hourly_cost is None
    (call,) = plan.calls
    assert (call.resource, call.kind, call.action) == ("server", KIND, "create")
    assert call.details["cost"] == COST_NOTE
    assert "any free port" in call.summary and "batching up to 8" in call.summary
    assert plan.warnings == []
    public = provider.plan(spec.model_copy(update={"host": "0.0.0.0"}), None)
    assert "reachable from the network" in public.warnings[0]


def test_plan_names_the_demo_checkpoint_when_it_is_the_model(provider, monkeypatch, tmp_path) -> None:
    import ocrkit.weights

    shipped = tmp_path / "demo-ocr.pt"
    shipped.write_bytes(b"stand-in")  # planning only checks that the file exists
    monkeypatch.setattr(ocrkit.weights, "shipped_weights_path", lambda: shipped)
    monkeypatch.delenv("OCRKIT_WEIGHTS", raising=False)
    monkeypatch.delenv("OCRKIT_DEMO_WEIGHTS", raising=False)
    plan = provider.plan(LocalDeploySpec(name="demo"), None)
    assert str(shipped) in plan.calls[0].summary
    assert any("demo checkpoint" in w for w in plan.warnings)
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"x")
    assert provider.plan(LocalDeploySpec(name="demo", weights=str(mine)), None).warnings == []


def test_plan_needs_a_model(provider, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("OCRKIT_WEIGHTS", raising=False)
    monkeypatch.setenv("OCRKIT_DEMO_WEIGHTS", "0")
    with pytest.raises(OcrkitError, match="no model weights"):
        provider.plan(LocalDeploySpec(name="demo"), None)
    with pytest.raises(OcrkitError, match="not found"):
        provider.plan(LocalDeploySpec(name="demo", weights=str(tmp_path / "nope.pt")), None)


def test_the_command_line_round_trips() -> None:
    spec = LocalDeploySpec(
        name="demo",
        port=8123,
        weights="/m.pt",
        batching=False,
        max_len=10,
        timeout_s=5,
        threads=6,
        torch_threads=1,
        workers=2,
    )
    options = spec.serve_options()
    argv = command_line(options, python="py")
    assert argv[:3] == ["py", "-m", "ocrkit.providers.local.run"]
    assert parse_args(argv[3:]) == options


@pytest.mark.slow
def test_deploy_status_invoke_teardown(deployment, provider) -> None:
    spec, state, events = deployment
    record = state.resources["server"]
    assert record.kind == KIND and record.id == str(record.attrs["pid"])
    url = record.attrs["url"]
    assert url.startswith("http://127.0.0.1:") and state.outputs["url"] == url
    assert Path(record.attrs["log"]).is_file() and Path(record.attrs["log"]).parent.name == "logs"
    assert any("Starting the local server" in s for s in events.steps)
    saved = load_state(spec.name, "local", state.path.parent)  # written to disk by the executor
    assert saved is not None and saved.resources["server"].id == record.id

    report = provider.status(state)
    assert report.healthy and report.url == url and report.resources[0][2] == "running, model loaded"

    answer = provider.invoke(state, PNG, "image/png")
    assert answer.status == 200 and answer.content_type.startswith("application/json")
    assert json.loads(answer.body)["text"] == "png 40x10" and answer.latency_ms > 0
    refused = provider.invoke(state, b"not an image", "image/png")
    assert refused.status == 400 and json.loads(refused.body)["error"]["code"] == "not_an_image"

    again = provider.plan(spec, state)
    assert [c.action for c in again.calls] == ["noop"] and "already running" in again.calls[0].summary
    assert [c.action for c in provider.plan(spec.model_copy(update={"max_batch": 4}), state).calls] == [
        "update"
    ]

    pid = int(record.id)
    port = int(record.attrs["port"])
    report = destroy(provider, spec.name, state, RecordingEvents())
    assert report.remaining == [] and len(report.deleted) == 1 and str(pid) in report.deleted[0]
    assert not _is_our_server(pid)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert "server" not in state.resources and "url" not in state.outputs
    # idempotent
    assert destroy(provider, spec.name, state, RecordingEvents()) == type(report)(deleted=[], remaining=[])
    assert provider.status(state).resources == []
    with pytest.raises(OcrkitError, match="nothing is deployed"):
        provider.invoke(state, PNG, "image/png")


@pytest.mark.slow
def test_teardown_without_state_finds_the_server_by_name(deployment, provider) -> None:
    spec, state, _ = deployment
    pid = int(state.resources["server"].id)
    assert [s.pid for s in find_servers(spec.name)] == [pid]  # the arbiter only, not its worker
    report = destroy(provider, spec.name, None, RecordingEvents())
    assert report.remaining == [] and str(pid) in report.deleted[0]
    assert find_servers(spec.name) == []


@pytest.mark.slow
def test_a_dead_server_is_reported_and_replaced(deployment, provider) -> None:
    spec, state, _ = deployment
    old = int(state.resources["server"].id)
    destroy(provider, spec.name, None, RecordingEvents())  # stopped behind the state's back
    report = provider.status(state)
    assert not report.healthy and report.resources[0][2].startswith("not running")
    plan = provider.plan(spec, state)
    assert [c.action for c in plan.calls] == ["create"] and "no longer running" in plan.warnings[0]
    provider.apply(spec, plan, state, RecordingEvents())
    assert list(state.resources) == ["server"] and int(state.resources["server"].id) != old
    assert provider.status(state).healthy


@pytest.mark.slow
def test_apply_with_new_settings_restarts(deployment, provider) -> None:
    spec, state, _ = deployment
    old = int(state.resources["server"].id)
    changed = spec.model_copy(update={"batching": False})
    events = RecordingEvents()
    provider.apply(changed, provider.plan(changed, state), state, events)
    assert any("Stopping the old server" in s for s in events.steps)
    assert not _is_our_server(old)
    assert (
        list(state.resources) == ["server"]
        and state.resources["server"].attrs["options"]["batching"] is False
    )
    assert provider.invoke(state, PNG, "image/png").status == 200


@pytest.mark.slow
def test_a_model_that_fails_to_load_stops_the_deploy_with_the_log(tmp_path, provider) -> None:
    name = unique_name()
    spec = LocalDeploySpec(name=name, predictor="tests.loadtest.fakes:broken", start_timeout_s=60)
    state = open_state(name, "local", tmp_path / "state")
    with pytest.raises(OcrkitError) as caught:
        provider.apply(spec, provider.plan(spec, state), state, RecordingEvents())
    message = str(caught.value)
    assert "failed to load" in message and "the fake model cannot load" in message  # the log's tail
    assert find_servers(name) == []  # nothing left running
    assert "server" not in state.resources


@pytest.mark.slow
def test_a_server_that_exits_stops_the_deploy_with_the_log(tmp_path, provider) -> None:
    name = unique_name()
    spec = LocalDeploySpec(name=name, predictor="tests.loadtest.fakes:exits", start_timeout_s=60)
    state = open_state(name, "local", tmp_path / "state")
    with pytest.raises(OcrkitError, match="exited"):
        provider.apply(spec, provider.plan(spec, state), state, RecordingEvents())
    assert find_servers(name) == []


def test_a_busy_port_is_refused_before_starting(tmp_path, provider) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        spec = LocalDeploySpec(name=unique_name(), port=port, predictor="tests.loadtest.fakes:echo")
        state = open_state(spec.name, "local", tmp_path / "state")
        with pytest.raises(OcrkitError, match="already in use"):
            provider.apply(spec, provider.plan(spec, state), state, RecordingEvents())


def test_a_recycled_pid_is_never_signalled(tmp_path, provider) -> None:
    """The state names this test's own PID (not a server): teardown must leave it alone."""
    name = unique_name()
    state = DeployState(name=name, cloud="local", path=tmp_path / "state" / f"{name}-local.json")
    state.resources["server"] = ResourceRecord(KIND, str(os.getpid()), {"pid": os.getpid()})
    report = destroy(provider, name, state, RecordingEvents())
    assert report.remaining == []  # this process is not an ocrkit server, so nothing was signalled
    assert not provider.status(state).healthy


@pytest.mark.slow
def test_the_deploy_commands_drive_the_local_target(tmp_path) -> None:
    """`ocrkit deploy / status / invoke / teardown --cloud local`, as a user runs them."""
    import subprocess
    import sys

    name = unique_name()
    config = tmp_path / "local.yaml"
    config.write_text(f"name: {name}\npredictor: tests.loadtest.fakes:echo\n", encoding="utf-8")
    image = tmp_path / "line.png"
    image.write_bytes(PNG)
    env = {**os.environ, "OCRKIT_STATE_DIR": str(tmp_path / "state")}

    def ocrkit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ocrkit.cli", *args],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=ROOT,
            env=env,
        )

    try:
        done = ocrkit("deploy", "--cloud", "local", "--config", str(config), "--yes")
        assert done.returncode == 0, done.stderr
        assert "$0.00" in done.stdout and "/predict" in done.stdout
        state = load_state(name, "local", tmp_path / "state")
        assert state is not None and state.outputs["url"].startswith("http://127.0.0.1:")
        assert (tmp_path / "logs" / f"{name}-local.log").is_file()  # beside the state folder

        status = ocrkit("status", "--cloud", "local", "--name", name, "--format", "json")
        assert status.returncode == 0 and json.loads(status.stdout)["healthy"] is True

        answer = ocrkit("invoke", "--cloud", "local", "--name", name, str(image), "--format", "json")
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout)["answer"]["text"] == "png 40x10"
    finally:
        down = ocrkit("teardown", "--cloud", "local", "--name", name, "--yes", "--format", "json")
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout)["remaining"] == []
    assert find_servers(name) == []
