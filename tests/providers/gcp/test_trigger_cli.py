"""`ocrkit deploy --cloud gcp --trigger gcs --dry-run` through the console entry point (drongo, the storage
emulator, drongo's Pub/Sub): the plan lists the trigger's resources with their settings and says what is
not priced; bad trigger settings are one line and exit 2, before any cloud call."""

from __future__ import annotations

import json

import pytest

from ocrkit.errors import ConfigError
from ocrkit.providers.gcp.spec import load_gcp_spec
from tests.providers.helpers import run

TRIGGER_KEYS = {"input-bucket", "dead-letter", "trigger-account", "trigger-function", "trigger-access"}


@pytest.mark.slow
def test_dry_run_lists_the_trigger(gcp, pubsub, capsys, fake_weights, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    base = [
        "--cloud",
        "gcp",
        "--name",
        "demo",
        "--weights",
        str(fake_weights),
        "--trigger",
        "gcs",
        "--dry-run",
    ]
    code, out, _ = run(capsys, "deploy", *base)
    table = out
    assert code == 0, out
    assert "demo-in-demo-project" in out and "google.cloud.storage.object.v1.finalized" in out
    assert "NOT priced" in out
    code, out, _ = run(capsys, "deploy", *base, "--format", "json")
    assert code == 0, out
    plan = json.loads(out)
    calls = {c["resource"]: c for c in plan["plan"]["calls"]}
    assert set(calls) >= TRIGGER_KEYS
    assert all(calls[k]["action"] == "create" for k in TRIGGER_KEYS)
    with capsys.disabled():  # shown with -s (the README's plan)
        print(table)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"trigger.output_prefix": "incoming/out/"}, "trigger.output_prefix"),
        ({"trigger.error_prefix": "errors"}, "trigger.error_prefix"),
        ({"trigger.suffixes": ["png"]}, "trigger.suffixes"),
        ({"trigger.memory": "12Ti"}, "trigger.memory"),
        ({"trigger.trigger_region": "mars"}, "trigger.trigger_region"),
    ],
)
def test_bad_trigger_settings_name_the_field(override, field) -> None:
    with pytest.raises(ConfigError) as err:
        load_gcp_spec(None, {"trigger.enabled": True, **override})
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_trigger_settings_unchecked_while_disabled_and_defaults() -> None:
    spec = load_gcp_spec(None, {"trigger.enabled": True}).spec
    rule = spec.trigger.rule()
    assert (rule.input_prefix, rule.output_prefix, rule.error_prefix) == ("incoming/", "results/", "errors/")
    assert spec.trigger.retry is True and spec.trigger.memory_for(spec.function, spec.serving) == "512Mi"
    assert load_gcp_spec(None, {"trigger.output_prefix": "incoming/x/"}).spec.trigger.enabled is False


def test_cli_bad_prefix_is_one_line_exit_2(capsys, tmp_path, fake_weights, monkeypatch) -> None:
    monkeypatch.setenv("OCRKIT_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "gcp.yaml"
    config.write_text("name: demo\ntrigger:\n  output_prefix: incoming/results/\n")
    code, out, err = run(
        capsys,
        "deploy",
        "--cloud",
        "gcp",
        "--config",
        str(config),
        "--weights",
        str(fake_weights),
        "--trigger",
        "gcs",
        "--dry-run",
        "--project",
        "demo-project",
    )
    assert code == 2
    text = (out + err).strip()
    assert "trigger.output_prefix" in text and "disjoint" in text
    assert "Traceback" not in text
