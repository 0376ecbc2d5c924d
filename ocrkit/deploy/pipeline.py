"""The deploy pipeline, the same for every target: build -> plan -> sweep -> execute -> record.

- `deploy` asks the provider for the plan (its build stage makes the packages locally; its plan stage
  makes describe/list calls only; the sweeper adds deletions for what the state holds and the plan no
  longer wants), hands it to `approve` (the CLI renders it and asks), then `apply`s it: the executor runs
  the steps, writing the state after each one, and the provider records what later commands need.
- `destroy` is discover (the state's records, plus what carries the deployment's tag / label or exact
  name) + sweep everything, in the provider's deletion order, run by the same executor.

Nothing here prints: progress goes to an `Events` sink; results come back as records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ocrkit.deploy.executor import execute
from ocrkit.deploy.plan import ExecutablePlan, Step
from ocrkit.deploy.records import DeployPlan, Events, ResourceRecord, StateLike, TeardownReport
from ocrkit.deploy.state import open_state


class TeardownTarget(Protocol):
    """What `destroy` needs from a provider for one deployment."""

    notes: list[str]

    def errors(self, action: str) -> AbstractContextManager[Any]:
        """Turns the SDK's exceptions inside the block into one sentence about `action`."""
        ...

    def discover(self) -> list[tuple[str, ResourceRecord]]:
        """The deployment's resources that exist now, found by tag / label / exact name."""
        ...

    def sort(self, items: Iterable[tuple[str, ResourceRecord]]) -> list[tuple[str, ResourceRecord]]: ...

    def delete_step(self, key: str, rec: ResourceRecord) -> Step:
        """The step that deletes one resource (action "noop" when nothing is to be deleted, e.g. a binding
        that was never made, or a resource ocrkit did not create); either way it is forgotten."""
        ...

    def remaining(self) -> list[str]:
        """What a fresh listing still finds after deletion (should be empty)."""
        ...

    def finish(self, state: StateLike) -> None:
        """Tidy the state once nothing remains (clear its outputs, remove the file...)."""
        ...


@dataclass
class DetachedState:
    """The state for a teardown without a state file: the executor records into it; nothing is saved."""

    name: str
    cloud: str
    resources: dict[str, ResourceRecord] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    path: str = "the resources' own tags / labels (no state file)"

    def save(self) -> Path:
        return Path(self.path)


@dataclass(frozen=True)
class DeployResult:
    plan: DeployPlan
    state: StateLike
    applied: bool  # False: a dry run (or the plan was refused)


def plan(provider: Any, loaded: Any, state: StateLike | None) -> ExecutablePlan:
    """build -> plan -> sweep (the provider's stages); no resource is created or changed."""
    return provider.plan(loaded, state if state is not None and state.resources else None)


def apply(provider: Any, loaded: Any, planned: DeployPlan, state: StateLike, events: Events) -> StateLike:
    """execute -> record: run the steps (state written after each), then record what later commands need."""
    if not isinstance(planned, ExecutablePlan):
        planned = provider.plan(loaded, state)
    before = getattr(provider, "record_outputs", None)
    if before is not None:
        before(loaded, state)
    execute(planned, state, events)
    after = getattr(provider, "record_deployed", None)
    if after is not None:
        after(loaded, state)
        state.save()
    return state


def deploy(
    loaded: Any,
    provider: Any,
    events: Events | Callable[[DeployPlan], AbstractContextManager[Events]],
    *,
    approve: Callable[[DeployPlan], bool] = lambda plan: True,
    dry_run: bool = False,
) -> DeployResult:
    """The whole deploy of one target. `approve` sees the plan first, dry run or not (False: stop);
    `events` is the progress sink, or a function of the plan that opens one (a progress display only
    when there is something to do). A plan without changes still records the values it read (no calls).
    """
    spec = getattr(loaded, "spec", loaded)
    state = open_state(spec.name, provider.cloud)
    planned = plan(provider, loaded, state)
    approved = approve(planned)  # shown even on a dry run
    if dry_run or not approved:
        return DeployResult(planned, state, applied=False)
    opened = nullcontext(events) if hasattr(events, "step") else events(planned)  # type: ignore[operator]
    with opened as sink:
        state = apply(provider, loaded, planned, state, sink)
    return DeployResult(planned, state, applied=True)


def destroy(provider: Any, name: str, state: StateLike | None, events: Events) -> TeardownReport:
    """discover + sweep everything + execute: delete every resource of the deployment, in deletion order."""
    target: TeardownTarget = provider.teardown_target(name, state)
    with target.errors("find the deployment's resources"):
        found = target.discover()
    known = list(state.resources.items()) if state is not None else []
    merged: dict[tuple[str, str], tuple[str, ResourceRecord]] = {}
    for key, rec in known + found:
        merged.setdefault((rec.kind, rec.id), (key, rec))
    steps = [target.delete_step(key, rec) for key, rec in target.sort(merged.values())]
    sweep_all = ExecutablePlan.of(provider.cloud, name, steps)
    execute(sweep_all, state if state is not None else DetachedState(name, provider.cloud), events)
    for note in target.notes:
        events.info(note)
    with target.errors("check that nothing is left"):
        remaining = target.remaining()
    if state is not None and not remaining:
        target.finish(state)
    deleted = [str(c.details.get("label", f"{c.kind} {c.resource}")) for c in sweep_all.changes]
    return TeardownReport(deleted=deleted, remaining=remaining)
