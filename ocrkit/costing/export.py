"""A Comparison as JSON, CSV or Markdown text, and the row model the table views share.

Pure: returns strings and plain rows; the CLI prints them (and draws the rich table from the same rows).
Amounts are rounded to the cent here, at the edge, and nowhere earlier; exact values ride along in JSON.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ocrkit.costing.results import (
    CLOUD_LABELS,
    PLAN_LABELS,
    CloudBudget,
    Comparison,
    Finding,
    LineItem,
    fmt_num,
    fmt_price,
    money,
    per_unit,
)

PLAN_SHORT = {"on_demand": "On demand", "1yr": "1-year", "3yr": "3-year"}
METHOD_WORDS = {
    "list": "list: every line from the catalog with the providers' published rules; the report is audited",
    "report": "report: the report's own arithmetic, reproduced line by line (derived or quoted)",
}


def dec(value: Decimal | None) -> str | None:
    """Exact decimal as a plain string ("0.0000166667", "1000000"), None stays None."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def usd(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"-{money(-value)}" if value < 0 else str(money(value))


# -- rows shared by the markdown and rich table views --------------------------------------------------


@dataclass
class Row:
    service: str
    item: str
    quantity: str
    unit_price: str
    basis: str
    costs: dict[str, Decimal | None]
    in_total: bool
    notes: list[str] = field(default_factory=list)


def line_rows(budget: CloudBudget) -> list[Row]:
    """One row per component across plans (a line and its committed version share a row)."""
    rows: dict[tuple, Row] = {}
    order: list[tuple] = []
    for plan, plan_total in budget.plans.items():
        seen: dict[tuple, int] = {}
        for line in plan_total.lines:
            base = (line.service, line.key, line.item)
            nth = seen.get(base, 0)
            seen[base] = nth + 1
            ident = (*base, nth)
            row = rows.get(ident)
            if row is None:
                row = Row(
                    service=line.service_label,
                    item=line.item,
                    quantity=_quantity(line),
                    unit_price=_unit_price(line) if not line.commitment else "",
                    basis=_basis(line),
                    costs=dict.fromkeys(budget.plans),
                    in_total=line.in_total,
                )
                rows[ident] = row
                _insert(order, ident, line.service)
            row.costs[plan] = line.cost
            for note in _line_notes(line):
                if note not in row.notes:
                    row.notes.append(note)
            if not row.unit_price and not line.commitment:
                row.unit_price = _unit_price(line)
    return [rows[i] for i in order]


def _insert(order: list[tuple], ident: tuple, service: str) -> None:
    last = max((i for i, x in enumerate(order) if x[0] == service), default=None)
    if last is None:
        order.append(ident)
    else:
        order.insert(last + 1, ident)


def _line_notes(line: LineItem) -> list[str]:
    notes = [line.note] if line.note else []
    if line.commitment and line.unit_price is not None:
        notes.append(
            f"{line.commitment}: {fmt_price(line.unit_price)} / {per_unit(line.unit, line.price_per)}"
        )
    notes += [f"assumption: {a}" for a in line.assumptions]
    return notes


def _quantity(line: LineItem) -> str:
    if line.quantity is None:
        return ""
    return f"{fmt_num(line.quantity, 4)} {line.unit or ''}".strip()


def _unit_price(line: LineItem) -> str:
    if line.unit_price is None:
        return ""
    return f"{fmt_price(line.unit_price)} / {per_unit(line.unit, line.price_per)}"


def _basis(line: LineItem) -> str:
    words = [line.basis]
    if line.free:
        words.append("free")
    if not line.in_total:
        words.append("not in report total")
    return ", ".join(words)


@dataclass
class FindingGroup:
    """Identical findings across plans, shown once ("all plans") in the table views."""

    cloud: str
    plans: list[str]
    service: str
    report: Decimal | None
    computed: Decimal | None
    reason: str
    kind: str

    @property
    def difference(self) -> Decimal | None:
        if self.report is None or self.computed is None:
            return None
        return self.computed - self.report

    def plan_words(self, priced: list[str]) -> str:
        if len(self.plans) > 1 and self.plans == priced:
            return "all plans"
        return ", ".join(PLAN_SHORT[p] for p in self.plans)


def finding_groups(findings: tuple[Finding, ...] | list[Finding]) -> list[FindingGroup]:
    groups: dict[tuple, FindingGroup] = {}
    for f in findings:
        key = (f.cloud, f.service, usd(f.report), usd(f.computed), f.reason, f.kind)
        if key in groups:
            groups[key].plans.append(f.plan)
        else:
            groups[key] = FindingGroup(f.cloud, [f.plan], f.service, f.report, f.computed, f.reason, f.kind)
    return list(groups.values())


# -- JSON -------------------------------------------------------------------------------------------------


def to_dict(comparison: Comparison) -> dict[str, Any]:
    """The JSON shape: amounts as decimal strings, totals and costs to the cent, exact values alongside."""
    return {
        "scenario": comparison.scenario,
        "title": comparison.title,
        "source": comparison.source,
        "method": comparison.method,
        "currency": comparison.currency,
        "clouds": {cloud: _cloud_dict(budget) for cloud, budget in comparison.budgets.items()},
        "comparison": [
            {
                "plan": row.plan,
                "totals": {cloud: usd(total) for cloud, total in row.totals.items()},
                "cheaper": row.cheaper,
                "difference": usd(row.difference) if row.difference is not None else None,
                "report_totals": {
                    cloud: usd(totals[row.plan])
                    for cloud, totals in comparison.report_totals.items()
                    if row.plan in totals
                },
            }
            for row in comparison.comparisons()
        ],
        "findings": [
            {
                "cloud": f.cloud,
                "plan": f.plan,
                "service": f.service,
                "report": usd(f.report) if f.report is not None else None,
                "computed": usd(f.computed) if f.computed is not None else None,
                "difference": usd(f.difference) if f.difference is not None else None,
                "reason": f.reason,
                "kind": f.kind,
            }
            for f in comparison.findings
        ],
        "notes": list(comparison.notes),
    }


def _cloud_dict(budget: CloudBudget) -> dict[str, Any]:
    info = budget.catalog
    return {
        "region": budget.region,
        "catalog": {
            "path": info.path,
            "title": info.title,
            "as_of": info.as_of,
            "entries_dated": [info.oldest_entry, info.newest_entry],
        },
        "plans": {
            plan: {
                "total": usd(total.total),
                "total_exact": dec(total.total),
                "report_total": usd(total.report_total) if total.report_total is not None else None,
                "lines": [_line_dict(line) for line in total.lines],
            }
            for plan, total in budget.plans.items()
        },
        "notes": list(budget.notes),
    }


def _line_dict(line: LineItem) -> dict[str, Any]:
    return {
        "service": line.service_label,
        "service_id": line.service,
        "key": line.key,
        "item": line.item,
        "quantity": dec(line.quantity),
        "unit": line.unit,
        "unit_price": dec(line.unit_price),
        "price_per": dec(line.price_per) if line.unit_price is not None else None,
        "cost": usd(line.cost),
        "cost_exact": dec(line.cost),
        "basis": line.basis,
        "in_total": line.in_total,
        "free_tier": line.free,
        "commitment": line.commitment,
        "price_key": line.price_key,
        "note": line.note or None,
        "assumptions": list(line.assumptions),
    }


def to_json(comparison: Comparison) -> str:
    return json.dumps(to_dict(comparison), indent=2, ensure_ascii=False) + "\n"


# -- CSV --------------------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "record",
    "scenario",
    "method",
    "cloud",
    "plan",
    "service",
    "item",
    "quantity",
    "unit",
    "unit_price",
    "price_per",
    "cost",
    "basis",
    "in_total",
    "commitment",
    "report",
    "computed",
    "note",
]


def to_csv(comparison: Comparison) -> str:
    """One table: `record` is "line", "total" or "finding", so a spreadsheet can filter each."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    head = {"scenario": comparison.scenario, "method": comparison.method}
    for cloud, budget in comparison.budgets.items():
        for plan, total in budget.plans.items():
            for line in total.lines:
                writer.writerow(
                    {
                        **head,
                        "record": "line",
                        "cloud": cloud,
                        "plan": plan,
                        "service": line.service_label,
                        "item": line.item,
                        "quantity": dec(line.quantity) or "",
                        "unit": line.unit or "",
                        "unit_price": dec(line.unit_price) or "",
                        "price_per": dec(line.price_per) if line.unit_price is not None else "",
                        "cost": usd(line.cost),
                        "basis": line.basis,
                        "in_total": "yes" if line.in_total else "no",
                        "commitment": line.commitment or "",
                        "note": "; ".join([line.note, *line.assumptions]).strip("; "),
                    }
                )
            writer.writerow(
                {
                    **head,
                    "record": "total",
                    "cloud": cloud,
                    "plan": plan,
                    "service": "Total",
                    "cost": usd(total.total),
                    "report": usd(total.report_total),
                }
            )
    for f in comparison.findings:
        writer.writerow(
            {
                **head,
                "record": "finding",
                "cloud": f.cloud,
                "plan": f.plan,
                "service": f.service,
                "basis": f.kind,
                "report": usd(f.report),
                "computed": usd(f.computed),
                "note": f.reason,
            }
        )
    return out.getvalue()


# -- Markdown ---------------------------------------------------------------------------------------------


def to_markdown(comparison: Comparison) -> str:
    out: list[str] = [f"# ocrkit cost: {comparison.scenario}", "", comparison.title, ""]
    out.append(f"- Method: {METHOD_WORDS[comparison.method]}")
    for budget in comparison.budgets.values():
        info = budget.catalog
        out.append(
            f"- {budget.label} prices: {info.region}, as of {info.as_of} (`{info.path}`; entries dated "
            f"{info.oldest_entry} to {info.newest_entry})"
        )
    out += ["", "## Monthly totals (USD)", ""]
    clouds = list(comparison.budgets)
    header = ["Plan", *(CLOUD_LABELS[c] for c in clouds)]
    if len(clouds) > 1:
        header += ["Cheaper", "By"]
    header += [f"Report {CLOUD_LABELS[c]}" for c in clouds if c in comparison.report_totals]
    out += [_md_row(header), _md_row(["---"] * len(header))]
    for row in comparison.comparisons():
        cells = [PLAN_LABELS[row.plan]]
        for cloud in clouds:
            value = usd(row.totals[cloud]) if cloud in row.totals else "-"
            cells.append(f"**{value}**" if row.cheaper == cloud else value)
        if len(clouds) > 1:
            cells += [CLOUD_LABELS.get(row.cheaper or "", "same"), usd(row.difference)]
        for cloud in clouds:
            if cloud in comparison.report_totals:
                cells.append(usd(comparison.report_totals[cloud].get(row.plan)) or "-")
        out.append(_md_row(cells))
    for budget in comparison.budgets.values():
        out += ["", f"## {budget.label} line items ({budget.region})", ""]
        plans = list(budget.plans)
        header = [
            "Service",
            "Item",
            "Quantity",
            "Unit price",
            *(PLAN_SHORT[p] for p in plans),
            "Basis",
            "Notes",
        ]
        out += [_md_row(header), _md_row(["---"] * len(header))]
        footnotes: list[str] = []
        for row in line_rows(budget):
            refs = [_footnote(footnotes, note) for note in row.notes]
            costs = [usd(row.costs[p]) if row.costs.get(p) is not None else "-" for p in plans]
            if not row.in_total:
                costs = [f"({c})" for c in costs]
            out.append(
                _md_row(
                    [row.service, row.item, row.quantity, row.unit_price, *costs, row.basis, " ".join(refs)]
                )
            )
        totals = [f"**{usd(budget.plans[p].total)}**" for p in plans]
        out.append(_md_row(["**Total**", "", "", "", *totals, "", ""]))
        if any(budget.plans[p].report_total is not None for p in plans):
            printed = [usd(budget.plans[p].report_total) or "-" for p in plans]
            out.append(_md_row(["Report prints", "", "", "", *printed, "", ""]))
        if footnotes:
            out.append("")
            out += [f"{i}. {note}" for i, note in enumerate(footnotes, 1)]
    out += ["", "## Findings", ""]
    if comparison.findings:
        header = ["Cloud", "Plan", "Service", "Report", "ocrkit", "Difference", "Reason"]
        out += [_md_row(header), _md_row(["---"] * len(header))]
        priced = comparison.plans()
        for g in finding_groups(comparison.findings):
            out.append(
                _md_row(
                    [
                        CLOUD_LABELS[g.cloud],
                        g.plan_words(priced),
                        g.service,
                        usd(g.report),
                        usd(g.computed),
                        usd(g.difference),
                        g.reason,
                    ]
                )
            )
    else:
        out.append("No findings.")
    if comparison.notes:
        out += ["", "## Notes", ""]
        out += [f"- {note}" for note in comparison.notes]
    return "\n".join(out) + "\n"


def _footnote(footnotes: list[str], note: str) -> str:
    if note not in footnotes:
        footnotes.append(note)
    return f"[{footnotes.index(note) + 1}]"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
