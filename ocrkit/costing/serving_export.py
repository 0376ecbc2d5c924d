"""The serving comparison as JSON, CSV and Markdown (text only; the CLI prints it)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from ocrkit.costing.compare import ServingComparison, label
from ocrkit.costing.results import money
from ocrkit.costing.serving import Quote


def _usd(x: Decimal | None) -> str | None:
    return None if x is None else str(money(x))


def _rec(q: Quote | None) -> dict | None:
    return None if q is None else {"cloud": q.cloud, "option": q.option, "monthly": _usd(q.monthly)}


def row(c: ServingComparison, q: Quote) -> dict:
    r = c.traffic.requests_per_month
    return {
        "cloud": q.cloud,
        "option": q.option,
        "region": q.region,
        "config": q.config,
        "monthly": _usd(q.monthly),
        "monthly_1yr": _usd(q.committed.get("1yr")),
        "monthly_3yr": _usd(q.committed.get("3yr")),
        "per_1000": str(money(q.per_1000(r) * 100) / 100),
        "p95_ms": round(q.p95_ms, 1),
        "cold_start_s": q.cold_start_s,
        "meets_slo": q.meets_slo,
        "limits": q.limits,
        "instances_at_peak": q.instances_at_peak,
        "notes": list(q.notes),
        "lines": [
            {
                "item": line.item,
                "quantity": str(line.quantity),
                "unit": line.unit,
                "unit_price": str(line.unit_price),
                "per": str(line.price_per),
                "cost": str(line.cost),
                "price_key": line.price_key,
            }
            for line in q.lines
        ],
    }


def to_dict(c: ServingComparison) -> dict:
    t = c.traffic
    return {
        "scenario": c.scenario,
        "currency": "USD",
        "prices_as_of": c.price_dates(),
        "regions": {cloud: cat.region for cloud, cat in c.catalogs.items()},
        "traffic": {
            "requests_per_month": str(t.requests_per_month),
            "peak_rps": str(round(t.peak(c.hours), 3)),
            "p95_ms": str(t.p95_ms),
            "payload_kb": str(t.payload_kb),
            "model": t.model,
        },
        "serving": [row(c, q) for q in c.quotes],
        "not_priced": [
            {"cloud": u.cloud, "option": u.option, "region": u.region, "reason": u.reason} for u in c.unpriced
        ],
        "not_priced_configs": [
            {"cloud": u.cloud, "option": u.option, "config": u.config, "region": u.region, "reason": u.reason}
            for u in c.gaps
        ],
        "recommended": {
            **(_rec(c.recommended.get("overall")) or {}),
            "per_cloud": {k: _rec(v) for k, v in c.recommended.items() if k != "overall"},
        },
        "break_even": [
            {"a": b.a, "b": b.b, "requests_per_month": str(b.requests_per_month)} for b in c.break_even
        ],
        "utilisation": {cloud: str(round(u, 6)) for cloud, u in c.utilisation.items()},
        "assumptions": list(c.notes),
    }


def to_json(c: ServingComparison) -> str:
    return json.dumps(to_dict(c), indent=2, ensure_ascii=False) + "\n"


COLUMNS = (
    "cloud",
    "option",
    "region",
    "config",
    "monthly",
    "monthly_1yr",
    "monthly_3yr",
    "per_1000",
    "p95_ms",
    "cold_start_s",
    "meets_slo",
    "limits",
)


def to_csv(c: ServingComparison) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for q in c.quotes:
        d = row(c, q)
        w.writerow(["" if d[k] is None else d[k] for k in COLUMNS])
    return out.getvalue()


def to_markdown(c: ServingComparison) -> str:
    lines = [
        f"## Which architecture? `{c.scenario}` at {c.traffic.requests_per_month:,.0f} requests a month",
        "",
        "| Cloud | Option | Config | Monthly | 1-yr | 3-yr | per 1,000 | p95 ms | meets target | Limits |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for q in c.quotes:
        d = row(c, q)
        lines.append(
            f"| {q.cloud.upper()} | {q.option} | {q.config} | {d['monthly']} | {d['monthly_1yr'] or '-'} | "
            f"{d['monthly_3yr'] or '-'} | {d['per_1000']} | {d['p95_ms']:,.0f} | "
            f"{'yes' if q.meets_slo else 'no'} | {q.limits} |"
        )
    best = c.recommended.get("overall")
    lines += [
        "",
        f"Recommended: {label(best)} at ${money(best.monthly)} a month."
        if best
        else "Recommended: none meets the target.",
    ]
    for b in c.break_even:
        lines.append(f"- break-even {b.a} = {b.b}: {b.requests_per_month:,.0f} requests a month")
    for u in c.unpriced:
        lines.append(f"- not priced: {label(u)} in {u.region}: {u.reason}")
    for u in c.gaps:
        lines.append(f"- not priced: {label(u)} {u.config} in {u.region}: {u.reason}")
    return "\n".join(lines) + "\n"
