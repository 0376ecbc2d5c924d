"""Plan primitives, Chalice style: resource models with dependencies, steps, the sweeper, plan data.

- A provider describes what it wants as `ResourceModel`s that name the resources they depend on;
  `order()` puts them in dependency order.
- Its planner makes describe/list calls only and turns each model into a `Step`: the `PlannedCall` shown to
  the user (create / update / noop, with key settings) and the function that will make the calls.
- `sweep()` adds deletions for what the state holds but the new plan no longer wants (e.g. the old SageMaker
  model and endpoint config after new weights), placed after everything else.
- `ExecutablePlan` is a `Plan` that carries its steps; `ocrkit.deploy.executor.execute` runs them, passing
  values forward through a `Context` and recording each result in the state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from ocrkit.deploy.records import DeployPlan, Events, PlannedCall, ResourceRecord, StateLike
from ocrkit.errors import OcrkitError

RETIRED_SEP = "@"


@dataclass(frozen=True)
class ResourceModel:
    """One wanted resource: a logical key, its kind, and the keys of the resources it needs first."""

    key: str
    kind: str
    depends_on: tuple[str, ...] = ()


def order(models: Iterable[ResourceModel]) -> list[ResourceModel]:
    """Dependency order (each model after what it depends on), otherwise the order given."""
    pending = list(models)
    keys = {m.key for m in pending}
    if len(keys) != len(pending):
        raise ValueError("two resource models share a key")
    for m in pending:
        missing = [d for d in m.depends_on if d not in keys]
        if missing:
            raise ValueError(f"{m.key} depends on unknown resource(s): {', '.join(missing)}")
    done: list[ResourceModel] = []
    placed: set[str] = set()
    while pending:
        for m in pending:
            if all(d in placed for d in m.depends_on):
                done.append(m)
                placed.add(m.key)
                pending.remove(m)
                break
        else:
            raise ValueError("resource dependencies form a cycle: " + ", ".join(m.key for m in pending))
    return done


class Context:
    """What steps pass forward: values produced by earlier steps (ARNs, ids), seeded from the state."""

    def __init__(self, state: StateLike, events: Events) -> None:
        self.state = state
        self.events = events
        self.values: dict[str, Any] = dict(state.outputs)

    def get(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise OcrkitError(
                f"deploy step needs '{name}', which no earlier step produced",
                hint="this is a bug in the plan's order; the state file is intact, report it",
            ) from None

    def set(self, **values: Any) -> None:
        self.values.update(values)


@dataclass(frozen=True)
class StepResult:
    """What a step did: the record to keep under its resource key (or forget it), and values to pass on."""

    record: ResourceRecord | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    forget: bool = False


def no_change(**outputs: Any) -> Callable[[Context], StepResult]:
    """A noop step's function: passes on values read during planning, makes no call."""

    def run(ctx: Context) -> StepResult:
        return StepResult(outputs=dict(outputs))

    return run


@dataclass(frozen=True)
class Step:
    call: PlannedCall
    run: Callable[[Context], StepResult]


@dataclass(frozen=True)
class ExecutablePlan(DeployPlan):
    """A DeployPlan with the steps that carry it out (not shown; `calls` is what the user sees)."""

    steps: tuple[Step, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(
        cls,
        cloud: str,
        name: str,
        steps: Iterable[Step],
        *,
        hourly_cost: Decimal | None = None,
        monthly_cost: Decimal | None = None,
        warnings: Iterable[str] = (),
        foreign: Iterable[str] = (),
        serving: str | None = None,
        switching_from: str | None = None,
        previous_hourly: Decimal | None = None,
    ) -> ExecutablePlan:
        steps = tuple(steps)
        return cls(
            cloud=cloud,
            name=name,
            calls=[s.call for s in steps],
            hourly_cost=hourly_cost,
            monthly_cost=monthly_cost,
            warnings=list(warnings),
            foreign=list(foreign),
            serving=serving,
            switching_from=switching_from,
            previous_hourly=previous_hourly,
            steps=steps,
        )


def retired_key(key: str, resource_id: str) -> str:
    return f"{key}{RETIRED_SEP}{resource_id}"


def is_retired(key: str) -> bool:
    return RETIRED_SEP in key


def sweep(
    state: StateLike | None,
    wanted: dict[str, str | None],
    deleter: Callable[[str, ResourceRecord], Step],
    *,
    rank: Callable[[ResourceRecord], int] = lambda rec: 0,
) -> list[Step]:
    """Deletion steps for records the state holds that the plan no longer wants.

    `wanted` maps each wanted key to the id it will have (None: whatever it is now). A record under a key
    that is not wanted is deleted; a record whose wanted id differs is being replaced: the executor retires
    it under `key@old-id` when the replacement is recorded, and it is deleted under that key afterwards.
    Deletions are ordered by `rank` (lower first), then as recorded.
    """
    if state is None:
        return []
    doomed: list[tuple[int, int, str, ResourceRecord]] = []
    for i, (key, rec) in enumerate(state.resources.items()):
        if key not in wanted:
            doomed.append((rank(rec), i, key, rec))
        elif wanted[key] is not None and wanted[key] != rec.id:
            doomed.append((rank(rec), i, retired_key(key, rec.id), rec))
    return [deleter(key, rec) for _, _, key, rec in sorted(doomed, key=lambda t: (t[0], t[1]))]


def plan_to_dict(plan: DeployPlan) -> dict[str, Any]:
    """The plan as plain data (for `--format json` and for tests)."""
    return {
        "cloud": plan.cloud,
        "name": plan.name,
        "hourly_cost": None if plan.hourly_cost is None else str(plan.hourly_cost),
        "monthly_cost": None if plan.monthly_cost is None else str(plan.monthly_cost),
        "warnings": list(plan.warnings),
        "foreign": list(plan.foreign),
        "serving": plan.serving,
        "switching_from": plan.switching_from,
        "previous_hourly_cost": None if plan.previous_hourly is None else str(plan.previous_hourly),
        "changes": len(plan.changes),
        "calls": [asdict(c) for c in plan.calls],
    }
