"""The pipeline: deploy shows the plan before anything runs; destroy = discover + sweep everything, run by
the executor (deletion order, state forgotten step by step, finished only when nothing remains)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import pytest

from ocrkit.deploy import pipeline
from ocrkit.deploy.executor import StepFailed
from ocrkit.deploy.plan import ExecutablePlan, ResourceModel, Step, StepResult
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.records import PlannedCall, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Registry
from ocrkit.deploy.state import load_state, new_state


@dataclass
class Cloud:
    """A pretend cloud: what exists, by (kind, id); what was deleted, in order."""

    existing: set[tuple[str, str]] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)
    fail_on: str | None = None
    notes: list[str] = field(default_factory=list)


def _delete(cloud: Cloud, rec: ResourceRecord, events) -> None:
    if rec.id == cloud.fail_on:
        raise RuntimeError("refused")
    cloud.existing.discard((rec.kind, rec.id))
    cloud.deleted.append(rec.id)


REGISTRY: Registry = Registry(
    (
        Family(
            name="store",
            models=(ResourceModel("bucket", "store:bucket"),),
            delete={"store:bucket": _delete},
            describe={"store:bucket": lambda c, r: Described("exists")},
            rank={"store:bucket": 5},
        ),
        Family(
            name="compute",
            models=(ResourceModel("server", "compute:server", ("bucket",)),),
            delete={"compute:server": _delete},
            rank={"compute:server": 1},
        ),
    )
)


@dataclass
class Target:
    cloud: Cloud
    finished: list[str] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return self.cloud.notes

    def errors(self, action: str):
        return contextlib.nullcontext()

    def discover(self):
        return [(f"{k.split(':')[1]}@{i}", ResourceRecord(k, i)) for k, i in sorted(self.cloud.existing)]

    def sort(self, items):
        return REGISTRY.sort_for_deletion(items)

    def delete_step(self, key, rec) -> Step:
        deleter = REGISTRY.deleter(rec.kind)

        def run(ctx) -> StepResult:
            deleter(self.cloud, rec, ctx.events)
            return StepResult(forget=True)

        return Step(PlannedCall(key, rec.kind, "delete", rec.id, {"label": f"{rec.kind} {rec.id}"}), run)

    def remaining(self):
        return [f"{k} {i}" for k, i in sorted(self.cloud.existing)]

    def finish(self, state) -> None:
        self.finished.append(state.name)
        state.remove_file()


class Provider:
    cloud = "test"

    def __init__(self, cloud: Cloud) -> None:
        self.target = Target(cloud)

    def teardown_target(self, name, state):
        return self.target


def test_registry_orders_dispatches_and_ranks() -> None:
    assert [m.key for m in REGISTRY.models()] == ["bucket", "server"]
    assert REGISTRY.rank("compute:server") < REGISTRY.rank("store:bucket")
    assert REGISTRY.rank("unknown:kind") == 99
    assert REGISTRY.describe(Cloud(), ResourceRecord("store:bucket", "b")).words == "exists"
    assert REGISTRY.describe(Cloud(), ResourceRecord("compute:server", "s")).words == "recorded"
    with pytest.raises(ValueError, match="no deleter"):
        REGISTRY.deleter("unknown:kind")


def test_destroy_merges_state_and_discovery_and_deletes_in_rank_order(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cloud = Cloud(existing={("store:bucket", "b1"), ("compute:server", "s1"), ("compute:server", "s2")})
    state = new_state("demo", "test")
    state.record("bucket", ResourceRecord("store:bucket", "b1"))
    state.record("server", ResourceRecord("compute:server", "s1"))
    state.save()
    provider = Provider(cloud)
    report = pipeline.destroy(provider, "demo", state, RecordingEvents())
    assert cloud.deleted[:2] == ["s1", "s2"] and cloud.deleted[2] == "b1"  # servers before the bucket
    assert sorted(report.deleted) == ["compute:server s1", "compute:server s2", "store:bucket b1"]
    assert report.remaining == [] and provider.target.finished == ["demo"]
    assert load_state("demo", "test") is None


def test_destroy_without_state_and_a_failure_keeps_what_is_left(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cloud = Cloud(existing={("store:bucket", "b1"), ("compute:server", "s1")}, fail_on="b1")
    provider = Provider(cloud)
    with pytest.raises(StepFailed, match="delete bucket@b1") as failed:
        pipeline.destroy(provider, "demo", None, RecordingEvents())
    assert "saved in the resources' own tags / labels (no state file); run the same" in failed.value.hint
    assert cloud.deleted == ["s1"] and cloud.existing == {("store:bucket", "b1")}
    cloud.fail_on = None  # safe to run again
    report = pipeline.destroy(provider, "demo", None, RecordingEvents())
    assert report.deleted == ["store:bucket b1"] and report.remaining == []
    assert provider.target.finished == []  # no state to tidy


class Planned:
    cloud = "test"

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.recorded = 0

    def plan(self, loaded, state):
        def run(ctx) -> StepResult:
            self.ran.append("bucket")
            return StepResult(ResourceRecord("store:bucket", "b1"))

        return ExecutablePlan.of(
            "test", "demo", [Step(PlannedCall("bucket", "store:bucket", "create", ""), run)]
        )

    def record_deployed(self, loaded, state) -> None:
        self.recorded += 1


@dataclass
class Spec:
    name: str = "demo"


def test_deploy_shows_the_plan_first_and_a_dry_run_changes_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    provider, seen = Planned(), []
    result = pipeline.deploy(Spec(), provider, RecordingEvents(), approve=seen.append, dry_run=True)
    assert not result.applied and [c.resource for c in seen[0].calls] == ["bucket"] and provider.ran == []
    refused = pipeline.deploy(Spec(), provider, RecordingEvents(), approve=lambda plan: False)
    assert not refused.applied and provider.ran == []
    events = RecordingEvents()
    done = pipeline.deploy(Spec(), provider, lambda plan: contextlib.nullcontext(events))
    assert done.applied and provider.ran == ["bucket"] and provider.recorded == 1
    assert events.steps == ["Creating bucket (store:bucket)"]
    assert load_state("demo", "test").resources["bucket"].id == "b1"
