"""The one pricing path of the deploy wing: usage in, dollars out, through the costing engine.

Providers say only what usage a deployment creates (`DeploymentUsage`: the costing engine's usage schema
for one cloud, which of its lines run every hour, how many units run and may run). This module prices it
with the engine's list method from the region's catalog (configs/pricing/<cloud>-<region>.yaml) for the
plan's $/hour and monthly line, and for `ocrkit status` (the units running now). No price is written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ocrkit.costing.catalog import default_catalog
from ocrkit.costing.engine import list_budget
from ocrkit.costing.scenario import LoadedScenario, Scenario
from ocrkit.errors import OcrkitError

ZERO = Decimal(0)


@dataclass(frozen=True)
class DeploymentUsage:
    """What a deployment uses in a month (quantities only), as a one-cloud costing scenario."""

    cloud: str
    scenario: Scenario
    always_on: tuple[str, ...]  # line-key prefixes billed every hour while it runs (instances, nodes)
    units: int  # instances / nodes running all the time
    max_units: int  # what autoscaling may grow to under load
    unit_word: str = "instances"
    notes: tuple[str, ...] = ()  # what the price leaves out, in words
    source: str = "<config>"  # the deploy config it comes from (shown by the engine on errors)

    @property
    def region(self) -> str:
        block = self.scenario.aws if self.cloud == "aws" else self.scenario.gcp
        return block.region  # type: ignore[union-attr]


@dataclass(frozen=True)
class CostEstimate:
    hourly: Decimal  # what the always-on units cost per hour
    monthly: Decimal  # on demand, everything, with the expected traffic
    unit_hourly: Decimal  # one instance / node
    notes: tuple[str, ...] = ()


def estimate(usage: DeploymentUsage) -> CostEstimate:
    """Price the usage; raises OcrkitError when the catalog has no price for the region or machine."""
    catalog = default_catalog(usage.cloud, usage.region)
    loaded = LoadedScenario(
        scenario=usage.scenario, path=Path(usage.source), source=usage.source, report_usage={}
    )
    on_demand = list_budget(loaded, usage.cloud, catalog).plans["on_demand"]
    running = [line for line in on_demand.lines if line.key.startswith(usage.always_on)]
    hourly = sum((line.cost for line in running), ZERO) / usage.scenario.hours_per_month
    unit = hourly / usage.units if usage.units else ZERO
    notes = list(usage.notes)
    if usage.max_units > usage.units:
        notes.append(
            f"autoscaling may run up to {usage.max_units} {usage.unit_word}: "
            f"up to ${unit * usage.max_units:.4f}/hour under load"
        )
    return CostEstimate(hourly=hourly, monthly=on_demand.total, unit_hourly=unit, notes=tuple(notes))


def try_estimate(usage: DeploymentUsage) -> tuple[CostEstimate | None, str | None]:
    """(estimate, None), or (None, why not) when the catalog cannot price this region or machine."""
    try:
        return estimate(usage), None
    except OcrkitError as exc:
        return None, f"cost not shown: {exc}"


def hourly_now(usage: DeploymentUsage | None) -> Decimal | None:
    """What the units running now cost per hour (`ocrkit status`); 0 with none, None when unpriced."""
    if usage is None:
        return ZERO
    got, _ = try_estimate(usage)
    return None if got is None else got.hourly
