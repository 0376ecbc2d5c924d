"""The guardrail's records: every ocrkit deployment found on a cloud, and whether it sits idle.

`ocrkit status --all` asks each cloud's inventory (ocrkit.providers.<cloud>.inventory) for the deployments
it can find by tag / label (no state file needed), with what runs now and when it last answered a request;
this module holds those records and the verdict, and nothing here calls a cloud: given the same records and
the same clock, the same verdict. A deployment is idle when its last invocation (or, never invoked, its
creation) lies more than `idle_hours` in the past; a deployment with nothing left that serves (a bucket, a
role) is idle too: it is a forgotten remnant. An idle deployment carries the exact teardown command.

Money is Decimal; the monthly run-rate is the $/hour now x 720 hours, the month the deploy plans use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

HOURS_PER_MONTH = Decimal(720)  # as ocrkit.providers.{aws,gcp}.usage
DEFAULT_IDLE_HOURS = 24.0
MIN_LOOKBACK = timedelta(days=14)  # the metric window searched for the last invocation, at least
MAX_POINTS = 1440  # CloudWatch answers at most 1,440 data points per GetMetricStatistics call

IDLE, ACTIVE, UNKNOWN = "idle", "active", "unknown"


@dataclass(frozen=True)
class MetricWindow:
    """Where the last invocation is looked for: [start, end) in buckets of `period_s` seconds."""

    start: datetime
    end: datetime
    period_s: int


def metric_window(now: datetime, idle_hours: float) -> MetricWindow:
    """A window long enough that "no invocation in it" proves idleness (idle_hours + 1 day, at least 14
    days), in buckets as fine as one call allows; CloudWatch's periods are multiples of 60 s, and of 300 s
    / 3600 s for data older than 15 / 63 days (its retention rules)."""
    span = max(MIN_LOOKBACK, timedelta(hours=idle_hours) + timedelta(days=1))
    seconds = span.total_seconds()
    step = 3600 if seconds > 63 * 86400 else 300 if seconds > 15 * 86400 else 60
    period = max(step, math.ceil(seconds / MAX_POINTS / step) * step)
    return MetricWindow(start=now - span, end=now, period_s=period)


def last_busy(buckets: list[tuple[datetime, float]], window: MetricWindow) -> datetime | None:
    """The end of the latest bucket that counted any invocation (at most `window.end`): the last
    invocation happened in the `period_s` before it. `buckets` are (bucket start, count)."""
    busy = [start for start, count in buckets if count > 0]
    if not busy:
        return None
    return min(max(busy) + timedelta(seconds=window.period_s), window.end)


@dataclass(frozen=True)
class FoundDeployment:
    """One deployment as found on its cloud (by tag / label or running process), not from a state file."""

    cloud: str
    name: str
    region: str
    serving: str | None  # a ServingOption value; None when nothing that serves is left
    serving_from: str  # "tag", "label", "state", "inferred" (from what exists), or "none"
    hourly: Decimal | None  # what runs now costs per hour; None when the catalog has no price for it
    running: str  # what runs, in words ("ml.g4dn.xlarge x 1", "Lambda 2048 MB")
    created: datetime | None = None
    last_invocation: datetime | None = None  # upper bound: the end of the last busy metric bucket
    window: MetricWindow | None = None  # None: invocations are not measured (local)
    resources: tuple[str, ...] = ()
    project: str | None = None  # GCP
    notes: tuple[str, ...] = ()

    @property
    def monthly(self) -> Decimal | None:
        return None if self.hourly is None else self.hourly * HOURS_PER_MONTH


@dataclass(frozen=True)
class Verdict:
    state: str  # idle | active | unknown
    idle_hours: float | None  # hours without an invocation (at least, when `at_least`)
    at_least: bool
    reason: str
    teardown: str | None  # the exact command, for idle deployments


def teardown_command(dep: FoundDeployment) -> str:
    """The command that deletes `dep` (ocrkit teardown finds its resources by tag without a state file)."""
    if dep.cloud == "local":
        return f"ocrkit teardown --cloud local --name {dep.name} --yes"
    command = f"ocrkit teardown --cloud {dep.cloud} --name {dep.name} --region {dep.region} --yes"
    if dep.cloud == "gcp" and dep.project:
        command = f"GOOGLE_CLOUD_PROJECT={dep.project} {command}"  # teardown reads the project from there
    return command


def _hours(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0) / 3600.0


def judge(dep: FoundDeployment, now: datetime, idle_hours: float) -> Verdict:
    """Idle, active or unknown, and why (pure: the records and the clock decide)."""
    if dep.serving is None:
        return Verdict(IDLE, None, False, "nothing serves: left-over resources", teardown_command(dep))
    if dep.window is None:
        return Verdict(UNKNOWN, None, False, "invocations are not measured for this target", None)
    if dep.last_invocation is not None:
        since, at_least, what = dep.last_invocation, False, "last invocation"
    elif dep.created is not None and dep.created >= dep.window.start:
        since, at_least, what = dep.created, False, "never invoked since it was created"
    else:
        since, at_least, what = dep.window.start, True, "no invocation in the window searched"
    hours = _hours(now - since)
    if hours <= idle_hours:
        return Verdict(ACTIVE, hours, at_least, what, None)
    words = f"{what}: idle {'over ' if at_least else ''}{hours:.1f} h (> {idle_hours:g} h)"
    return Verdict(IDLE, hours, at_least, words, teardown_command(dep))


@dataclass
class Inventory:
    """Everything `status --all` found, and the clouds or regions it could not search (with why)."""

    now: datetime
    idle_hours: float
    deployments: list[FoundDeployment] = field(default_factory=list)
    not_searched: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # searched, but with less than everything (and why)

    def verdicts(self) -> list[tuple[FoundDeployment, Verdict]]:
        rows = [(d, judge(d, self.now, self.idle_hours)) for d in self.deployments]
        return sorted(rows, key=lambda r: (r[0].cloud, r[0].region, r[0].name))

    @property
    def idle(self) -> list[tuple[FoundDeployment, Verdict]]:
        return [(d, v) for d, v in self.verdicts() if v.state == IDLE]

    def total_hourly(self) -> Decimal:
        return sum((d.hourly for d in self.deployments if d.hourly is not None), Decimal(0))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def to_dict(inventory: Inventory) -> dict[str, Any]:
    """The JSON document of `status --all --format json` (money as strings, times as ISO 8601)."""
    rows = []
    for dep, verdict in inventory.verdicts():
        rows.append(
            {
                "cloud": dep.cloud,
                "region": dep.region,
                "project": dep.project,
                "name": dep.name,
                "serving": dep.serving,
                "serving_from": dep.serving_from,
                "running": dep.running,
                "hourly_cost": None if dep.hourly is None else str(dep.hourly),
                "monthly_run_rate": None if dep.monthly is None else str(dep.monthly),
                "created": _iso(dep.created),
                "last_invocation": _iso(dep.last_invocation),
                "searched_since": _iso(dep.window.start if dep.window else None),
                "metric_period_s": dep.window.period_s if dep.window else None,
                "verdict": verdict.state,
                "idle_hours": None if verdict.idle_hours is None else round(verdict.idle_hours, 2),
                "idle_at_least": verdict.at_least,
                "reason": verdict.reason,
                "teardown": verdict.teardown,
                "resources": list(dep.resources),
                "notes": list(dep.notes),
            }
        )
    idle = inventory.idle
    return {
        "now": inventory.now.isoformat(),
        "idle_hours": inventory.idle_hours,
        "deployments": rows,
        "idle": [d.name for d, _ in idle],
        "hourly_cost": str(inventory.total_hourly()),
        "monthly_run_rate": str(inventory.total_hourly() * HOURS_PER_MONTH),
        "not_searched": list(inventory.not_searched),
        "notes": list(inventory.notes),
    }
