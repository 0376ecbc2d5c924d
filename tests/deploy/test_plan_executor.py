"""The plan stages: dependency order, the sweeper, and the executor that records every step."""

from __future__ import annotations

import json

import pytest

from ocrkit.deploy.executor import StepFailed, execute
from ocrkit.deploy.plan import (
    ExecutablePlan,
    ResourceModel,
    Step,
    StepResult,
    no_change,
    order,
    plan_to_dict,
    sweep,
)
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.records import PlannedCall, ResourceRecord
from ocrkit.deploy.state import new_state


def test_order_follows_dependencies() -> None:
    models = [
        ResourceModel("endpoint", "e", ("config",)),
        ResourceModel("bucket", "b"),
        ResourceModel("config", "c", ("model",)),
        ResourceModel("model", "m", ("bucket",)),
    ]
    assert [m.key for m in order(models)] == ["bucket", "model", "config", "endpoint"]
    with pytest.raises(ValueError, match="cycle"):
        order([ResourceModel("a", "x", ("b",)), ResourceModel("b", "x", ("a",))])
    with pytest.raises(ValueError, match="unknown"):
        order([ResourceModel("a", "x", ("nope",))])


def creating(key: str, rid: str, **outputs) -> Step:
    def run(ctx) -> StepResult:
        return StepResult(ResourceRecord("kind", rid), dict(outputs))

    return Step(PlannedCall(key, "kind", "create", f"{key} {rid}"), run)


def test_values_pass_forward_and_state_is_saved_after_each_step(tmp_path) -> None:
    state = new_state("demo", "aws", root=tmp_path)
    seen_on_disk: list[list[str]] = []

    def consumer(ctx) -> StepResult:
        seen_on_disk.append(sorted(json.loads(state.path.read_text())["resources"]))
        return StepResult(ResourceRecord("kind", f"uses-{ctx.get('bucket_name')}"))

    plan = ExecutablePlan.of(
        "aws",
        "demo",
        [
            creating("bucket", "b1", bucket_name="b1"),
            Step(PlannedCall("user", "kind", "create", "user"), consumer),
            Step(PlannedCall("same", "kind", "noop", "unchanged"), no_change(url="https://x")),
        ],
    )
    events = RecordingEvents()
    execute(plan, state, events)
    assert seen_on_disk == [["bucket"]]
    assert state.resources["user"].id == "uses-b1"
    assert state.outputs == {"bucket_name": "b1", "url": "https://x"}
    assert events.steps == ["Creating bucket (kind)", "Creating user (kind)"]  # noop steps are silent
    assert len(plan.changes) == 2
    assert plan_to_dict(plan)["calls"][2]["action"] == "noop"


def test_a_failing_step_keeps_what_was_done(tmp_path) -> None:
    state = new_state("demo", "aws", root=tmp_path)

    def boom(ctx):
        raise RuntimeError("network dropped")

    plan = ExecutablePlan.of(
        "aws",
        "demo",
        [creating("a", "1"), Step(PlannedCall("b", "kind", "create", "b"), boom), creating("c", "3")],
    )
    with pytest.raises(StepFailed) as failure:
        execute(plan, state, RecordingEvents())
    assert "create b (kind) failed: RuntimeError: network dropped" in failure.value.message
    assert str(state.path) in failure.value.hint
    on_disk = json.loads(state.path.read_text())["resources"]
    assert list(on_disk) == ["a"]


def test_replacement_retires_the_old_record_until_the_sweeper_deletes_it(tmp_path) -> None:
    state = new_state("demo", "aws", root=tmp_path)
    state.record("model", ResourceRecord("m", "model-old"))
    state.record("model@model-older", ResourceRecord("m", "model-older"))  # left by a failed run
    state.record("gone", ResourceRecord("g", "not-wanted"))
    deleted: list[str] = []

    def deleter(key: str, rec: ResourceRecord) -> Step:
        def run(ctx) -> StepResult:
            deleted.append(rec.id)
            return StepResult(forget=True)

        return Step(PlannedCall(key, rec.kind, "delete", rec.id), run)

    sweeps = sweep(state, {"model": "model-new"}, deleter, rank=lambda r: 0 if r.kind == "g" else 1)
    assert [s.call.resource for s in sweeps] == ["gone", "model@model-old", "model@model-older"]
    plan = ExecutablePlan.of("aws", "demo", [creating("model", "model-new"), *sweeps])
    execute(plan, state, RecordingEvents())
    assert deleted == ["not-wanted", "model-old", "model-older"]
    assert list(state.resources) == ["model"] and state.resources["model"].id == "model-new"


def test_sweep_without_state() -> None:
    assert sweep(None, {}, lambda k, r: None) == []
