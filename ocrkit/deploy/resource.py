"""The resource protocol every cloud family implements, and the registry a thin planner dispatches through.

A family (S3, IAM, SageMaker, Cloud Functions...) owns a few resources. For each it says, as data:
its `ResourceModel` (key, kind, the keys it depends on), how it is planned (describe calls only, returning
the `Step` whose `PlannedCall` the user sees), how a recorded one is deleted, how it is described for
`ocrkit status`, and how the deployment's copies are found without the state file (by tag / label / exact
name). Adding a family or a serving profile is a new module that builds a `Family` plus one line in the
provider's registry; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ocrkit.deploy.plan import ResourceModel, Step, order
from ocrkit.deploy.records import Events, ResourceRecord

P = TypeVar("P")  # what a family's plan functions read: the provider's plan context
C = TypeVar("C")  # what delete / describe / discover read: the provider's cloud access

Found = list[tuple[str, ResourceRecord]]  # (state key, record), as discovery returns them


@dataclass(frozen=True)
class Described:
    """One row of `ocrkit status`: the state in words, whether it counts as healthy, running units."""

    words: str
    healthy: bool = True
    running: int = 0  # instances / nodes billed per hour right now
    attrs: dict[str, Any] = field(default_factory=dict)  # e.g. the instance type the units run on


@dataclass(frozen=True)
class Family(Generic[P, C]):
    """One resource family: its resources and, per resource key or kind, plan / delete / describe."""

    name: str
    models: tuple[ResourceModel, ...] = ()
    plan: Mapping[str, Callable[[P], Step]] = field(default_factory=dict)  # resource key -> plan
    delete: Mapping[str, Callable[[C, ResourceRecord, Events], None]] = field(default_factory=dict)  # kind
    describe: Mapping[str, Callable[[C, ResourceRecord], Described]] = field(default_factory=dict)  # kind
    discover: Callable[[C], Found] | None = None  # the deployment's resources of this family, by name
    rank: Mapping[str, int] = field(default_factory=dict)  # kind -> deletion order (lower first)
    delete_calls: Mapping[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # kind -> operations it may make
    # kind -> whether the live resource is this deployment's (its tag / label / recorded identity):
    # True ours, False someone else's (teardown leaves it, deploy stops), None it does not exist
    owner: Mapping[str, Callable[[C, ResourceRecord], bool | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Registry(Generic[P, C]):
    """The families of one cloud, in registration order; dispatches by key (plan) or kind (the rest)."""

    families: tuple[Family[P, C], ...]

    def models(self) -> list[ResourceModel]:
        return order(m for f in self.families for m in f.models)

    def planner(self, key: str) -> Callable[[P], Step]:
        for f in self.families:
            if key in f.plan:
                return f.plan[key]
        raise KeyError(f"no family plans resource '{key}'")

    def _by_kind(self, table: str, kind: str) -> Any:
        for f in self.families:
            got = getattr(f, table).get(kind)
            if got is not None:
                return got
        return None

    def knows(self, kind: str) -> bool:
        """Whether some family can delete resources of `kind`."""
        return self._by_kind("delete", kind) is not None

    def deleter(self, kind: str) -> Callable[[C, ResourceRecord, Events], None]:
        found = self._by_kind("delete", kind)
        if found is None:
            raise ValueError(f"no deleter for {kind}")
        return found

    def delete_calls(self, kind: str) -> tuple[str, ...]:
        return self._by_kind("delete_calls", kind) or ()

    def describe(self, access: C, rec: ResourceRecord) -> Described:
        fn = self._by_kind("describe", rec.kind)
        return Described("recorded") if fn is None else fn(access, rec)

    def discover(self, access: C) -> Found:
        out: Found = []
        for f in self.families:
            if f.discover is not None:
                out += f.discover(access)
        return out

    def owned(self, access: C, rec: ResourceRecord) -> bool | None:
        """Whether `rec` is this deployment's (kinds without an owner check: sub-resources reached only
        through the state or through an owned parent, taken as ours)."""
        fn = self._by_kind("owner", rec.kind)
        return True if fn is None else fn(access, rec)

    def rank(self, kind: str) -> int:
        got = self._by_kind("rank", kind)
        return 99 if got is None else got

    def sort_for_deletion(self, items: Iterable[tuple[str, ResourceRecord]]) -> Found:
        return sorted(items, key=lambda kr: self.rank(kr[1].kind))
