"""The costing engine's results: line items, plan totals, cloud budgets, findings, the comparison.

Plain frozen dataclasses so that every layer (pricers, report arithmetic, audit, export, CLI) passes the
same typed objects. Money is Decimal at full precision; rounding happens only in `money()` when printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Plan = Literal["on_demand", "1yr", "3yr"]
Cloud = Literal["aws", "gcp"]
Basis = Literal["derived", "quoted", "catalog"]
Method = Literal["list", "report"]

PLANS: tuple[Plan, ...] = ("on_demand", "1yr", "3yr")
CLOUDS: tuple[Cloud, ...] = ("aws", "gcp")
PLAN_LABELS: dict[str, str] = {
    "on_demand": "On demand",
    "1yr": "1-year commitment",
    "3yr": "3-year commitment",
}
CLOUD_LABELS: dict[str, str] = {"aws": "AWS", "gcp": "GCP"}
CENT = Decimal("0.01")
ZERO = Decimal(0)


def money(amount: Decimal) -> Decimal:
    """Round to the cent, half up, as an invoice does. The only place money is rounded."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def fmt_num(value: Decimal | int, places: int | None = None) -> str:
    """A quantity for people: thousands separators, no trailing zeros ("3,350,000", "0.95")."""
    value = Decimal(value)
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    text = format(value.normalize(), "f")
    whole, _, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-') or 0):,}.{frac}"


def fmt_price(value: Decimal) -> str:
    """A unit price for people: "$0.0000166667", "$1.00", "$0.7364"; at most 10 decimals (exact in JSON)."""
    if value.as_tuple().exponent < -10:  # type: ignore[operator]
        value = value.quantize(Decimal(1).scaleb(-10), rounding=ROUND_HALF_UP)
    text = format(value.normalize(), "f")
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) < 2:
        text += "0"
    return f"${text}"


def per_unit(unit: str | None, per: Decimal = Decimal(1)) -> str:
    """ "hour", "1,000,000 requests", "GB-month": what one price is for."""
    if not unit:
        return ""
    if per == 1:
        return unit[:-1] if unit.endswith("s") and not unit.endswith("ss") else unit
    if per == 1_000_000:
        return f"1M {unit}"
    return f"{fmt_num(per)} {unit}"


def same_cents(a: Decimal | None, b: Decimal | None) -> bool:
    """Two amounts agree when they print the same; the report itself states some figures to 3 dp."""
    if a is None or b is None:
        return a is b
    return money(a) == money(b)


@dataclass(frozen=True)
class LineItem:
    """One cost component: a quantity of a priced unit, or a figure the report quotes.

    `quantity` is in the unit's base measure (requests, GB-s, hours) and `unit_price` is per `price_per`
    of them (e.g. $1.00 per 1,000,000 requests); the cost is their product and nothing else.
    """

    service: str  # service id: "sagemaker", "cloud_functions", ...
    service_label: str  # as a planner reads it: "SageMaker", "Cloud Functions"
    key: str  # component id shared by both methods, e.g. "sagemaker.endpoint"; the audit matches on it
    item: str
    cost: Decimal
    basis: Basis
    quantity: Decimal | None = None
    unit: str | None = None
    unit_price: Decimal | None = None
    price_per: Decimal = Decimal(1)
    price_key: str | None = None  # catalog key the price came from
    note: str = ""  # why this line is what it is (the rule applied, the reading taken)
    assumptions: tuple[str, ...] = ()  # what the line takes for granted; shown labelled
    in_total: bool = True  # False: listed (as the report lists it) but not summed
    free: bool = False  # a free-tier slice
    commitment: str | None = None  # e.g. "1-year Savings Plan rate"
    commitment_ref: tuple[str, str] | None = (
        None  # (catalog commitment id, resource) if a commitment may cover it
    )
    always_on: bool = False  # runs every hour of the month (what a commitment can cover without waste)
    replaces: tuple[str, ...] = ()  # for quoted lines: the component keys this figure stands in for

    @classmethod
    def priced(
        cls,
        *,
        service: str,
        service_label: str,
        key: str,
        item: str,
        quantity: Decimal,
        unit: str,
        unit_price: Decimal,
        price_per: Decimal = Decimal(1),
        basis: Basis,
        **extra: object,
    ) -> LineItem:
        """A line whose cost is quantity x unit price (per `price_per` units): the only place they meet."""
        cost = quantity * unit_price / price_per
        return cls(
            service=service,
            service_label=service_label,
            key=key,
            item=item,
            cost=cost,
            basis=basis,
            quantity=quantity,
            unit=unit,
            unit_price=unit_price,
            price_per=price_per,
            **extra,  # type: ignore[arg-type]
        )

    def repriced(self, unit_price: Decimal, **changes: object) -> LineItem:
        """The same quantity at another unit price (a commitment rate); the cost follows."""
        assert self.quantity is not None
        cost = self.quantity * unit_price / self.price_per
        return replace(self, unit_price=unit_price, cost=cost, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PlanTotal:
    """One cloud's monthly bill under one plan (on demand, 1-year or 3-year commitment)."""

    plan: Plan
    lines: tuple[LineItem, ...]
    report_total: Decimal | None = None  # the total the report prints for this plan, if any

    @property
    def total(self) -> Decimal:
        return sum((line.cost for line in self.lines if line.in_total), ZERO)

    def service_total(self, service: str) -> Decimal:
        return sum((line.cost for line in self.lines if line.in_total and line.service == service), ZERO)

    def services(self) -> list[tuple[str, str]]:
        """(id, label) of the services on this bill, in line order."""
        seen: dict[str, str] = {}
        for line in self.lines:
            seen.setdefault(line.service, line.service_label)
        return list(seen.items())


@dataclass(frozen=True)
class CatalogInfo:
    """Which price catalog a budget used, for the reader to check."""

    path: str
    title: str
    region: str
    as_of: str
    oldest_entry: str
    newest_entry: str


@dataclass(frozen=True)
class CloudBudget:
    cloud: Cloud
    region: str
    catalog: CatalogInfo
    plans: dict[str, PlanTotal]
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return CLOUD_LABELS[self.cloud]


FindingKind = Literal["difference", "total", "report_total", "report_service_total", "not_in_total", "quoted"]


@dataclass(frozen=True)
class Finding:
    """A figure where ocrkit and the report part ways, with the reason in words."""

    cloud: Cloud
    plan: Plan
    service: str  # label as printed ("SageMaker"), or "Total"
    report: Decimal | None
    computed: Decimal | None
    reason: str
    kind: FindingKind = "difference"

    @property
    def difference(self) -> Decimal | None:
        if self.report is None or self.computed is None:
            return None
        return self.computed - self.report


@dataclass(frozen=True)
class PlanComparison:
    plan: Plan
    totals: dict[str, Decimal]  # cloud -> total (only clouds priced for this plan)

    @property
    def cheaper(self) -> str | None:
        if len(self.totals) < 2:
            return None
        (a, ta), (b, tb) = sorted(self.totals.items(), key=lambda kv: kv[1])
        return None if money(ta) == money(tb) else a

    @property
    def difference(self) -> Decimal | None:
        if len(self.totals) < 2:
            return None
        values = sorted(self.totals.values())
        return values[-1] - values[0]


@dataclass(frozen=True)
class Comparison:
    """Everything `ocrkit cost` shows: budgets per cloud, the side-by-side per plan, the findings."""

    scenario: str
    title: str
    source: str  # where the scenario came from (built-in name or path)
    method: Method
    budgets: dict[str, CloudBudget]
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()
    currency: str = "USD"
    report_totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # cloud -> plan -> printed

    def plans(self) -> list[Plan]:
        """Plans priced for at least one cloud, in the usual order."""
        present = {plan for budget in self.budgets.values() for plan in budget.plans}
        return [plan for plan in PLANS if plan in present]

    def comparisons(self) -> list[PlanComparison]:
        rows = []
        for plan in self.plans():
            totals = {c: b.plans[plan].total for c, b in self.budgets.items() if plan in b.plans}
            rows.append(PlanComparison(plan=plan, totals=totals))
        return rows
