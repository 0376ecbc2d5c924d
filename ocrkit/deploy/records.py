"""The records the deploy stages pass (planned calls, plans, resource records, status and teardown
reports) and the small interface every deploy target implements (aws, gcp, local).

Chalice-style stages, run by ocrkit.deploy.pipeline: `plan` makes only describe/list calls and returns the
calls it would make; `apply` runs them, writing the state after every step; `teardown_target` gives
`destroy` what it needs to work from the state or, when it is lost, from tags/labels alone. Providers never
print: they report through an `Events` sink that the CLI renders with rich.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

Action = Literal["create", "update", "delete", "noop"]


@dataclass(frozen=True)
class PlannedCall:
    """One resource change the plan would make: shown to the user before anything is created."""

    resource: str  # logical name, e.g. "bucket", "endpoint", "server"
    kind: str  # e.g. "s3:bucket", "sagemaker:endpoint", "local:process"
    action: Action
    summary: str  # key settings in words, e.g. "ml.g4dn.xlarge x 1, autoscaling 1-2"
    details: dict[str, Any] = field(default_factory=dict)
    # the API operations this step may make ("s3.CreateBucket"), as data: the printed plan, a dry run's
    # JSON and the tests read the same list; reads (describe, waiters) are not listed
    calls: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeployPlan:
    cloud: str
    name: str
    calls: list[PlannedCall]
    hourly_cost: Decimal | None = None  # $/hour this deployment starts paying (None: free/local)
    monthly_cost: Decimal | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. "the API is public and throttled"
    # same-named resources in the way that ocrkit did not make for this deployment ("kind id"): deploy
    # stops before any write unless they are adopted (--adopt)
    foreign: list[str] = field(default_factory=list)
    serving: str | None = None  # the serving option this plan deploys (aws / gcp)
    switching_from: str | None = None  # the option the deployment runs now, when this plan switches it
    previous_hourly: Decimal | None = None  # what the running option's plan showed per hour

    @property
    def changes(self) -> list[PlannedCall]:
        return [c for c in self.calls if c.action != "noop"]


@dataclass
class ResourceRecord:
    kind: str
    id: str  # name, ARN, resource path or PID
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusReport:
    cloud: str
    name: str
    resources: list[tuple[str, str, str]]  # (logical name, id, state in words)
    url: str | None = None
    hourly_cost: Decimal | None = None
    healthy: bool = False
    serving: str | None = None  # the serving option it runs (aws / gcp)


@dataclass(frozen=True)
class InvokeResult:
    status: int
    body: bytes
    content_type: str
    latency_ms: float


@dataclass(frozen=True)
class TeardownReport:
    deleted: list[str]
    remaining: list[str]  # what a tag/label listing still finds after deletion (should be empty)
    # same-named resources that do not carry this deployment's tag / label: not ocrkit's, left alone
    left_alone: list[str] = field(default_factory=list)
    # state records of a kind this ocrkit does not know (a newer version's, or an edited file): skipped,
    # kept in the state file
    skipped: list[str] = field(default_factory=list)


class Events(Protocol):
    """Progress sink. The CLI implements it with rich; tests use a list-collecting fake."""

    def step(self, message: str) -> None: ...
    def progress(self, task: str, done: int, total: int | None) -> None: ...
    def info(self, message: str) -> None: ...


class Provider(Protocol):
    cloud: ClassVar[str]

    def load_spec(self, path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Any:
        """Read and validate configs/deploy/<cloud>.yaml (or `path`), with CLI overrides applied."""
        ...

    def plan(self, spec: Any, state: StateLike | None) -> DeployPlan: ...
    def apply(self, spec: Any, plan: DeployPlan, state: StateLike, events: Events) -> StateLike: ...
    def status(self, state: StateLike) -> StatusReport: ...
    def invoke(self, state: StateLike, body: bytes, content_type: str) -> InvokeResult: ...
    def teardown_target(self, name: str, state: StateLike | None) -> Any:
        """What ocrkit.deploy.pipeline.destroy needs (a `TeardownTarget`) for this deployment."""
        ...


class StateLike(Protocol):
    """What providers read and write of the state file (ocrkit/deploy/state.py holds the real one)."""

    name: str
    cloud: str
    resources: dict[str, ResourceRecord]
    outputs: dict[str, Any]

    def save(self) -> Path: ...
