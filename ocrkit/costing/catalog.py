"""Price catalogs: one YAML per provider and region, every unit price with its unit, source and as-of date.

Tiers, free tiers and commitment rates are data here so that a planner can update a price, or write a
catalog for another region, without touching code. Where the report states a price that differs from the
published one, the entry keeps both: `price` (published, used by the list method) and `report.price`
(used by the report method), each labelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ocrkit.config import config_error, read_yaml
from ocrkit.costing.results import CatalogInfo, Cloud, fmt_num
from ocrkit.costing.tiers import Tier
from ocrkit.errors import ConfigError
from ocrkit.resources import configs_dir

NonNegative = Annotated[Decimal, Field(ge=0)]
Term = Literal["1yr", "3yr"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierSpec(_Strict):
    up_to: NonNegative | None = None  # cumulative upper bound in the base unit; leave out on the last tier
    price: NonNegative


class FreeTier(_Strict):
    """Usage given away each month. `condition` and `regions` say when it applies."""

    quantity: NonNegative
    condition: Literal["always", "new_account_12_months"] = "always"
    regions: list[str] | None = None  # only for resources in these regions/locations
    note: str = ""


class ReportPrice(_Strict):
    """The price as the report states it (same unit and `per` as the published one)."""

    price: NonNegative
    where: str  # where in the report it is stated


class PriceEntry(_Strict):
    description: str
    unit: str  # base unit of the quantity: "GB-month", "requests", "hours", "GB-seconds"
    per: Annotated[Decimal, Field(gt=0)] = Decimal(1)  # the price is per this many units
    price: NonNegative | None = None
    tiers: list[TierSpec] | None = None
    free_tier: FreeTier | None = None
    metered_in_kb: Annotated[Decimal, Field(gt=0)] | None = None  # requests bigger than this count as several
    billed_in_ms: Annotated[Decimal, Field(gt=0)] | None = None  # durations are rounded up to this
    source: str
    as_of: date
    derivation: str | None = None  # how a price not read directly was obtained
    report: ReportPrice | None = None

    @model_validator(mode="after")
    def _one_price(self) -> PriceEntry:
        if (self.price is None) == (self.tiers is None):
            raise ValueError("give either 'price' or 'tiers', not both or neither")
        if self.tiers is not None:
            if not self.tiers:
                raise ValueError("'tiers' must list at least one tier")
            bounds = [t.up_to for t in self.tiers[:-1]]
            if any(b is None for b in bounds) or self.tiers[-1].up_to is not None:
                raise ValueError("every tier but the last needs 'up_to'; the last must not have one")
            if any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:], strict=False)):  # type: ignore[operator]
                raise ValueError("tier 'up_to' bounds must increase")
        return self

    def tier_list(self) -> list[Tier]:
        if self.tiers is None:
            assert self.price is not None
            return [Tier(None, self.price)]
        return [Tier(t.up_to, t.price) for t in self.tiers]

    @property
    def list_price(self) -> Decimal:
        """The first non-zero price: what one more unit costs in the first paid tier."""
        for tier in self.tier_list():
            if tier.price > 0:
                return tier.price
        return Decimal(0)


class CommitmentRate(_Strict):
    """A committed rate for one resource: a price, a % off on demand, or the same % off as another."""

    price: NonNegative | None = None
    on_demand: NonNegative | None = None  # the on-demand price `price` was quoted against
    discount_percent: Annotated[Decimal, Field(ge=0, le=100)] | None = None
    same_discount_as: str | None = None
    assumption: str | None = None  # set when the rate is not a published figure: printed with it

    @model_validator(mode="after")
    def _one_rule(self) -> CommitmentRate:
        given = [self.price is not None, self.discount_percent is not None, self.same_discount_as is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of 'price', 'discount_percent', 'same_discount_as'")
        return self


class Commitment(_Strict):
    name: str
    covers: str  # which usage it covers, in words
    billing: str  # how it is billed (e.g. every hour of the term, used or not)
    source: str
    as_of: date
    assumption: str | None = None  # set when the whole commitment is an assumption, not a published offer
    terms: dict[Term, dict[str, CommitmentRate]]


class FunctionCpu(_Strict):
    """Cloud Functions 2nd gen: the vCPU a memory size gets, since CPU is billed separately."""

    vcpu_by_memory_mb: dict[int, Annotated[Decimal, Field(gt=0)]]
    source: str
    as_of: date


class CatalogFile(_Strict):
    provider: Literal["aws", "gcp"]
    region: str
    currency: Literal["USD"] = "USD"
    title: str
    as_of: date
    prices: dict[str, PriceEntry]
    commitments: dict[str, Commitment] = {}
    function_cpu: FunctionCpu | None = None


@dataclass(frozen=True)
class CommittedRate:
    """A resolved commitment rate for one line: the price to charge and how it was obtained."""

    price: Decimal
    label: str
    assumptions: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """A validated catalog and the file it came from."""

    data: CatalogFile
    path: Path

    @property
    def provider(self) -> Cloud:
        return self.data.provider

    @property
    def region(self) -> str:
        return self.data.region

    def has(self, key: str) -> bool:
        return key in self.data.prices

    def entry(self, key: str) -> PriceEntry:
        try:
            return self.data.prices[key]
        except KeyError:
            raise KeyError(key) from None

    def info(self) -> CatalogInfo:
        dates = sorted(e.as_of for e in self.data.prices.values())
        return CatalogInfo(
            path=display_path(self.path),
            title=self.data.title,
            region=self.data.region,
            as_of=self.data.as_of.isoformat(),
            oldest_entry=dates[0].isoformat() if dates else "",
            newest_entry=dates[-1].isoformat() if dates else "",
        )

    def committed_rate(self, ref: tuple[str, str], term: Term, on_demand: Decimal) -> CommittedRate | None:
        """The committed price for a resource, or None when the catalog has no rate for it."""
        commitment_id, resource = ref
        commitment = self.data.commitments.get(commitment_id)
        if commitment is None:
            return None
        rates = commitment.terms.get(term, {})
        rate = rates.get(resource) or rates.get("*")
        if rate is None:
            return None
        term_words = {"1yr": "1-year", "3yr": "3-year"}[term]
        assumptions = tuple(a for a in (commitment.assumption, rate.assumption) if a)
        label = f"{term_words} {commitment.name}"
        if rate.price is not None:
            return CommittedRate(rate.price, f"{label} rate", assumptions)
        if rate.discount_percent is not None:
            price = on_demand * (100 - rate.discount_percent) / 100
            return CommittedRate(price, f"{label}, {fmt_num(rate.discount_percent)}% off", assumptions)
        ref_rate = rates.get(rate.same_discount_as or "")
        if ref_rate is None or ref_rate.price is None or ref_rate.on_demand in (None, 0):
            return None
        price = on_demand * ref_rate.price / ref_rate.on_demand  # type: ignore[operator]
        return CommittedRate(price, f"{label} rate (derived)", assumptions)


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def catalog_path(provider: str, region: str) -> Path:
    return configs_dir() / "pricing" / f"{provider}-{region}.yaml"


def load_catalog(path: Path) -> Catalog:
    """Read and validate one catalog file; every problem is a ConfigError naming the file and field."""
    raw = read_yaml(path)
    try:
        data = CatalogFile.model_validate(raw)
    except ValidationError as exc:
        raise config_error(path, exc, CatalogFile) from None
    _check_commitment_refs(path, data)
    return Catalog(data=data, path=path)


def _check_commitment_refs(path: Path, data: CatalogFile) -> None:
    for cid, commitment in data.commitments.items():
        for term, rates in commitment.terms.items():
            for resource, rate in rates.items():
                if rate.same_discount_as is None:
                    continue
                ref = rates.get(rate.same_discount_as)
                field = f"commitments.{cid}.terms.{term}.{resource}.same_discount_as"
                if ref is None:
                    raise ConfigError(path, field, f"'{rate.same_discount_as}' has no rate in this term")
                if ref.price is None or ref.on_demand is None:
                    raise ConfigError(
                        path,
                        field,
                        f"'{rate.same_discount_as}' needs both 'price' and 'on_demand' to give a %",
                    )


def default_catalog(provider: str, region: str) -> Catalog:
    path = catalog_path(provider, region)
    if not path.exists():
        shipped = sorted(p.stem for p in (configs_dir() / "pricing").glob(f"{provider}-*.yaml"))
        raise ConfigError(
            path,
            None,
            f"no {provider.upper()} price catalog for region '{region}'",
            hint=f"shipped: {', '.join(shipped) or 'none'}; pass --catalog PATH for another region",
        )
    return load_catalog(path)
