"""`ocrkit status --all --cloud local`: a running local deployment is found by its command line with no
state file, costs $0, and its idleness is unknown (no invocation count outlives the process)."""

from __future__ import annotations

import json
import uuid

from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.state import open_state
from ocrkit.providers.local.provider import LocalProvider
from ocrkit.providers.local.spec import LocalDeploySpec
from tests.loadtest.servers import ROOT
from tests.providers.helpers import run


def test_a_running_local_server_is_listed_without_its_state_file(tmp_path, capsys, monkeypatch) -> None:
    provider = LocalProvider(cwd=ROOT)
    name = f"t-{uuid.uuid4().hex[:10]}"
    spec = LocalDeploySpec(name=name, predictor="tests.loadtest.fakes:echo", stop_timeout_s=10)
    state = open_state(name, "local", tmp_path / "state")
    provider.apply(spec, provider.plan(spec, state), state, RecordingEvents())
    try:
        monkeypatch.setenv("OCRKIT_STATE_DIR", str(tmp_path / "elsewhere"))  # no state file there
        code, out, err = run(
            capsys, "status", "--all", "--cloud", "local", "--format", "json", "--fail-on-idle"
        )
        assert code == 0, err
        rows = {r["name"]: r for r in json.loads(out)["deployments"]}
        row = rows[name]  # other local servers of this machine may be listed too
        assert row["cloud"] == "local" and row["hourly_cost"] == "0" and row["verdict"] == "unknown"
        assert f"PID {state.resources['server'].id}" in row["running"]
        assert row["teardown"] is None
        code, _, err = run(capsys, "status", "--all", "--cloud", "local", "--region", "x")
        assert code == 2 and "--region does not apply" in err
    finally:
        destroy(provider, name, state, RecordingEvents())
    code, out, _ = run(capsys, "status", "--all", "--cloud", "local", "--format", "json")
    assert name not in {r["name"] for r in json.loads(out)["deployments"]}
