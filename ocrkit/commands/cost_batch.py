"""`ocrkit cost --batch N`: what reading N images once costs on each batch path, as a table or JSON."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ocrkit.errors import OcrkitError


def batch_cost(count: str, fmt: str, clouds: tuple[str, ...]) -> None:
    from ocrkit.costing.batch import compare_batch, named_profile
    from ocrkit.costing.traffic import parse_count

    try:
        images = parse_count(count, "--batch")
    except OcrkitError:
        images = Decimal(0)
    if images != int(images) or images < 1:
        raise OcrkitError(f"--batch must be a whole number of images, at least 1 (got {count})")
    result = compare_batch(
        int(images),
        gpu_profile=named_profile("report-t4-estimate"),
        cpu_profile=named_profile("report-cpu-torch"),
    )
    quotes = sorted((q for q in result.quotes if q.cloud in clouds), key=lambda q: q.total)
    skipped = [n for n in result.not_priced if n.cloud in (*clouds, "local")]
    if fmt == "json":
        doc = result.to_json()
        doc["quotes"] = [q.to_json() for q in quotes]
        doc["not_priced"] = [n.to_json() for n in skipped]
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    if fmt != "table":
        raise OcrkitError(f"--batch prints a table or json, not {fmt}")
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    table = Table(title=f"{int(images):,} images read once, USD (report model)", title_justify="left")
    for col, just in (
        ("Cloud", "left"),
        ("Path", "left"),
        ("Config", "left"),
        ("images/s", "right"),
        ("Hours", "right"),
        ("Total", "right"),
        ("per 1,000", "right"),
        ("Basis", "left"),
    ):
        table.add_column(col, justify=just)
    for q in quotes:
        table.add_row(
            q.cloud.upper(),
            q.path,
            q.config,
            f"{q.images_per_s:,.1f}",
            f"{q.hours:,.1f}",
            f"{q.total:,.2f}",
            f"{q.per_1000:.4f}",
            "ESTIMATE" if q.estimate else "measured speed; prices read",
        )
    console.print(table)
    for n in skipped:
        console.print(Text(f"Not priced: {n.cloud}/{n.path} ({n.config}): {n.reason}", style="dim"))
    for q in quotes:
        console.print(Text(f"{q.cloud}/{q.path} {q.config}: " + "; ".join(q.notes), style="dim"))
        for line in q.lines:
            derived = f" [derived: {line.derivation}]" if line.derivation else ""
            console.print(
                Text(
                    f"  {line.price_key}: {line.quantity:,.3f} {line.unit} -> ${line.cost:,.2f} "
                    f"({line.source}, {line.as_of}){derived}",
                    style="dim",
                )
            )
    console.print(
        "lambda-trigger / function-trigger price a bucket-triggered function (one invocation per image); "
        "ocrkit does not deploy that pipeline yet."
    )
    console.print(
        "Hours: the job's wall clock for managed jobs and the VM; the billed compute for functions "
        "(they run in parallel). Speeds are batch 1: every path sends one image per request."
    )
