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
from typing import Any

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


# -- the serving options at the config's traffic (the serving-costs engine) ----------------------------------


@dataclass(frozen=True)
class ServingPrice:
    """One serving option at the expected traffic, as the serving-costs engine prices it."""

    option: str
    config: str  # the configuration priced ("ml.c6i.large", "3072 MB", "Lambda arm64 2048 MB"...)
    monthly: Decimal
    p95_ms: float
    meets_target: bool


@dataclass(frozen=True)
class ServingAdvice:
    chosen: ServingPrice | None  # the deployed configuration (None: the engine has no price for it)
    others: tuple[ServingPrice, ...]  # each other offered option, its cheapest configuration
    target_ms: Decimal
    requests: Decimal
    lines: tuple[str, ...]  # what the plan says: the chosen option's price, misses, cheaper options


def serving_traffic(usage: object, *, model_size_mb: Decimal | None = None) -> Any:
    """A deploy config's `usage:` as the engine's Traffic (volume, peak, p95 target, payload)."""
    from ocrkit.costing.traffic import Traffic

    u: Any = usage
    extra = {} if model_size_mb is None else {"model_size_mb": model_size_mb}
    return Traffic(
        requests_per_month=Decimal(max(int(u.requests_per_month), 1)),
        peak_to_average=Decimal(str(u.peak_to_average)),
        p95_ms=Decimal(int(u.p95_ms)),
        payload_kb=Decimal(str(u.avg_request_kb or 1)),
        response_kb=Decimal(str(u.avg_response_kb)),
        model=u.model,
        **extra,
    )


def _price(option: str, inputs: Any, config: str | None) -> ServingPrice | None:
    from ocrkit.costing.serving import BUILDERS, Quote, price_option

    if config is None:
        got = price_option(option, inputs)
        if not isinstance(got, Quote):
            return None
        quote = got
    else:
        builder = BUILDERS.get((inputs.cloud, option))
        quotes = builder(inputs)[0] if builder is not None else []
        matching = [q for q in quotes if q.config == config or q.config.startswith(f"{config} ")]
        if not matching:
            return None
        quote = matching[0]
    return ServingPrice(option, quote.config, quote.monthly, quote.p95_ms, quote.meets_slo)


def advise(
    cloud: str,
    region: str,
    option: str,
    config: str | None,
    traffic: Any,
    offered: tuple[str, ...],
    *,
    hours: Decimal = Decimal(720),
) -> ServingAdvice:
    """Price the deployed option's configuration and every other offered option at the config's traffic;
    say when the chosen one misses the latency target, and which options meet it for less (`config`
    None: the option's cheapest configuration). Raises OcrkitError when the region has no serving
    prices."""
    from ocrkit.costing.compare import profile_book, serving_catalog
    from ocrkit.costing.serving import Inputs

    inputs = Inputs(
        cloud=cloud,
        catalog=serving_catalog(cloud, region),
        traffic=traffic,
        hours=hours,
        profiles=profile_book(None),
    )
    chosen = _price(option, inputs, config)
    others = tuple(p for o in offered if o != option and (p := _price(o, inputs, None)) is not None)
    target, requests = traffic.p95_ms, traffic.requests_per_month
    at = f"{requests:,.0f} requests/month"
    lines: list[str] = []
    if chosen is None:
        lines.append(
            f"--serving {option} ({config or 'any configuration'}): the serving-costs engine has no price "
            f"for it in {region}"
        )
    else:
        lines.append(
            f"--serving {option} ({chosen.config}): ${chosen.monthly:,.2f}/month at {at}, "
            f"p95 about {chosen.p95_ms:,.0f} ms (target {target:,.0f} ms)"
        )
        if not chosen.meets_target:
            lines.append(
                f"--serving {option} misses the latency target at this traffic: p95 about "
                f"{chosen.p95_ms:,.0f} ms > {target:,.0f} ms (usage.p95_ms)"
            )
    for other in sorted(others, key=lambda p: p.monthly):
        cheaper = chosen is None or other.monthly < chosen.monthly
        if other.meets_target and (cheaper or (chosen is not None and not chosen.meets_target)):
            lines.append(
                f"--serving {other.option}: ${other.monthly:,.2f}/month at this traffic ({other.config}, "
                f"p95 about {other.p95_ms:,.0f} ms) meets the target"
                + ("" if chosen is None else f" for {_less(chosen.monthly, other.monthly)}")
            )
    return ServingAdvice(chosen, others, target, requests, tuple(lines))


def _less(chosen: Decimal, other: Decimal) -> str:
    if other < chosen:
        return f"${chosen - other:,.2f}/month less"
    return f"${other - chosen:,.2f}/month more"


def try_advise(*args: Any, **kwargs: Any) -> ServingAdvice | str:
    """`advise`, or why the options cannot be priced (a region without serving prices)."""
    try:
        return advise(*args, **kwargs)
    except OcrkitError as exc:
        return f"serving options not priced: {exc}"


def unit_price(cloud: str, region: str, *price_keys: str) -> Decimal | None:
    """An hourly unit price from the region's catalog, else from its serving-options catalog (CPU
    instances and machine types are priced there); the first of `price_keys` found; None: neither has it."""
    from ocrkit.costing.compare import serving_catalog

    for load in (lambda: default_catalog(cloud, region), lambda: serving_catalog(cloud, region)):
        try:
            catalog = load()
        except OcrkitError:
            continue
        for key in price_keys:
            if catalog.has(key):
                return catalog.entry(key).list_price
    return None


@dataclass(frozen=True)
class PlanCost:
    hourly: Decimal | None  # what starts being paid every hour (0: per request only)
    monthly: Decimal | None  # on demand at the config's expected traffic
    notes: tuple[str, ...]


def option_cost(
    cloud: str,
    region: str,
    option: str,
    engine_config: str | None,
    usage: object,
    list_estimate: tuple[CostEstimate | None, str | None],
    *,
    unit_keys: tuple[str, ...],
    units: int,
    max_units: int,
    unit_word: str = "instances",
    notes: list[str] | None = None,
) -> PlanCost:
    """The plan's $/hour and monthly line for the chosen serving option, and the options' comparison at
    the config's traffic (`usage:`). gpu-endpoint keeps the list method's figures (`list_estimate`, as
    before options existed); the other options are priced by the serving-costs engine, whose catalogs
    hold their prices: the $/hour from the unit price x the units always running (none: 0, pay per
    request), the monthly figure from the engine's quote for the deployed configuration."""
    from ocrkit.deploy.serving import OFFERED, ServingOption

    offered = tuple(o.value for o in OFFERED[cloud])
    advice = try_advise(cloud, region, option, engine_config, serving_traffic(usage), offered)
    lines = list(advice.lines) if isinstance(advice, ServingAdvice) else [advice]
    estimate, why = list_estimate
    if option == ServingOption.gpu_endpoint.value:
        if estimate is None:
            return PlanCost(None, None, tuple([why] if why else []) + tuple(lines))
        return PlanCost(estimate.hourly, estimate.monthly, (*estimate.notes, *lines))
    out = list(notes or [])
    hourly: Decimal | None = ZERO
    if unit_keys:
        unit = unit_price(cloud, region, *unit_keys)
        hourly = None if unit is None else unit * units
        if unit is None:
            out.append(f"cost not shown: no price for {engine_config} in {region}")
        elif max_units > units:
            out.append(
                f"autoscaling may run up to {max_units} {unit_word}: "
                f"up to ${unit * max_units:.4f}/hour under load"
            )
    chosen = advice.chosen if isinstance(advice, ServingAdvice) else None
    if chosen is None:
        out.append("monthly cost not shown: the serving-costs engine could not price this configuration")
    else:
        out.append(
            "the monthly figure is the serving-costs engine's at usage: traffic (ocrkit cost --serving)"
        )
    return PlanCost(hourly, None if chosen is None else chosen.monthly, (*out, *lines))
