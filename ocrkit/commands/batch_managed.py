"""`ocrkit batch --cloud aws|gcp`: show the managed job's plan and estimated cost, confirm, run, summarise."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ocrkit.batch.job import BatchPlan, run_batch
from ocrkit.batch.managed import estimate
from ocrkit.batch.runners.base import Runner
from ocrkit.errors import OcrkitError


def plan_doc(plan: BatchPlan, runner: Runner, quote) -> dict:
    target, config = plan.target, plan.batch_config
    assert target is not None and config is not None
    work = getattr(runner, "work", None)
    return {
        "cloud": target.cloud,
        "deployment": target.deployment,
        "model": target.model,
        "runner": runner.name,
        "job": getattr(runner, "job", None),
        "config": config.model_dump(),
        "source": plan.request.source,
        "images": plan.total,
        "already_done": plan.already_done,
        "to_run": len(plan.pending),
        "results": plan.sink.location,
        "job_files": None if work is None else str(work),
        "estimate": quote.to_json() if not isinstance(quote, str) else None,
        "not_priced": quote if isinstance(quote, str) else None,
        "access": ACCESS[target.cloud],
    }


#: what the job runs as, and what it must be allowed to touch (ocrkit does not change these grants)
ACCESS = {
    "aws": "the model's execution role reads SOURCE and writes under the results' folder: grant it both "
    "(ocrkit deploy scopes it to the model artifact)",
    "gcp": "Vertex AI's service agent reads SOURCE and writes under the results' folder: grant it both",
}


def render_plan(doc: dict, quote, console: Console) -> None:
    table = Table(title=f"ocrkit batch --cloud {doc['cloud']}: plan", title_justify="left", show_header=False)
    table.add_column("what", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_row("deployment / model", escape(f"{doc['deployment']} / {doc['model']}"))
    table.add_row("job", escape(f"{doc['runner']} {doc['job']}"))
    table.add_row("images", f"{doc['images']} ({doc['already_done']} already done, {doc['to_run']} to run)")
    table.add_row("results", escape(doc["results"]))
    table.add_row("job files", escape(str(doc["job_files"])))
    table.add_row("access", escape(doc["access"]))
    if isinstance(quote, str):
        table.add_row("estimated cost", escape(quote))
    else:
        label = " (ESTIMATE)" if quote.estimate else ""
        table.add_row("instances", escape(quote.config))
        table.add_row("estimated time", f"{quote.hours:.2f} h at {quote.images_per_s:.1f} images/s{label}")
        table.add_row("estimated cost", f"${quote.total:.2f}{label}")
        for line in quote.lines:
            derived = f"; derived: {line.derivation}" if line.derivation else ""
            per = "" if line.per == 1 else f" per {line.per:,f}"
            text = (
                f"${line.cost:.4f}: {line.item}; {line.quantity:,.3f} {line.unit} at ${line.price}{per} "
                f"({line.source}, {line.as_of}){derived}"
            )
            table.add_row(f"  {line.price_key}", escape(text))
        for note in quote.notes:
            table.add_row("  note", escape(note))
    console.print(table)


def run_managed(plan: BatchPlan, runner: Runner, *, dry_run: bool, yes: bool, as_json: bool) -> None:
    assert plan.target is not None and plan.batch_config is not None
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    err = Console(stderr=True, highlight=False)
    quote = estimate(plan.target.cloud, plan.target.region, plan.batch_config, len(plan.pending))
    doc = plan_doc(plan, runner, quote)
    if as_json and dry_run:
        typer.echo(json.dumps({"plan": doc, "started": False}, ensure_ascii=False, indent=2))
        return
    render_plan(doc, quote, err if as_json else out)
    if dry_run:
        out.print("Dry run: no job was started, nothing was written.")
        return
    if plan.pending:
        from ocrkit.commands.deploy import _confirm

        cost = "" if isinstance(quote, str) else f" Estimated ${quote.total:.2f}."
        _confirm(f"Start the {runner.name} job on {len(plan.pending)} image(s)?{cost}", yes, "start the job")
        runner.prepare()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("errors {task.fields[errors]}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task("starting the job", total=None, errors=0)

            def status(words: str, done: int | None, total: int | None) -> None:
                bar.update(task, description=escape(words))
                if total is not None:
                    bar.update(task, total=total, completed=done or 0)

            def progress(done: int, errors: int) -> None:
                bar.update(task, completed=done, errors=errors, description="reading the outputs")

            runner.status = status  # type: ignore[attr-defined]
            summary = run_batch(plan, runner, progress)
    except KeyboardInterrupt:
        err.print("interrupted: the job was stopped; run the same command again to resume", soft_wrap=True)
        raise typer.Exit(130) from None
    except OcrkitError:
        raise
    from ocrkit.commands.batch import print_summary

    print_summary(summary, as_json)
