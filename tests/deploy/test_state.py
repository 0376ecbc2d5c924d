"""The state file: one per deployment and cloud, written atomically, read back exactly."""

from __future__ import annotations

import json

import pytest

from ocrkit.deploy.records import ResourceRecord
from ocrkit.deploy.state import DeployState, list_states, load_state, new_state, open_state, state_path
from ocrkit.errors import OcrkitError


def test_path_and_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OCRKIT_STATE_DIR", str(tmp_path / "s"))
    assert state_path("demo", "aws") == tmp_path / "s" / "demo-aws.json"
    monkeypatch.delenv("OCRKIT_STATE_DIR")
    assert str(state_path("demo", "gcp")) == ".ocrkit/state/demo-gcp.json"


def test_roundtrip(tmp_path) -> None:
    state = new_state("demo", "aws", root=tmp_path)
    assert load_state("demo", "aws", root=tmp_path) is None and not state.exists
    state.record("bucket", ResourceRecord("s3:bucket", "demo-b", {"region": "us-east-1"}))
    state.outputs["url"] = "https://x"
    state.config_hash, state.artifact_sha256 = "abc", "f" * 64
    path = state.save()
    assert path == tmp_path / "demo-aws.json"
    back = load_state("demo", "aws", root=tmp_path)
    assert isinstance(back, DeployState)
    assert back.resources == state.resources and back.outputs == state.outputs
    assert (back.config_hash, back.artifact_sha256) == ("abc", "f" * 64)
    assert back.find("s3:bucket", "demo-b") == "bucket"
    assert [s.name for s in list_states("aws", root=tmp_path)] == ["demo"]
    assert open_state("demo", "aws", root=tmp_path).resources == state.resources


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch) -> None:
    state = new_state("demo", "aws", root=tmp_path)
    state.save()
    before = (tmp_path / "demo-aws.json").read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("ocrkit.deploy.state.os.replace", broken_replace)
    state.record("x", ResourceRecord("k", "i"))
    with pytest.raises(OSError):
        state.save()
    assert (tmp_path / "demo-aws.json").read_text() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-aws.json"]


def test_unreadable_or_foreign_files_are_explained(tmp_path) -> None:
    (tmp_path / "demo-aws.json").write_text("{not json")
    with pytest.raises(OcrkitError, match="cannot be read") as failure:
        load_state("demo", "aws", root=tmp_path)
    assert "teardown" in failure.value.hint
    (tmp_path / "demo-aws.json").write_text(json.dumps({"name": "other", "cloud": "aws"}))
    with pytest.raises(OcrkitError, match="holds deployment 'other'"):
        load_state("demo", "aws", root=tmp_path)
    (tmp_path / "demo-aws.json").write_text(json.dumps({"cloud": "aws"}))
    with pytest.raises(OcrkitError, match="not an ocrkit state file"):
        load_state("demo", "aws", root=tmp_path)


def test_remove_file(tmp_path) -> None:
    state = new_state("demo", "local", root=tmp_path)
    state.save()
    state.remove_file()
    state.remove_file()  # twice is fine
    assert load_state("demo", "local", root=tmp_path) is None


def test_a_second_run_of_the_same_deployment_is_refused_naming_the_holder(tmp_path, monkeypatch) -> None:
    """Another process holds the deployment's lock: deploy and teardown of that name refuse in one line
    naming its PID; another deployment, and the same one once the holder is gone, go ahead."""
    import subprocess
    import sys
    import textwrap

    from ocrkit.deploy import pipeline
    from ocrkit.deploy.progress import RecordingEvents
    from ocrkit.deploy.state import deployment_lock
    from ocrkit.errors import OcrkitError

    monkeypatch.setenv("OCRKIT_STATE_DIR", str(tmp_path))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys, time
                from pathlib import Path
                from ocrkit.deploy.state import deployment_lock
                with deployment_lock("busy", "aws", Path(sys.argv[1])):
                    print("held", flush=True)
                    sys.stdin.readline()
                """
            ),
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OcrkitError) as refused, deployment_lock("busy", "aws"):
            pass
        message = str(refused.value)
        assert f"PID {holder.pid}" in message and "'busy' on aws" in message and "\n" not in message

        class Provider:
            cloud = "aws"

            def teardown_target(self, name, state):  # pragma: no cover - never reached
                raise AssertionError("teardown ran without the lock")

        with pytest.raises(OcrkitError, match=f"PID {holder.pid}"):
            pipeline.destroy(Provider(), "busy", None, RecordingEvents())
        with deployment_lock("other", "aws"):
            pass  # another deployment is not blocked
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
    with deployment_lock("busy", "aws"):
        pass  # released when the holder ended
    from ocrkit.deploy.state import lock_path

    assert not lock_path("busy", "aws").exists()  # the lock file goes with the run that held it
