"""`ocrkit cost`: monthly AWS-vs-GCP budgets from a usage scenario, and the audit of the report's figures.

The engine (ocrkit.costing) is pure; this module only parses options, asks the engine for a Comparison and
prints it: a rich table here, or the JSON/CSV/Markdown text that ocrkit.costing.export renders.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ocrkit.commands.choices import CostCloud, CostFormat, CostMethod
from ocrkit.costing import export
from ocrkit.costing.engine import price
from ocrkit.costing.results import CLOUD_LABELS, CLOUDS, PLAN_LABELS, Comparison
from ocrkit.costing.scenario import builtin_names
from ocrkit.errors import OcrkitError

HELP = "\n\n".join(
    [
        "Price a usage scenario on AWS and GCP, per month: on demand and with 1- and 3-year commitments.",
        "A scenario is a YAML file of monthly usage per cloud (instance hours, requests, GB stored...). The "
        "built-in ones are the report's: 'baseline' (its architecture, 1M requests a month) and 'extended' "
        "(3 models on 3 endpoints, 3M requests). Copy one from configs/scenarios/, edit it, pass its path.",
        "--method list (the default) prices every line from the price catalog (configs/pricing/) with the "
        "providers' published rules: free tiers, tier boundaries, what a commitment covers. It then audits "
        "the report: each figure that differs is listed with the report's value, ocrkit's and the reason.",
        "--method report reproduces the report's own arithmetic and totals to the cent, marking each line "
        "'derived' (its stated prices x its stated usage) or 'quoted' (a figure its inputs do not produce), "
        "and flags where its sums disagree.",
        "Examples: ocrkit cost --scenario extended --method report --format json; "
        "ocrkit cost --scenario ./mine.yaml --cloud gcp --catalog ./my-gcp-prices.yaml",
    ]
)


def register(app: typer.Typer) -> None:
    @app.command("cost", help=HELP, no_args_is_help=False)
    def cost_cmd(
        scenario: str = typer.Option(
            "baseline",
            "--scenario",
            "-s",
            metavar="NAME|PATH",
            help=f"Built-in scenario ({', '.join(builtin_names())}) or the path of a scenario YAML file.",
        ),
        cloud: CostCloud = typer.Option(
            CostCloud.all, "--cloud", "-c", case_sensitive=False, help="Price one cloud, or both."
        ),
        method: CostMethod = typer.Option(
            CostMethod.list,
            "--method",
            "-m",
            case_sensitive=False,
            help="list: published prices and rules, audited against the report; report: its own arithmetic.",
        ),
        fmt: CostFormat = typer.Option(
            CostFormat.table,
            "--format",
            "-f",
            case_sensitive=False,
            help="table (for people), json, csv or markdown.",
        ),
        catalog: list[Path] = typer.Option(
            [],
            "--catalog",
            metavar="PATH",
            help="A price catalog YAML replacing the shipped one for its provider (repeat for both).",
        ),
        serving: str | None = typer.Option(
            None,
            "--serving",
            metavar="all|ID,ID",
            help="Compare serving architectures for the scenario's traffic: all, or a comma list of "
            "gpu-endpoint, cpu-endpoint, serverless-endpoint, function, gpu-scale-to-zero.",
        ),
        requests: str | None = typer.Option(
            None,
            "--requests",
            metavar="N",
            help="With --serving: requests a month instead of the scenario's (50M).",
        ),
        p95_ms: float | None = typer.Option(
            None, "--p95-ms", metavar="MS", help="With --serving: the p95 latency target in ms."
        ),
        profile: Path | None = typer.Option(
            None,
            "--profile",
            metavar="PATH",
            help="With --serving: your own speed profile (ocrkit bench --save-profile).",
        ),
        chart: Path | None = typer.Option(
            None, "--chart", metavar="PATH.png|.html", help="With --serving: write the cost-vs-traffic chart."
        ),
        region: list[str] = typer.Option(
            [],
            "--region",
            metavar="REGION",
            help="With --serving: price this region (repeat for both clouds).",
        ),
        batch: str | None = typer.Option(
            None,
            "--batch",
            metavar="N",
            help="Price reading N images once on every batch path (SageMaker Batch Transform, Vertex AI "
            "batch prediction, bucket-triggered functions, a VM running ocrkit batch), e.g. 10000000.",
        ),
    ) -> None:
        picked, method, fmt = cloud.value, method.value, fmt.value
        clouds = CLOUDS if picked == "all" else (picked,)
        if batch is not None:
            if serving is not None or profile is not None or requests is not None or region or chart:
                raise OcrkitError("--batch prices batch paths alone: leave out --serving and its options")
            from ocrkit.commands.cost_batch import batch_cost

            batch_cost(batch, fmt, clouds)
            return
        if serving is None:
            given = [
                n
                for n, v in (
                    ("--requests", requests),
                    ("--p95-ms", p95_ms),
                    ("--profile", profile),
                    ("--chart", chart),
                )
                if v is not None
            ] + (["--region"] if region else [])
            if given:
                raise OcrkitError(f"{', '.join(given)} only apply with --serving (e.g. --serving all)")
        else:
            _serving(scenario, serving, requests, p95_ms, profile, chart, region, fmt, clouds)
            return
        comparison = price(scenario, method=method, clouds=clouds, catalogs=catalog)  # type: ignore[arg-type]
        if fmt == "json":
            sys.stdout.write(export.to_json(comparison))
        elif fmt == "csv":
            sys.stdout.write(export.to_csv(comparison))
        elif fmt == "markdown":
            sys.stdout.write(export.to_markdown(comparison))
        else:
            console = Console()
            if not console.is_terminal:
                console = Console(width=160)
            render(console, comparison)


def _serving(scenario, serving, requests, p95_ms, profile, chart, region, fmt, clouds) -> None:
    """Everything is computed (and the chart written) before anything is printed."""
    from decimal import Decimal

    from ocrkit.costing import serving_export
    from ocrkit.costing.compare import check_regions, compare, parse_options, profile_book
    from ocrkit.costing.scenario import load_scenario
    from ocrkit.costing.traffic import parse_count
    from ocrkit.errors import ConfigError

    options = parse_options(serving)
    volume = parse_count(requests) if requests is not None else None
    regions = check_regions(region)
    book = profile_book(profile)
    loaded = load_scenario(scenario)
    traffic = loaded.scenario.traffic
    if traffic is None:
        raise ConfigError(
            loaded.path,
            "traffic",
            "this scenario has no traffic section for --serving",
            hint="add one like configs/scenarios/baseline.yaml's",
        )
    hours = loaded.scenario.hours_per_month
    if volume is not None:
        traffic = traffic.with_requests(volume, hours)
    if p95_ms is not None:
        traffic = traffic.with_p95(Decimal(str(p95_ms)))
    result = compare(loaded, traffic, options=options, regions=regions, profiles=book, clouds=tuple(clouds))
    if chart is not None:
        from ocrkit.costing.chart import write_chart

        write_chart(result, chart)
    if fmt == "json":
        sys.stdout.write(serving_export.to_json(result))
    elif fmt == "csv":
        sys.stdout.write(serving_export.to_csv(result))
    elif fmt == "markdown":
        sys.stdout.write(serving_export.to_markdown(result))
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
        _render_serving(console, result, chart)


def _render_serving(console: Console, c, chart) -> None:
    from ocrkit.costing.compare import label
    from ocrkit.costing.results import money

    t = c.traffic
    head = [
        Text.assemble(("Scenario ", "dim"), (c.scenario, "bold"), f"  {c.title}"),
        Text.assemble(
            ("Traffic  ", "dim"),
            f"{t.requests_per_month:,.0f} requests a month, peak "
            f"{t.peak(c.hours):.2f}/s, p95 target {t.p95_ms:,.0f} ms, {t.payload_kb:f} KB a request, "
            f"the {t.model} model",
        ),
        Text.assemble(
            ("Prices   ", "dim"),
            ", ".join(f"{k.upper()} {v.region}" for k, v in c.catalogs.items()),
            f"; entries dated {c.price_dates()}",
        ),
    ]
    console.print(Panel(Group(*head), title="ocrkit cost --serving", title_align="left", expand=False))
    table = Table(title="Serving options, monthly USD", title_justify="left")
    for col, just in (
        ("Cloud", "left"),
        ("Option", "left"),
        ("Config", "left"),
        ("On demand", "right"),
        ("1-yr", "right"),
        ("3-yr", "right"),
        ("per 1,000", "right"),
        ("p95 ms", "right"),
        ("Cold start", "right"),
        ("Meets target", "left"),
    ):
        table.add_column(col, justify=just)
    best = c.recommended.get("overall")
    rows = sorted(c.quotes, key=lambda q: (q.cloud, q.monthly))
    for q in rows:
        committed = [
            export.usd(q.committed[k]) if q.committed.get(k) is not None else "-" for k in ("1yr", "3yr")
        ]
        table.add_row(
            q.cloud.upper(),
            q.option,
            q.config,
            export.usd(q.monthly),
            *committed,
            f"{money(q.per_1000(t.requests_per_month) * 100) / 100}",
            f"{q.p95_ms:,.0f}",
            f"{q.cold_start_s:g} s" if q.cold_start_s else "-",
            "yes" if q.meets_slo else "NO",
            style="bold green" if q is best else None,
        )
    console.print(table)
    for q in rows:
        console.print(Text(f"Limits of {label(q)}: {q.limits}", style="dim"))
    for u in c.unpriced:
        console.print(Text(f"Not priced: {label(u)} in {u.region}: {u.reason}", style="dim"))
    for u in c.gaps:
        console.print(Text(f"Not priced: {label(u)} {u.config} in {u.region}: {u.reason}", style="dim"))
    lines = []
    for key, q in c.recommended.items():
        what = "overall" if key == "overall" else key.upper()
        lines.append(
            f"Recommended ({what}): "
            + (f"{label(q)}, {q.config}, ${money(q.monthly)} a month" if q else "none meets the target")
        )
    for b in c.break_even:
        lines.append(f"Break-even: {b.a} = {b.b} at {b.requests_per_month:,.0f} requests a month")
    for cloud, u in c.utilisation.items():
        lines.append(
            f"Finding: the report's GPU endpoint on {cloud.upper()} is busy {u:.2%} of its "
            f"{c.hours:f} billed hours at this traffic (idle {1 - u:.2%})"
        )
    for line in lines:
        console.print(line)
    for q in sorted(c.quotes, key=lambda q: (q.cloud, q.monthly)):
        console.print(Text(f"{label(q)}: " + "; ".join(q.notes), style="dim"))
    for note in c.notes:
        console.print(Text(f"Assumption: {note}", style="italic"))
    if chart is not None:
        console.print(f"Chart written: {chart}")


# -- the table view ---------------------------------------------------------------------------------------


def render(console: Console, comparison: Comparison) -> None:
    console.print(_header(comparison))
    console.print(_summary(comparison))
    for budget in comparison.budgets.values():
        console.print(_lines_table(budget))
        footnotes = _footnotes(budget)
        if footnotes:
            console.print(footnotes)
    console.print(_findings(comparison))
    for note in comparison.notes:
        console.print(Text(f"Note: {note}", style="dim"))


def _header(comparison: Comparison) -> Panel:
    lines = [
        Text.assemble(("Scenario ", "dim"), (comparison.scenario, "bold"), f"  {comparison.title}"),
        Text.assemble(("Method   ", "dim"), export.METHOD_WORDS[comparison.method]),
    ]
    for budget in comparison.budgets.values():
        info = budget.catalog
        lines.append(
            Text.assemble(
                (f"{budget.label} prices ".ljust(11), "dim"),
                f"{info.region}, as of ",
                (info.as_of, "bold"),
                f"  ({info.path}; entries dated {info.oldest_entry} to {info.newest_entry})",
            )
        )
    return Panel(Group(*lines), title="ocrkit cost", title_align="left", expand=False)


def _summary(comparison: Comparison) -> Table:
    clouds = list(comparison.budgets)
    table = Table(title="Monthly totals, USD", title_justify="left", show_lines=False)
    table.add_column("Plan")
    for cloud in clouds:
        table.add_column(CLOUD_LABELS[cloud], justify="right")
    if len(clouds) > 1:
        table.add_column("Cheaper")
        table.add_column("By", justify="right")
    report_clouds = [c for c in clouds if c in comparison.report_totals]
    for cloud in report_clouds:
        table.add_column(f"Report {CLOUD_LABELS[cloud]}", justify="right", style="dim")
    for row in comparison.comparisons():
        cells: list[Text | str] = [PLAN_LABELS[row.plan]]
        for cloud in clouds:
            value = export.usd(row.totals.get(cloud)) if cloud in row.totals else "-"
            cells.append(Text(value, style="bold green") if row.cheaper == cloud else value)
        if len(clouds) > 1:
            cells.append(Text(CLOUD_LABELS[row.cheaper], style="bold green") if row.cheaper else "same")
            cells.append(export.usd(row.difference))
        for cloud in report_clouds:
            cells.append(export.usd(comparison.report_totals[cloud].get(row.plan)) or "-")
        table.add_row(*cells)
    return table


def _lines_table(budget) -> Table:
    plans = list(budget.plans)
    table = Table(
        title=f"{budget.label} line items ({budget.region})", title_justify="left", show_lines=False
    )
    table.add_column("Service", style="bold")
    table.add_column("Item", overflow="fold", max_width=54)
    table.add_column("Quantity", justify="right")
    table.add_column("Unit price", justify="right")
    for plan in plans:
        table.add_column(export.PLAN_SHORT[plan], justify="right")
    table.add_column("Basis")
    table.add_column("Notes", style="dim")
    notes: list[str] = []
    previous = None
    for row in export.line_rows(budget):
        refs = " ".join(_ref(notes, n) for n in row.notes)
        costs = [export.usd(row.costs[p]) if row.costs.get(p) is not None else "-" for p in plans]
        if not row.in_total:
            costs = [f"({c})" for c in costs]
        style = "dim" if not row.in_total else ("yellow" if row.basis.startswith("quoted") else None)
        table.add_row(
            row.service if row.service != previous else "",
            row.item,
            row.quantity,
            row.unit_price,
            *costs,
            row.basis,
            refs,
            style=style,
        )
        previous = row.service
    table.add_section()
    table.add_row(
        "Total", "", "", "", *(Text(export.usd(budget.plans[p].total), style="bold") for p in plans), "", ""
    )
    if any(budget.plans[p].report_total is not None for p in plans):
        printed = []
        for p in plans:
            total = budget.plans[p]
            value = export.usd(total.report_total) or "-"
            differs = total.report_total is not None and export.usd(total.report_total) != export.usd(
                total.total
            )
            printed.append(Text(value, style="bold red") if differs else Text(value, style="dim"))
        table.add_row(Text("Report prints", style="dim"), "", "", "", *printed, "", "")
    return table


def _footnotes(budget) -> Text | None:
    notes: list[str] = []
    for row in export.line_rows(budget):
        for note in row.notes:
            _ref(notes, note)
    if not notes:
        return None
    text = Text()
    for i, note in enumerate(notes, 1):
        text.append(f"[{i}] ", style="dim")
        text.append(note + "\n", style="dim" if not note.startswith("assumption") else "italic")
    return text


def _ref(notes: list[str], note: str) -> str:
    if note not in notes:
        notes.append(note)
    return f"[{notes.index(note) + 1}]"


def _findings(comparison: Comparison) -> Table | Text:
    if not comparison.findings:
        return Text("Findings: none.", style="green")
    what = (
        "where the report's figures differ from the published prices and rules"
        if comparison.method == "list"
        else "where the report's own figures do not add up or are not derived"
    )
    table = Table(
        title=f"Findings ({len(comparison.findings)}): {what}",
        title_justify="left",
        show_lines=True,
        expand=True,
    )
    table.add_column("Cloud")
    table.add_column("Plan")
    table.add_column("Service", style="bold")
    table.add_column("Report", justify="right")
    table.add_column("ocrkit", justify="right")
    table.add_column("Diff", justify="right")
    table.add_column("Reason", ratio=1, overflow="fold")
    priced = comparison.plans()
    for g in export.finding_groups(comparison.findings):
        diff = g.difference
        diff_text = (
            Text(export.usd(diff), style="red" if diff and diff > 0 else "green") if diff is not None else ""
        )
        table.add_row(
            CLOUD_LABELS[g.cloud],
            g.plan_words(priced),
            g.service,
            export.usd(g.report),
            export.usd(g.computed),
            diff_text,
            g.reason,
        )
    return table
