"""`ocrkit batch SOURCE --out RESULTS`: read every image of a folder, glob, labels TSV or bucket.

torch and Ray are imported only when a run starts, so `ocrkit --help` works on the base install.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ocrkit.batch.formats import OutputFormat as ResultsFormat
from ocrkit.commands.choices import ManagedCloud, Runner, complete_device
from ocrkit.engine import Engine
from ocrkit.errors import OcrkitError
from ocrkit.weights import WEIGHTS_ENV, is_demo_weights

_HELP = """\
Read every image of a folder, a glob, a labels TSV or a bucket; write one row per image.

SOURCE is a folder (recursively; images are recognised by their content, not their names), a glob
in quotes ('scans/**/*.png'), a labels TSV in the Kaggle layout (test.tsv beside test/), or
s3://bucket/prefix or gs://bucket/prefix. RESULTS is a local file or a bucket object; JSONL (one
object per image: source, text, confidence, error), CSV or TSV by its extension or --format.

Rows are appended in completed chunks, so an interrupted run loses at most the chunk in flight.
Run the same command again to resume: images already in RESULTS are skipped, none is written
twice. A RESULTS written with other parameters (source, engine, weights, format) is refused unless
--overwrite. An image that cannot be read becomes a row with an error.

Example: ocrkit batch scans/ --out results.jsonl --workers 4
Example: ocrkit batch s3://archive/crops/ --out s3://archive/ocr/results.jsonl
Example: ocrkit batch scans/ --out results.csv --runner ray --address 10.0.0.5:6379

--cloud aws runs a SageMaker Batch Transform job, --cloud gcp a Vertex AI batch prediction job, on
the model `ocrkit deploy` put there (--name), with the instances of configs/batch/<cloud>.yaml. The
plan and its estimated cost are shown first; --dry-run stops there, --yes starts without asking.

Example: ocrkit batch s3://archive/crops/ --out s3://archive/ocr/ --cloud aws --dry-run
"""


class SummaryFormat(StrEnum):
    table = "table"
    json = "json"


class RateColumn(ProgressColumn):
    """Images per second so far."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} img/s")


def _flow(text: str) -> str:
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in text.strip().split("\n\n"))


def register(app: typer.Typer) -> None:
    @app.command("batch", help=_flow(_HELP))
    def batch_cmd(
        source: str = typer.Argument(
            ..., metavar="SOURCE", help="Folder, glob, labels .tsv, s3://... or gs://...", show_default=False
        ),
        out: str = typer.Option(
            ..., "--out", metavar="RESULTS", help="Results file or bucket object.", show_default=False
        ),
        fmt: ResultsFormat | None = typer.Option(
            None,
            "--format",
            case_sensitive=False,
            help="Results file format (default: RESULTS's extension).",
            show_default=False,
        ),
        engine: Engine = typer.Option(Engine.torch, "--engine", case_sensitive=False, help="torch or onnx."),
        weights: str | None = typer.Option(
            None,
            "--weights",
            help=f"Model weights. Default: ${WEIGHTS_ENV}, else the demo checkpoint shipped with ocrkit.",
            show_default=False,
        ),
        batch_size: int = typer.Option(32, "--batch-size", help="Images inferred together (one chunk)."),
        workers: int = typer.Option(
            min(4, os.cpu_count() or 1),
            "--workers",
            help="local: threads that read, decode and preprocess ahead of the model; "
            "ray: model actors (each loads the model once).",
        ),
        runner: Runner = typer.Option(
            Runner.local, "--runner", case_sensitive=False, help="local (this process) or ray (Ray Data)."
        ),
        address: str | None = typer.Option(
            None,
            "--address",
            help="Ray cluster address (host:port, ray://host:port or auto); default: a local Ray.",
            show_default=False,
        ),
        device: str | None = typer.Option(
            None,
            "--device",
            help="cpu, cuda or cuda:N (default: CUDA when available).",
            show_default=False,
            autocompletion=complete_device,
        ),
        threads: int | None = typer.Option(
            None,
            "--threads",
            help="CPU threads per model, torch or ONNX Runtime (default: the engine's choice here; CPUs / "
            "workers per Ray actor). "
            "On a busy machine 1 can be much faster than 2: measure with `ocrkit bench --threads`.",
            show_default=False,
        ),
        resume: bool = typer.Option(
            False, "--resume", help="Continue RESULTS (the default when it exists and matches this run)."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Start RESULTS again from nothing."),
        summary_fmt: SummaryFormat = typer.Option(
            SummaryFormat.table, "--summary", help="The final summary as a table or as JSON on stdout."
        ),
        cloud: ManagedCloud | None = typer.Option(
            None,
            "--cloud",
            case_sensitive=False,
            help="Run a managed job on the deployed model: aws (SageMaker Batch Transform) or gcp "
            "(Vertex AI batch prediction).",
            show_default=False,
        ),
        name: str | None = typer.Option(
            None, "--name", help="With --cloud: the deployment (default: name: in the deploy config)."
        ),
        region: str | None = typer.Option(None, "--region", help="With --cloud: the cloud region."),
        project: str | None = typer.Option(None, "--project", help="With --cloud gcp: the GCP project."),
        batch_config: Path | None = typer.Option(
            None,
            "--batch-config",
            help="With --cloud: the job's config (default configs/batch/<cloud>.yaml).",
            show_default=False,
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="With --cloud: show the plan and its cost."),
        yes: bool = typer.Option(False, "--yes", "-y", help="With --cloud: start the job without asking."),
    ) -> None:
        from ocrkit.batch.job import BatchRequest, make_plan_runner, plan_batch, run_batch

        if resume and overwrite:
            raise OcrkitError("--resume and --overwrite contradict each other: pass one")
        if cloud is None:
            given = [
                flag
                for flag, value in (
                    ("--name", name),
                    ("--region", region),
                    ("--project", project),
                    ("--batch-config", batch_config),
                    ("--dry-run", dry_run or None),
                    ("--yes", yes or None),
                )
                if value is not None
            ]
            if given:
                raise OcrkitError(f"{', '.join(given)} only apply with --cloud aws|gcp")
        request = BatchRequest(
            source=source,
            out=out,
            fmt=fmt.value if fmt is not None else None,
            engine=engine.value,
            weights=weights,
            batch_size=batch_size,
            workers=workers,
            runner=runner.value,
            address=address,
            device=device,
            threads=threads,
            overwrite=overwrite,
            cloud=cloud.value if cloud is not None else None,
            deployment=name,
            region=region,
            project=project,
            batch_config=batch_config,
        )
        err = Console(stderr=True, highlight=False)
        plan = plan_batch(request)
        run = make_plan_runner(plan)
        if request.cloud:
            from ocrkit.commands.batch_managed import run_managed

            run_managed(plan, run, dry_run=dry_run, yes=yes, as_json=summary_fmt is SummaryFormat.json)
            return
        if plan.pending:
            run.prepare()  # loads the model, joins Ray: may still refuse, before anything is written
        if is_demo_weights(plan.settings.weights):
            err.print("[dim]using the demo checkpoint shipped with ocrkit (pass --weights for your own)[/]")
        if plan.already_done:
            err.print(
                f"resuming {escape(plan.sink.location)}: {plan.already_done} of {plan.total} images "
                f"already done, {len(plan.pending)} to go"
            )
        columns = (
            TextColumn("reading"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TextColumn("errors {task.fields[errors]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        written = [0]

        def progress(done: int, errors: int) -> None:
            written[0] = done
            bar.update(task, completed=done, errors=errors)

        try:
            with Progress(*columns, console=err, transient=False) as bar:
                task = bar.add_task("batch", total=len(plan.pending), errors=0)
                summary = run_batch(plan, run, progress)
        except KeyboardInterrupt:
            err.print(
                f"interrupted: {written[0]} image(s) of this run are in {escape(plan.sink.location)}; "
                "run the same command again to resume",
                soft_wrap=True,
            )
            raise typer.Exit(130) from None

        print_summary(summary, summary_fmt is SummaryFormat.json)


def print_summary(summary, as_json: bool) -> None:
    """The end-of-run summary: a table, or JSON on stdout."""
    if as_json:
        typer.echo(json.dumps(summary.to_json(), ensure_ascii=False, indent=2))
        return
    table = Table(title="ocrkit batch", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("images", f"{summary.images}")
    if summary.already_done:
        table.add_row("already done (resumed)", f"{summary.already_done}")
    table.add_row("read this run", f"{summary.processed}")
    table.add_row("errors", f"{summary.errors}")
    table.add_row("images/s", f"{summary.images_per_s:.2f}")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    if summary.not_images:
        table.add_row("files skipped (not images)", f"{summary.not_images}")
    table.add_row("runner / engine", f"{summary.runner} / {summary.engine}")
    table.add_row("output", escape(f"{summary.output} ({summary.format})"))
    Console(highlight=False).print(table)
