"""Commitments (SageMaker Savings Plans, GCP committed-use discounts) applied to the lines they cover.

Only lines whose pricer marked them as coverable (SageMaker instance hours, Vertex node and GPU hours)
change; storage, functions and gateways stay on demand. A commitment is charged for every hour of its
term whether used or not, so by default (`coverage: always_on`) only usage that runs all month is put
under it and the rest bills on demand; `all_eligible_hours` prices every eligible hour at the committed
rate, which is what the report does.
"""

from __future__ import annotations

from dataclasses import replace

from ocrkit.costing.catalog import Catalog
from ocrkit.costing.results import LineItem, Plan

COVERAGE_NOTE = (
    "billed on demand: it does not run every hour of the month, and a commitment is charged for every "
    "hour of its term whether used or not, so ocrkit commits only always-on usage "
    "(scenario commitments.coverage: always_on)"
)


def commit(lines: tuple[LineItem, ...], plan: Plan, catalog: Catalog, coverage: str) -> tuple[LineItem, ...]:
    """The plan's lines: eligible ones repriced at the committed rate, the rest as they were."""
    if plan == "on_demand":
        return lines
    return tuple(_commit_line(line, plan, catalog, coverage) for line in lines)


def _commit_line(line: LineItem, plan: Plan, catalog: Catalog, coverage: str) -> LineItem:
    if (
        line.commitment_ref is None
        or line.basis == "quoted"
        or line.quantity is None
        or line.unit_price is None
    ):
        return line
    rate = catalog.committed_rate(line.commitment_ref, plan, line.unit_price)  # type: ignore[arg-type]
    if rate is None:
        note = _join(
            line.note, f"no {plan} committed rate for {line.commitment_ref[1]} in the catalog: on demand"
        )
        return replace(line, note=note)
    if coverage == "always_on" and not line.always_on:
        return replace(line, note=_join(line.note, COVERAGE_NOTE))
    return line.repriced(
        rate.price,
        commitment=rate.label,
        assumptions=line.assumptions + tuple(a for a in rate.assumptions if a not in line.assumptions),
    )


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
