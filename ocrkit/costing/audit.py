"""The audit: where ocrkit's list-method bill differs from the report's, service by service, and why.

Both methods tag their lines with the same component keys (e.g. "sagemaker.endpoint"), so the reason
can say what differs inside a service: a quantity, a unit price, a free tier, a commitment, or a figure
the report quotes without a derivation. The aim is a sentence a planner can check against the report.
"""

from __future__ import annotations

from decimal import Decimal

from ocrkit.costing.results import (
    PLAN_LABELS,
    ZERO,
    CloudBudget,
    Finding,
    LineItem,
    PlanTotal,
    fmt_num,
    fmt_price,
    money,
    per_unit,
    same_cents,
)


def audit(listed: CloudBudget, report: CloudBudget) -> list[Finding]:
    """Findings for every plan both bills price: one per service that differs, then the total."""
    findings: list[Finding] = []
    for plan, ours in listed.plans.items():
        theirs = report.plans.get(plan)
        if theirs is None:
            continue
        for sid, label in _ordered(ours, theirs):
            computed = ours.service_total(sid)
            reported = theirs.service_total(sid)
            if same_cents(computed, reported):
                continue
            findings.append(
                Finding(
                    cloud=listed.cloud,
                    plan=plan,  # type: ignore[arg-type]
                    service=label,
                    report=reported,
                    computed=computed,
                    reason=explain(
                        [x for x in theirs.lines if x.service == sid],
                        [x for x in ours.lines if x.service == sid],
                    ),
                    kind="difference",
                )
            )
        findings += _total(listed, plan, ours, theirs)
    return findings


def _ordered(ours: PlanTotal, theirs: PlanTotal) -> list[tuple[str, str]]:
    seen = dict(ours.services())
    for sid, label in theirs.services():
        seen.setdefault(sid, label)
    return list(seen.items())


def _total(listed: CloudBudget, plan: str, ours: PlanTotal, theirs: PlanTotal) -> list[Finding]:
    reported = theirs.report_total if theirs.report_total is not None else theirs.total
    if same_cents(ours.total, reported):
        return []
    gap = ours.total - reported
    reason = (
        f"ocrkit's {PLAN_LABELS[plan].lower()} total is {_usd(abs(gap))} {'above' if gap > 0 else 'below'} "
        "the report's"
    )
    if theirs.report_total is not None and not same_cents(theirs.report_total, theirs.total):
        lines_sum, printed = money(theirs.total), money(theirs.report_total)
        reason += (
            f"; the service differences above come to {_usd(ours.total - theirs.total)} against the sum of "
            f"the report's own lines (${lines_sum}), which is not the ${printed} it prints"
        )
    else:
        reason += ": the sum of the service differences above"
    return [
        Finding(
            cloud=listed.cloud,
            plan=plan,  # type: ignore[arg-type]
            service="Total",
            report=reported,
            computed=ours.total,
            reason=reason,
            kind="total",
        )
    ]


def explain(r_lines: list[LineItem], l_lines: list[LineItem]) -> str:
    """Why a service's figures differ, component by component."""
    parts: list[str] = []
    used: set[str] = set()
    said: set[str] = set()  # notes already given, so a rule is explained once per finding
    for r in (x for x in r_lines if x.basis == "quoted"):
        if r.key.endswith(".remainder"):
            parts.append(f"the report's figure includes {_usd(r.cost)} that its own lines do not explain")
            continue
        keys = set(r.replaces) or ({r.key} if any(x.key == r.key for x in l_lines) else set())
        covered = [x for x in l_lines if x.key in keys]
        used |= keys
        if not r.cost and not covered:
            continue  # a $0.00 line the report lists for completeness
        if r.in_total:
            text = f"{r.item}: the report quotes {_usd(r.cost)}"
        else:
            text = f"{r.item}: the report lists {_usd(r.cost)} but leaves it out of its total"
        if r.note:
            text += f" ({r.note})"
        if covered:
            text += f"; ocrkit: {_usd(_sum(covered))} ({_describe(covered)})"
        parts.append(text)
    for key in dict.fromkeys(x.key for x in r_lines if x.basis != "quoted"):
        used.add(key)
        theirs = [x for x in r_lines if x.key == key]
        ours = [x for x in l_lines if x.key == key]
        reported = _sum(x for x in theirs if x.in_total)
        if not ours:
            parts.append(
                f"{_name(theirs[0])}: the report's {_usd(reported)} has no counterpart in ocrkit's bill"
            )
        elif not (same_cents(reported, _sum(ours)) and all(x.in_total for x in theirs)):
            parts.append(_compare(theirs, ours, said))
    for key in dict.fromkeys(x.key for x in l_lines if x.key not in used):
        ours = [x for x in l_lines if x.key == key]
        if _sum(ours) == 0:
            continue
        notes = _notes(ours)
        parts.append(
            f"{_name(ours[0])}: ocrkit {_usd(_sum(ours))}"
            + (f" ({notes})" if notes else "")
            + "; the report has none"
        )
    return "; ".join(parts) if parts else "rounding"


def _compare(theirs: list[LineItem], ours: list[LineItem], said: set[str]) -> str:
    """One component both bills have: what differs among quantity, price, free tier, commitment."""
    reported = _sum(x for x in theirs if x.in_total)
    bits: list[str] = []
    if not all(x.in_total for x in theirs):
        bits.append(f"the report lists {_usd(_sum(theirs))} for it but leaves that out of its total")
    unit = ours[0].unit or ""
    their_qty = _sum(x.quantity or ZERO for x in theirs)
    our_paid = _sum(x.quantity or ZERO for x in ours if not x.free)
    our_free = _sum(x.quantity or ZERO for x in ours if x.free)
    if our_paid != their_qty:
        text = f"{fmt_num(our_paid, 4)} billable {unit} vs the report's {fmt_num(their_qty, 4)}"
        if our_free:
            text += f" ({fmt_num(our_free, 4)} free)"
        bits.append(text)
    our_commit = {x.commitment for x in ours}
    their_commit = {x.commitment for x in theirs}
    if our_commit != their_commit:
        bits.append(f"ocrkit: {_terms(ours)}; the report: {_terms(theirs)}")
    else:
        their_prices = {x.unit_price for x in theirs if x.unit_price is not None}
        our_prices = {x.unit_price for x in ours if x.unit_price is not None and not x.free}
        if their_prices and our_prices and their_prices != our_prices:
            per = per_unit(unit, ours[0].price_per)
            our_keys = {x.price_key for x in ours if not x.free}
            their_keys = {x.price_key for x in theirs}
            if our_keys != their_keys:
                why = f" (ocrkit prices {_keys(our_keys)}, the report {_keys(their_keys)})"
            elif any(x.commitment for x in ours):
                why = ""
            else:
                why = " (published price vs the report's)"
            bits.append(f"{_prices(our_prices)} vs the report's {_prices(their_prices)} per {per}{why}")
    notes = [x.note for x in ours if x.note]
    if our_paid != their_qty:
        notes += [x.note for x in theirs if x.note]
    for note in dict.fromkeys(notes):
        if note not in said:
            said.add(note)
            bits.append(note)
    return f"{_name(ours[0])}: ocrkit {_usd(_sum(ours))} vs the report's {_usd(reported)}: " + "; ".join(bits)


def _terms(lines: list[LineItem]) -> str:
    """'on demand at $0.7364' / '1-year SageMaker Savings Plan rate at $0.5334'."""
    seen = dict.fromkeys(
        f"{x.commitment or 'on demand'} at {fmt_price(x.unit_price)}"
        for x in lines
        if x.unit_price is not None
    )
    return " + ".join(seen)


def _keys(keys: set[str | None]) -> str:
    return " + ".join(sorted(k for k in keys if k))


def _notes(lines: list[LineItem]) -> str:
    return "; ".join(dict.fromkeys(x.note for x in lines if x.note))


def _describe(lines: list[LineItem]) -> str:
    """Lines summed per component: 'CPU $55.80 after free tier, Memory $8.48 after free tier'."""
    out = []
    for key in dict.fromkeys(x.key for x in lines):
        group = [x for x in lines if x.key == key]
        free = " after free tier" if any(x.free for x in group) else ""
        out.append(f"{_name(group[0])} {_usd(_sum(group))}{free}")
    return ", ".join(out)


def _name(line: LineItem) -> str:
    return line.item.split(",")[0]


def _prices(prices: set[Decimal]) -> str:
    return "/".join(fmt_price(p) for p in sorted(prices))


def _sum(values) -> Decimal:
    total = ZERO
    for v in values:
        total += v.cost if isinstance(v, LineItem) else v
    return total


def _usd(amount: Decimal) -> str:
    return f"-${money(-amount)}" if amount < 0 else f"${money(amount)}"
