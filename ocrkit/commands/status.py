"""`ocrkit status --all`: the guardrail against forgotten deployments.

Lists every ocrkit deployment found by tag / label (AWS, GCP) or running process (local), with its
serving option, $/hour now, monthly run-rate and last invocation; flags those idle longer than
--idle-hours with the exact teardown command; --fail-on-idle exits 1 when any is idle (for cron or CI).
The searching is ocrkit.deploy.survey; the verdicts ocrkit.deploy.inventory; this module only prints.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ocrkit.commands.output import OutputFormat
from ocrkit.commands.output import money as _money
from ocrkit.commands.output import stderr as _stderr
from ocrkit.deploy.inventory import IDLE, Inventory, Verdict, to_dict
from ocrkit.deploy.survey import survey

EXIT_IDLE = 1  # --fail-on-idle: at least one deployment is idle (bad input stays 2, as everywhere)

ALL_HELP = (
    "List every ocrkit deployment found by its tags / labels (AWS, GCP) or running process (local), not "
    "only those with a state file here: serving option, $/hour now, monthly run-rate, last invocation "
    "(CloudWatch Invocations; Cloud Monitoring on GCP). Deployments idle longer than --idle-hours are "
    "flagged with the exact teardown command. Read-only: with nothing deployed it makes only list calls, "
    "which cost nothing; each deployment found adds one metric read per endpoint variant or function "
    "(CloudWatch / Cloud Monitoring API requests, billed by those services beyond their free tiers). "
    "Without --cloud every cloud is tried; one without credentials is reported "
    "as not searched."
)
IDLE_HOURS_HELP = "With --all: hours without an invocation after which a deployment counts as idle."
FAIL_ON_IDLE_HELP = (
    f"With --all: exit {EXIT_IDLE} (one summary line on stderr) when any deployment is idle; for cron or CI."
)
VERDICT_STYLE = {"idle": "bold red", "active": "green", "unknown": "yellow"}


def _ago(now: datetime, when: datetime | None) -> str:
    if when is None:
        return "—"
    hours = max((now - when).total_seconds(), 0) / 3600
    age = f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.1f} d ago"
    return f"{when.strftime('%Y-%m-%d %H:%M')} ({age})"


def _verdict_cell(verdict: Verdict) -> str:
    words = verdict.state
    if verdict.state == IDLE and verdict.idle_hours is not None:
        words += f" {'over ' if verdict.at_least else ''}{verdict.idle_hours:.1f} h"
    elif verdict.state == IDLE:
        words += " (left-overs)"
    return f"[{VERDICT_STYLE[verdict.state]}]{words}[/]"


def render(inventory: Inventory, console: Console) -> None:
    rows = inventory.verdicts()
    if not rows:
        console.print("No ocrkit deployment found.")
    else:
        table = Table(
            title=f"ocrkit deployments (idle after {inventory.idle_hours:g} h without an invocation; "
            "times UTC)",
            title_justify="left",
        )
        for column in ("where", "name", "serving", "running", "$/hour", "$/month", "last invocation"):
            table.add_column(column, overflow="fold", no_wrap=column in ("$/hour", "$/month"))
        table.add_column("verdict", overflow="fold")
        for dep, verdict in rows:
            last = _ago(inventory.now, dep.last_invocation)
            if dep.last_invocation is None and dep.window is not None:
                last = f"none since {dep.window.start.strftime('%Y-%m-%d')}"
            table.add_row(
                escape(f"{dep.cloud} {dep.region}"),
                escape(dep.name),
                escape(dep.serving or "none"),
                escape(dep.running),
                _money(dep.hourly, 4),
                _money(dep.monthly),
                escape(last),
                _verdict_cell(verdict),
            )
        console.print(table)
        console.print(
            f"{len(rows)} deployment(s), {_money(inventory.total_hourly(), 4)}/hour now "
            f"(about {_money(inventory.total_hourly() * 720)}/month at this rate)"
        )
    idle = inventory.idle
    if idle:
        console.print(f"[bold red]{len(idle)} idle[/] — tear down with:")
        for _, verdict in idle:
            console.print(f"  {verdict.teardown}", markup=False, soft_wrap=True)
    for dep, _ in rows:
        for note in dep.notes:
            console.print(f"[yellow]note:[/] {escape(dep.name)}: {escape(note)}", soft_wrap=True)
    for note in inventory.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    for what in inventory.not_searched:
        console.print(f"[yellow]not searched:[/] {escape(what)}", soft_wrap=True)


def run_all(
    cloud: str | None,
    region: str | None,
    idle_hours: float,
    fail_on_idle: bool,
    fmt: OutputFormat,
    console: Console,
) -> None:
    inventory = survey(cloud, region, idle_hours, datetime.now(UTC))
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(to_dict(inventory), indent=2, ensure_ascii=False))
    else:
        render(inventory, console)
    idle = [d for d, v in inventory.verdicts() if v.state == IDLE]
    if fail_on_idle and idle:
        hourly = sum((d.hourly for d in idle if d.hourly is not None), Decimal(0))
        _stderr().print(
            f"{len(idle)} idle ocrkit deployment(s) ({', '.join(d.name for d in idle)}), "
            f"{_money(hourly, 4)}/hour now; the teardown command of each is in the output",
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(EXIT_IDLE)
