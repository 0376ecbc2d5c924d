"""`ocrkit deploy / status / invoke / teardown`: the endpoint on AWS, GCP or this machine.

The commands are provider-independent: they parse options, load the target's config
(`configs/deploy/<cloud>.yaml`, or --config), make one call to the pipeline (`ocrkit.deploy.pipeline`:
build -> plan -> sweep -> execute -> record, or discover + sweep everything for teardown) and render what
comes back: the plan as a table with the cost it is about to start, asked about before anything changes,
then progress. The state of each deployment is `.ocrkit/state/<name>-<cloud>.json`. Nothing here imports
torch or a cloud SDK at module import.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ocrkit.commands import status as status_all
from ocrkit.commands.choices import TriggerKind
from ocrkit.commands.output import FORMAT_HELP as _FORMAT_HELP
from ocrkit.commands.output import OutputFormat
from ocrkit.commands.output import flow as _flow
from ocrkit.commands.output import money as _money
from ocrkit.commands.output import stderr as _stderr
from ocrkit.commands.output import stdout as _plain_stdout
from ocrkit.deploy import pipeline
from ocrkit.deploy.plan import plan_to_dict
from ocrkit.deploy.progress import NullEvents as QuietEvents
from ocrkit.deploy.records import DeployPlan, StatusReport
from ocrkit.deploy.serving import ServingOption, check_offered
from ocrkit.deploy.state import load_state
from ocrkit.errors import OcrkitError

#: the trigger each cloud offers (`--trigger`)
TRIGGER_OF = {"aws": TriggerKind.s3, "gcp": TriggerKind.gcs}

CLOUDS = ("aws", "gcp", "local")
_PROJECT_HELP = (
    "GCP project (default: the state file's, else project: in the config, GOOGLE_CLOUD_PROJECT, ADC)."
)
ACTION_STYLE = {"create": "green", "update": "yellow", "delete": "red", "noop": "dim"}


_DEPLOY_HELP = """\
Deploy the OCR endpoint: on AWS (S3 + SageMaker endpoint + Lambda + API Gateway HTTP API), GCP, or this
machine (local).

First the plan: every resource, whether it will be created, updated or left as it is, with its key
settings, and the $/hour and monthly cost it starts (priced by the costing engine from the same config).
Then, after you confirm (or with --yes), it is applied with progress; for AWS the command waits until the
endpoint is InService and prints the URL and a ready-to-paste curl line. Running it again with the same
config changes nothing; new weights replace the model without downtime; a run that failed half-way
resumes from the state file (.ocrkit/state/NAME-CLOUD.json).

Example: ocrkit deploy --cloud aws --weights model.pt --dry-run
"""

_STATUS_HELP = """\
Show a deployment's resources and their state, the endpoint's instance count and what it costs per hour
now.

Example: ocrkit status --cloud aws --name ocrkit-ocr

With --all: every ocrkit deployment found by tags / labels, idle ones flagged (see --all below).

Example: ocrkit status --all --cloud aws --idle-hours 24 --fail-on-idle
"""

_INVOKE_HELP = """\
Send an image to a deployed endpoint (POST /predict) and print the answer.

Requests to an AWS API with auth: iam are signed with SigV4 from your AWS credentials.

Example: ocrkit invoke --cloud aws sample.png
"""

_TEARDOWN_HELP = """\
Delete everything a deployment created, in reverse order, then list what is left by tag and by name to
prove that nothing billable remains. Works from the state file, or from the tags alone when the state
file is lost. Safe to run again.

Example: ocrkit teardown --cloud aws --name ocrkit-ocr --yes
"""

_CLOUD_HELP = "Where: aws, gcp or local."
_CONFIG_HELP = "Deploy config (YAML). Default: the shipped configs/deploy/CLOUD.yaml."
_NAME_HELP = "Deployment name (default: name: in the config). Every resource is named and tagged after it."


PIPED_WIDTH = 160  # plan / status tables written to a pipe or file (no terminal to measure)


def _stdout() -> Console:
    """stdout; when it is not a terminal and $COLUMNS does not say, 160 columns instead of rich's 80, so
    that piped plan and status tables keep one row per line."""
    console = _plain_stdout()
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = PIPED_WIDTH
    return console


def _cloud(value: str) -> str:
    picked = value.strip().lower()
    if picked not in CLOUDS:
        raise OcrkitError(f"--cloud: '{value}' is not one of {', '.join(CLOUDS)}")
    return picked


def _provider(cloud: str, region: str | None, project: str | None = None) -> Any:
    from ocrkit.providers import get_provider

    if cloud == "aws":
        return get_provider(cloud, region=region)
    if cloud == "gcp":
        return get_provider(cloud, region=region, project=project)
    if region:
        raise OcrkitError(f"--region does not apply to --cloud {cloud}")
    return get_provider(cloud)


def _load(provider: Any, config: Path | None, overrides: dict[str, Any]) -> Any:
    loader = getattr(provider, "load_spec", None)
    if loader is None:
        raise OcrkitError(f"the {provider.cloud} target cannot read a deploy config")
    return loader(config, {k: v for k, v in overrides.items() if v is not None})


def _spec_of(loaded: Any) -> Any:
    return getattr(loaded, "spec", loaded)


# -- rendering ----------------------------------------------------------------------------------------


def render_plan(plan: DeployPlan, console: Console) -> None:
    if plan.switching_from:
        console.print(
            f"[bold]switching {plan.switching_from} → {plan.serving}[/] (the new path answers first)"
        )
    elif plan.serving:
        console.print(f"serving: {plan.serving}")
    table = Table(title=f"ocrkit deploy --cloud {plan.cloud}: plan for '{plan.name}'", title_justify="left")
    table.add_column("resource", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("settings", overflow="fold")
    for call in plan.calls:
        style = ACTION_STYLE.get(call.action, "")
        action = "unchanged" if call.action == "noop" else call.action
        table.add_row(escape(call.resource), escape(call.kind), f"[{style}]{action}[/]", escape(call.summary))
    console.print(table)
    counts = {a: sum(1 for c in plan.calls if c.action == a) for a in ("create", "update", "delete", "noop")}
    console.print(
        f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete, "
        f"{counts['noop']} unchanged"
    )
    if plan.hourly_cost is not None:
        monthly = "not priced" if plan.monthly_cost is None else f"about {_money(plan.monthly_cost)}/month"
        console.print(
            f"[bold]Cost:[/] {_money(plan.hourly_cost, 4)}/hour while it runs "
            f"({monthly} on demand with the expected traffic)"
        )
    if plan.switching_from:
        old = "n/a" if plan.previous_hourly is None else f"{_money(plan.previous_hourly, 4)}/hour"
        new = "n/a" if plan.hourly_cost is None else f"{_money(plan.hourly_cost, 4)}/hour"
        console.print(f"[bold]$/hour:[/] {old} ({plan.switching_from}) → {new} ({plan.serving})")
    elif plan.cloud == "local":
        console.print("[bold]Cost:[/] $0.00 (runs on this machine)")
    for warning in plan.warnings:
        console.print(f"[yellow]note:[/] {escape(warning)}", soft_wrap=True)


class RichEvents:
    """Deploy progress in the terminal: a line per step, bars for uploads, a timer for waits."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> RichEvents:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def step(self, message: str) -> None:
        self._bar.console.print(f"[cyan]>[/] {escape(message)}")

    def info(self, message: str) -> None:
        self._bar.console.print(f"  {escape(message)}", soft_wrap=True)

    def progress(self, task: str, done: int, total: int | None) -> None:
        if total is None or total == 1:
            amount = ""  # a wait: the bar pulses while the clock runs, and fills when it is over
        elif total >= 100_000:
            amount = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB"
        else:
            amount = f"{done}/{total}"
        if task not in self.tasks:
            self.tasks[task] = self._bar.add_task(task, total=total, amount=amount)
        self._bar.update(self.tasks[task], completed=0 if total is None else done, total=total, amount=amount)


def _confirm(question: str, yes: bool, what: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise OcrkitError(
            f"refusing to {what} without confirmation: there is no terminal to ask on",
            hint="pass --yes to go ahead non-interactively (or --dry-run to only see the plan)",
        )
    if not typer.confirm(question, default=False):
        raise typer.Abort()


def curl_line(url: str) -> str:
    return f"curl --location {url}/predict --header 'Content-Type: image/png' --data-binary '@sample.png'"


def _base_url(outputs: dict[str, Any]) -> str | None:
    url = outputs.get("url")
    return str(url).rstrip("/") if url else None


def render_status(report: StatusReport, console: Console) -> None:
    table = Table(title=f"ocrkit status --cloud {report.cloud}: '{report.name}'", title_justify="left")
    table.add_column("resource", no_wrap=True)
    table.add_column("id", overflow="fold")
    table.add_column("state", overflow="fold")
    for logical, rid, words in report.resources:
        table.add_row(escape(logical), escape(rid), escape(words))
    console.print(table)
    if report.url:
        console.print(f"URL: {escape(report.url)}/predict")
    if report.serving:
        console.print(f"serving: {report.serving}")
    health = "[green]healthy[/]" if report.healthy else "[red]not healthy[/]"
    cost = "n/a" if report.hourly_cost is None else f"{_money(report.hourly_cost, 4)}/hour now"
    console.print(f"{health}; cost: {cost}")


def _status_dict(report: StatusReport) -> dict[str, Any]:
    return {
        "cloud": report.cloud,
        "name": report.name,
        "url": report.url,
        "healthy": report.healthy,
        "serving": report.serving,
        "hourly_cost": None if report.hourly_cost is None else str(report.hourly_cost),
        "resources": [{"resource": r, "id": i, "state": s} for r, i, s in report.resources],
    }


def _guess_type(path: Path, data: bytes) -> str:
    from ocrkit.gateway.images import sniff

    kind = sniff(data)
    if kind in ("png", "jpeg", "webp", "tiff"):
        return f"image/{kind}"
    if path.suffix.lower() == ".json" or data.lstrip()[:1] == b"{":
        return "application/json"
    return "application/octet-stream"


# -- commands -----------------------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    @app.command("deploy", help=_flow(_DEPLOY_HELP))
    def deploy_cmd(
        cloud: str = typer.Option("aws", "--cloud", help=_CLOUD_HELP),
        config: Path | None = typer.Option(None, "--config", help=_CONFIG_HELP, show_default=False),
        name: str | None = typer.Option(None, "--name", help=_NAME_HELP, show_default=False),
        region: str | None = typer.Option(None, "--region", help="Cloud region (AWS: default AWS_REGION)."),
        weights: Path | None = typer.Option(
            None,
            "--weights",
            help="Model checkpoint (.pt). Default: weights: in the config, $OCRKIT_WEIGHTS, else the demo "
            "checkpoint shipped with ocrkit.",
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan and its cost; change nothing."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help=_FORMAT_HELP),
        project: str | None = typer.Option(
            None,
            "--project",
            help=_PROJECT_HELP,
            show_default=False,
        ),
        public: bool = typer.Option(
            False, "--public", help="GCP: let anyone call the function (default: authenticated callers only)."
        ),
        serving: ServingOption | None = typer.Option(
            None,
            "--serving",
            help="Which architecture serves the model (default: serving: in the config, else gpu-endpoint, "
            "the report's). AWS: gpu-endpoint, cpu-endpoint, serverless-endpoint, function; GCP: "
            "gpu-endpoint, cpu-endpoint, function. `ocrkit cost --serving all` compares them.",
            show_default=False,
        ),
        trigger: TriggerKind | None = typer.Option(
            None,
            "--trigger",
            help="Add the bucket-triggered batch pipeline: s3 (AWS) or gcs (GCP). An image uploaded under "
            "trigger.input_prefix (default incoming/) runs the model; <name>.txt and <name>.json land under "
            "trigger.output_prefix (results/), failures under errors/ and in a dead-letter queue (AWS) or "
            "topic (GCP). Settings: trigger: in the config.",
            show_default=False,
        ),
        adopt: bool = typer.Option(
            False,
            "--adopt",
            help="Take over same-named resources ocrkit did not make (the plan marks each ADOPT and what "
            "changes). Without it, deploy stops before any change when one is in the way.",
        ),
    ) -> None:
        cloud = _cloud(cloud)
        if (project or public) and cloud != "gcp":
            raise OcrkitError(f"--project and --public apply to --cloud gcp, not --cloud {cloud}")
        if serving is not None:
            check_offered(cloud, serving)
        if trigger is not None and TRIGGER_OF.get(cloud) != trigger:
            offered = ", ".join(f"--cloud {c} --trigger {t.value}" for c, t in TRIGGER_OF.items())
            raise OcrkitError(f"--trigger {trigger.value} does not apply to --cloud {cloud}; use {offered}")
        provider = _provider(cloud, region, project)
        if hasattr(provider, "adopt"):
            provider.adopt = adopt
        overrides = {
            "name": name,
            "region": region if cloud != "local" else None,
            "weights": str(weights.expanduser().resolve()) if weights else None,
        }
        if serving is not None:
            overrides["serving"] = serving.value
        if trigger is not None:
            overrides["trigger.enabled"] = True
        if cloud == "gcp":
            overrides.update({"project": project, "function.public": True if public else None})
        loaded = _load(provider, config, overrides)
        out = _stdout()
        doc: dict[str, Any] = {}

        def approve(plan: DeployPlan) -> bool:
            if fmt is OutputFormat.json:
                doc.update(plan=plan_to_dict(plan), applied=False)
            else:
                render_plan(plan, out)
            pipeline.refuse_foreign(plan, adopt=adopt)
            if plan.changes and not dry_run:
                cost = f" It starts {_money(plan.hourly_cost, 4)}/hour." if plan.hourly_cost else ""
                _confirm(f"Apply these {len(plan.changes)} change(s)?{cost}", yes, "deploy")
            return True

        def progress(plan: DeployPlan):
            if plan.changes and fmt is OutputFormat.table:
                return RichEvents(_stderr())
            return nullcontext(QuietEvents())  # no changes: records the values read; makes no calls

        result = pipeline.deploy(loaded, provider, progress, approve=approve, dry_run=dry_run)
        if dry_run:
            if fmt is OutputFormat.json:
                typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
            else:
                out.print("Dry run: nothing was changed.")
            return
        plan, state = result.plan, result.state
        spec = _spec_of(loaded)
        url = _base_url(state.outputs)
        if fmt is OutputFormat.json:
            doc.update(applied=True, url=url, state=str(state.path), outputs=state.outputs)
            typer.echo(json.dumps(doc, indent=2, ensure_ascii=False, default=str))
            return
        out.print("Nothing to change." if not plan.changes else f"Deployed '{spec.name}' on {cloud}.")
        out.print(f"State: {state.path}")
        if url:
            out.print(f"URL: {url}/predict")
            out.print("Try it:")
            out.print(curl_line(url), soft_wrap=True, markup=False)

    @app.command("status", help=_flow(_STATUS_HELP))
    def status_cmd(
        cloud: str | None = typer.Option(
            None, "--cloud", help=f"{_CLOUD_HELP} Default: aws; with --all, every cloud.", show_default=False
        ),
        name: str | None = typer.Option(None, "--name", help=_NAME_HELP, show_default=False),
        config: Path | None = typer.Option(None, "--config", help=_CONFIG_HELP, show_default=False),
        region: str | None = typer.Option(
            None,
            "--region",
            help="Cloud region (default: the deployment's). With --all: the region to search; 'all' for "
            "every AWS region.",
        ),
        project: str | None = typer.Option(None, "--project", help=_PROJECT_HELP, show_default=False),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help=_FORMAT_HELP),
        all_: bool = typer.Option(False, "--all", help=status_all.ALL_HELP),
        idle_hours: float = typer.Option(24.0, "--idle-hours", help=status_all.IDLE_HOURS_HELP),
        fail_on_idle: bool = typer.Option(False, "--fail-on-idle", help=status_all.FAIL_ON_IDLE_HELP),
    ) -> None:
        if all_:
            if name or config or project:
                raise OcrkitError(
                    "--all lists every deployment: it takes no --name, --config or --project (on GCP it "
                    "searches GOOGLE_CLOUD_PROJECT's project and every project a state file here names)"
                )
            picked = _cloud(cloud) if cloud else None
            return status_all.run_all(picked, region, idle_hours, fail_on_idle, fmt, _stdout())
        if fail_on_idle or idle_hours != 24.0:
            raise OcrkitError("--idle-hours and --fail-on-idle apply to status --all")
        cloud = _cloud(cloud or "aws")
        provider, state = _deployed(cloud, name, config, region, by_tags=True, project=project)
        report = provider.status(state)
        if isinstance(state, pipeline.DetachedState) and fmt is OutputFormat.table:
            _stderr().print(
                f"No state file for '{state.name}' on {cloud} here: found its resources by their tags.",
                soft_wrap=True,
            )
        if fmt is OutputFormat.json:
            typer.echo(json.dumps(_status_dict(report), indent=2, ensure_ascii=False))
        else:
            render_status(report, _stdout())

    @app.command("invoke", help=_flow(_INVOKE_HELP))
    def invoke_cmd(
        image: Path = typer.Argument(..., help="Image file to send (PNG, JPEG, WebP, TIFF) or a JSON body."),
        cloud: str = typer.Option("aws", "--cloud", help=_CLOUD_HELP),
        name: str | None = typer.Option(None, "--name", help=_NAME_HELP, show_default=False),
        config: Path | None = typer.Option(None, "--config", help=_CONFIG_HELP, show_default=False),
        region: str | None = typer.Option(None, "--region", help="Cloud region (default: the deployment's)."),
        project: str | None = typer.Option(None, "--project", help=_PROJECT_HELP, show_default=False),
        content_type: str | None = typer.Option(
            None, "--content-type", help="Content-Type to send (default: from the file's bytes)."
        ),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help=_FORMAT_HELP),
    ) -> None:
        cloud = _cloud(cloud)
        try:
            body = image.read_bytes()
        except OSError as exc:
            raise OcrkitError(f"cannot read {image}: {exc.strerror or exc}") from None
        provider, state = _deployed(cloud, name, config, region, project=project)
        result = provider.invoke(state, body, content_type or _guess_type(image, body))
        text = result.body.decode("utf-8", errors="replace")
        if fmt is OutputFormat.json:
            try:
                answer: Any = json.loads(text)
            except ValueError:
                answer = text
            doc = {"status": result.status, "latency_ms": round(result.latency_ms, 1), "answer": answer}
            typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        else:
            out = _stdout()
            style = "green" if 200 <= result.status < 300 else "red"
            out.print(f"[{style}]{result.status}[/] in {result.latency_ms:.0f} ms")
            out.print(text, markup=False, soft_wrap=True)
        if not 200 <= result.status < 300:
            raise typer.Exit(1)

    @app.command("teardown", help=_flow(_TEARDOWN_HELP))
    def teardown_cmd(
        cloud: str = typer.Option("aws", "--cloud", help=_CLOUD_HELP),
        name: str | None = typer.Option(None, "--name", help=_NAME_HELP, show_default=False),
        config: Path | None = typer.Option(None, "--config", help=_CONFIG_HELP, show_default=False),
        region: str | None = typer.Option(None, "--region", help="Cloud region (default: the deployment's)."),
        project: str | None = typer.Option(None, "--project", help=_PROJECT_HELP, show_default=False),
        yes: bool = typer.Option(False, "--yes", "-y", help="Delete without asking."),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help=_FORMAT_HELP),
    ) -> None:
        cloud = _cloud(cloud)
        provider, deployment = _target(cloud, name, config, region, project)
        state = load_state(deployment, cloud)
        err = _stderr()
        if state is None and fmt is OutputFormat.table:
            err.print(f"No state file for '{deployment}' on {cloud}: finding its resources by tag and name.")
        _confirm(f"Delete every resource of '{deployment}' on {cloud}?", yes, "tear down")
        progress = nullcontext(QuietEvents()) if fmt is OutputFormat.json else RichEvents(err)
        with progress as events:
            report = pipeline.destroy(provider, deployment, state, events)
        if fmt is OutputFormat.json:
            doc = {
                "name": deployment,
                "cloud": cloud,
                "deleted": report.deleted,
                "remaining": report.remaining,
                "left_alone": report.left_alone,
                "skipped": report.skipped,
            }
            typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        else:
            out = _stdout()
            out.print(f"Deleted {len(report.deleted)} resource(s) of '{deployment}' on {cloud}.")
            if report.left_alone:
                out.print(
                    "[yellow]Not ocrkit's, left alone[/] (same name, no tag / label of this deployment):",
                    soft_wrap=True,
                )
                for item in report.left_alone:
                    out.print(f"  {escape(item)}")
            if report.skipped:
                out.print(
                    "[yellow]Skipped[/] (a resource kind this ocrkit does not know; kept in the state file):"
                )
                for item in report.skipped:
                    out.print(f"  {escape(item)}")
            if report.remaining:
                out.print("[red]Still there:[/]")
                for item in report.remaining:
                    out.print(f"  {escape(item)}")
            elif report.skipped:
                out.print(
                    f"Nothing else of this deployment remains; check the {len(report.skipped)} skipped "
                    "resource(s) above by hand (the state file keeps them)."
                )
            elif report.left_alone:
                out.print(
                    f"Nothing of this deployment remains; the {len(report.left_alone)} resource(s) above are "
                    "someone else's and may still be billed to this account."
                )
            else:
                out.print(
                    "Nothing billable remains: a listing by tag and by name finds nothing of this deployment."
                )
        if report.remaining:
            raise typer.Exit(1)


def _target(
    cloud: str, name: str | None, config: Path | None, region: str | None, project: str | None = None
) -> tuple[Any, str]:
    """The provider and the deployment's name (--name, else the config's); the config's region, profile
    and project are used where neither the command line nor the state file says."""
    if project and cloud != "gcp":
        raise OcrkitError(f"--project applies to --cloud gcp, not --cloud {cloud}")
    provider = _provider(cloud, region, project)
    spec = _spec_of(_load(provider, config, {"name": name, "project": project}))
    if hasattr(provider, "default_region"):
        provider.default_region = getattr(spec, "region", None)
        provider.default_profile = getattr(spec, "profile", None)
    if hasattr(provider, "default_project"):
        provider.default_project = getattr(spec, "project", None)
    return provider, spec.name


def _deployed(
    cloud: str,
    name: str | None,
    config: Path | None,
    region: str | None,
    *,
    by_tags: bool = False,
    project: str | None = None,
) -> tuple[Any, Any]:
    """The deployment's state file; with `by_tags` (status), else its resources found by tag / label."""
    provider, deployment = _target(cloud, name, config, region, project)
    state = load_state(deployment, cloud)
    searched = ""
    if (state is None or not state.resources) and by_tags and cloud != "local":
        try:
            state = pipeline.find_by_tags(provider, deployment) or state
            searched = ", nothing carries its tags"
        except OcrkitError as exc:
            searched = f"; the search by tags could not run: {exc.message}"
    if state is None or not state.resources:
        raise OcrkitError(
            f"no deployment named '{deployment}' on {cloud} (no state file{searched})",
            hint=f"deploy it with ocrkit deploy --cloud {cloud} --name {deployment}",
        )
    return provider, state
