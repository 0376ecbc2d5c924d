"""`ocrkit deploy / status / teardown --cloud gcp` through the console entry point, against drongo and the
storage emulator; the plan's cost, the public/private wording, and the options that only GCP has."""

from __future__ import annotations

import json

import pytest

from ocrkit.deploy.state import load_state
from ocrkit.providers.gcp import functions, planning
from tests.providers.helpers import run


@pytest.fixture
def no_put(monkeypatch):
    """drongo's upload URL is storage.googleapis.com: record the PUT instead of sending it."""
    sent: list[int] = []
    monkeypatch.setattr(functions, "default_put", lambda url, data: sent.append(len(data)))
    monkeypatch.setattr(planning.Options, "__init__", _fast_options_init(planning.Options.__init__))
    return sent


def _fast_options_init(original):
    def init(self, *args, **kwargs):
        kwargs.setdefault("poll_s", 0)
        original(self, *args, **kwargs)

    return init


@pytest.mark.slow
def test_deploy_status_teardown_commands(gcp, capsys, fake_weights, no_put, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    base = ["--cloud", "gcp", "--name", "demo"]
    code, out, _ = run(capsys, "deploy", *base, "--weights", str(fake_weights), "--dry-run")
    assert code == 0, out
    assert "plan for 'demo'" in out and "8 to create" in out
    assert "$0.6486/hour" in out and "/month" in out
    assert "NVIDIA_TESLA_T4" in out and "n1-standard-4" in out
    assert "the function is private" in out and "Dry run: nothing was changed." in out
    assert "demo-fn@demo-project.iam.gserviceaccount.com" in out and "gcloud" not in out
    assert load_state("demo", "gcp") is None

    code, out, _ = run(capsys, "deploy", *base, "--weights", str(fake_weights), "--dry-run", "--public")
    assert code == 0 and "the function is PUBLIC" in out

    code, out, err = run(capsys, "deploy", *base, "--weights", str(fake_weights), "--yes")
    assert code == 0, err
    assert "Deployed 'demo' on gcp." in out
    assert "curl --location https://us-east4-demo-project.cloudfunctions.net/demo-gateway/predict" in out
    assert len(no_put) == 1  # the function source, once

    code, out, _ = run(capsys, "deploy", *base, "--weights", str(fake_weights), "--yes")
    assert code == 0 and "Nothing to change." in out

    code, out, _ = run(capsys, "status", *base, "--format", "json")
    assert code == 0
    status = json.loads(out)
    assert status["healthy"] is True and status["hourly_cost"].startswith("0.6485")
    rows = {r["resource"]: r["state"] for r in status["resources"]}
    assert rows["deployed-model"].startswith("n1-standard-4 + NVIDIA_TESLA_T4 x 1, 1-2 replicas")
    assert rows["service-account"] == "exists"
    assert rows["predict-binding"].endswith("roles/aiplatform.user on the endpoint")
    assert rows["invoker"].startswith("private: no public binding")

    code, out, _ = run(capsys, "teardown", *base, "--yes")
    assert code == 0, out
    assert "Nothing billable remains" in out
    assert load_state("demo", "gcp") is None


def test_gcp_only_options_are_refused_elsewhere(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "deploy", "--cloud", "aws", "--project", "p-12345", "--dry-run")
    assert code != 0 and "--project and --public apply to --cloud gcp" in err


@pytest.mark.slow
def test_status_and_teardown_find_a_deployment_in_another_project(
    gcp, capsys, fake_weights, no_put, tmp_path
) -> None:
    """With the state file gone, `--project` says where to look by labels (bucket names are global)."""
    base = ["--cloud", "gcp", "--name", "elsewhere"]
    code, _, err = run(
        capsys, "deploy", *base, "--project", "other-project", "--weights", str(fake_weights), "--yes"
    )
    assert code == 0, err
    state = load_state("elsewhere", "gcp")
    assert state is not None and state.outputs["project"] == "other-project"
    for path in (tmp_path / ".ocrkit" / "state").glob("elsewhere*"):
        path.unlink()
    assert load_state("elsewhere", "gcp") is None

    def found(*extra: str) -> set[str]:
        code, out, err = run(capsys, "status", *base, *extra, "--format", "json")
        return {r["resource"] for r in json.loads(out)["resources"]} if code == 0 else set()

    # bucket names are global, so the default project sees only the bucket; the rest lives in the other
    assert found() <= {"bucket"}
    everything = found("--project", "other-project")
    assert {"bucket", "endpoint", "function"} <= everything, everything

    code, out, err = run(capsys, "teardown", *base, "--project", "other-project", "--yes")
    assert code == 0, err
    assert "Nothing billable remains" in out
    assert found("--project", "other-project") == set()


def test_project_is_refused_where_it_does_not_apply(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "teardown", "--cloud", "aws", "--name", "x", "--project", "p-12345", "--yes")
    assert code == 2 and "--project applies to --cloud gcp" in err
    code, _, err = run(capsys, "status", "--all", "--project", "p-12345")
    assert code == 2 and "--all" in err and "--project" in err
