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

import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ocrkit.deploy.executor import execute
from ocrkit.deploy.plan import ExecutablePlan, Step
from ocrkit.deploy.records import DeployPlan, Events, ResourceRecord, StateLike, TeardownReport
from ocrkit.deploy.serving import record_serving
from ocrkit.deploy.state import deployment_lock, open_state
from ocrkit.errors import OcrkitError


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

    def owned(self, rec: ResourceRecord) -> bool | None:
        """Whether the live resource carries this deployment's tag / label (None: it does not exist)."""
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
    from_tags: ClassVar[bool] = True  # keys name what was found (model@..., api@...), not retired records

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
    # the option is recorded once every step is done: a switch that stopped halfway is still one
    record_serving(state, getattr(planned, "serving", None), planned.hourly_cost)
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
    check = getattr(provider, "check_inputs", None)
    if check is not None:
        check(loaded)  # local checks (the weights) before the lock, the state or any cloud call
    folders = getattr(provider, "run_folders", lambda loaded: [])(loaded)
    # a dry run only reads; a real one holds the deployment's lock from planning to the last step
    with (
        tidy_on_failure(folders),
        nullcontext() if dry_run else deployment_lock(spec.name, provider.cloud),
    ):
        state = open_state(spec.name, provider.cloud)
        planned = plan(provider, loaded, state)
        approved = approve(planned)  # shown even on a dry run
        refuse_foreign(planned, adopt=bool(getattr(provider, "adopt", False)))
        if dry_run or not approved:
            return DeployResult(planned, state, applied=False)
        opened = nullcontext(events) if hasattr(events, "step") else events(planned)  # type: ignore[operator]
        with opened as sink:
            state = apply(provider, loaded, planned, state, sink)
        return DeployResult(planned, state, applied=True)


@contextmanager
def tidy_on_failure(folders: list[Path]) -> Iterator[None]:
    """A run that fails removes the folders it created (innermost first): the first one (the build
    folder) with what this run wrote in it, the others only when empty. Nothing that existed before the
    run is touched; a state file written by a half-done run keeps its folder (it is not empty)."""
    created = [f for f in folders if not f.exists()]
    try:
        yield
    except BaseException:
        for i, folder in enumerate(folders):
            if folder not in created or not folder.is_dir():
                continue
            if i == 0:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                with suppress(OSError):
                    folder.rmdir()  # only when empty
        raise


def find_by_tags(provider: Any, name: str) -> DetachedState | None:
    """A deployment without a state file here (another directory, a lost file), found as teardown finds
    it: by its tags / labels, same-named resources that are not its own left out. None: nothing found."""
    target: TeardownTarget = provider.teardown_target(name, None)
    with target.errors("find the deployment's resources"):
        found = target.discover()
        owned = getattr(target, "owned", None)
        mine = [(key, rec) for key, rec in found if owned is None or owned(rec) is not False]
    if not mine:
        return None
    return DetachedState(name, provider.cloud, resources=dict(mine))


def refuse_foreign(planned: DeployPlan, *, adopt: bool) -> None:
    """Stop before any write when same-named resources ocrkit did not make are in the way."""
    if planned.foreign and not adopt:
        more = f" and {len(planned.foreign) - 1} more" if len(planned.foreign) > 1 else ""
        raise OcrkitError(
            f"{planned.foreign[0]}{more} already exist(s) and were not made by ocrkit for '{planned.name}': "
            "nothing was changed",
            hint="pick another --name, or pass --adopt to take them over (the plan shows what changes)",
        )


def destroy(provider: Any, name: str, state: StateLike | None, events: Events) -> TeardownReport:
    """discover + sweep everything + execute: delete every resource of the deployment, in deletion order."""
    with deployment_lock(name, provider.cloud):
        return _destroy(provider, name, state, events)


def _destroy(provider: Any, name: str, state: StateLike | None, events: Events) -> TeardownReport:
    target: TeardownTarget = provider.teardown_target(name, state)
    with target.errors("find the deployment's resources"):
        found = target.discover()
    known = list(state.resources.items()) if state is not None else []
    merged: dict[tuple[str, str], tuple[str, ResourceRecord]] = {}
    for key, rec in known + found:
        merged.setdefault((rec.kind, rec.id), (key, rec))
    known, skipped = _split_unknown(target, merged.values(), events)
    ours, left_alone = _split_foreign(target, known, state, events)
    steps = [target.delete_step(key, rec) for key, rec in target.sort(ours)]
    sweep_all = ExecutablePlan.of(provider.cloud, name, steps)
    execute(sweep_all, state if state is not None else DetachedState(name, provider.cloud), events)
    for note in target.notes:
        events.info(note)
    with target.errors("check that nothing is left"):
        remaining = target.remaining()
    if state is not None and not remaining and not skipped:
        target.finish(state)
    deleted = [str(c.details.get("label", f"{c.kind} {c.resource}")) for c in sweep_all.changes]
    return TeardownReport(deleted=deleted, remaining=remaining, left_alone=left_alone, skipped=skipped)


def _split_unknown(
    target: TeardownTarget, items: Iterable[tuple[str, ResourceRecord]], events: Events
) -> tuple[list[tuple[str, ResourceRecord]], list[str]]:
    """(records of kinds the provider can delete, the others as "kind id"): an unknown kind is listed and
    skipped, and the rest is torn down."""
    knows = getattr(target, "knows", None)
    known: list[tuple[str, ResourceRecord]] = []
    skipped: list[str] = []
    for key, rec in items:
        if knows is not None and not knows(rec.kind):
            skipped.append(f"{rec.kind} {rec.id}")
            events.info(
                f"{rec.kind} {rec.id}: a resource kind this ocrkit does not know; skipped (kept in the state)"
            )
            continue
        known.append((key, rec))
    return known, skipped


def _split_foreign(
    target: TeardownTarget,
    items: Iterable[tuple[str, ResourceRecord]],
    state: StateLike | None,
    events: Events,
) -> tuple[list[tuple[str, ResourceRecord]], list[str]]:
    """(what is this deployment's, what is not): a same-named resource without the deployment's tag /
    label was not made by ocrkit for it and is never deleted; the state forgets a record that now names
    such a resource."""
    owned = getattr(target, "owned", None)
    ours: list[tuple[str, ResourceRecord]] = []
    foreign: list[str] = []
    for key, rec in items:
        if owned is not None:
            with target.errors(f"check who owns {rec.kind} {rec.id}"):
                mine = owned(rec)
            if mine is False:
                foreign.append(f"{rec.kind} {rec.id}")
                events.info(f"{rec.kind} {rec.id}: not ocrkit's (not made by ocrkit for it), left alone")
                if state is not None and key in state.resources and state.resources[key].id == rec.id:
                    state.forget(key)
                continue
        ours.append((key, rec))
    return ours, foreign
