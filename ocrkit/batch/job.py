"""A batch job from start to summary: check everything, write nothing on bad input, then run.

``plan_batch`` opens the source and the sink, lists the images, applies the reuse rule of the run
manifest and works out what is still to do -- without writing anything. ``run_batch`` prepares the
runner (the model, a Ray connection) -- still writing nothing --, then starts the sink and appends
each chunk the runner completes, and records the counts in the manifest when the run ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ocrkit.batch.cloud_target import CloudTarget
from ocrkit.batch.formats import format_for
from ocrkit.batch.managed import BatchConfig
from ocrkit.batch.manifest import Decision, Manifest, RunParams, decide, now, weights_sha256
from ocrkit.batch.records import ResultRow
from ocrkit.batch.runners import EngineSettings, Runner, make_runner
from ocrkit.batch.sinks import Sink, open_sink
from ocrkit.batch.sources import Source, open_source
from ocrkit.batch.urls import is_bucket_url, parse_bucket_url
from ocrkit.engine import parse_engine
from ocrkit.errors import OcrkitError
from ocrkit.weights import resolve_weights

#: progress(images done in this run, errors in this run)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BatchRequest:
    source: str
    out: str
    fmt: str | None = None
    engine: str = "torch"
    weights: str | Path | None = None
    batch_size: int = 32
    workers: int = 2
    runner: str = "local"
    address: str | None = None
    device: str | None = None
    threads: int | None = None
    overwrite: bool = False
    #: managed job on a cloud's batch service ("aws" | "gcp"); None: runs here (``runner``)
    cloud: str | None = None
    deployment: str | None = None  # the deployment whose model the managed job runs
    region: str | None = None
    project: str | None = None
    batch_config: Path | None = None  # configs/batch/<cloud>.yaml by default

    @property
    def results_url(self) -> str:
        """--out; for a managed job a bucket folder may be given: the results object goes in it."""
        if self.cloud and is_bucket_url(self.out) and self.out.endswith("/"):
            return f"{self.out}results.jsonl"
        return self.out


@dataclass
class BatchPlan:
    request: BatchRequest
    source: Source
    sink: Sink
    params: RunParams
    settings: EngineSettings
    decision: Decision
    total: int
    pending: list[str]
    target: CloudTarget | None = None  # the deployed model a managed job runs
    batch_config: BatchConfig | None = None

    @property
    def already_done(self) -> int:
        return self.total - len(self.pending)


@dataclass
class BatchSummary:
    source: str
    output: str
    format: str
    runner: str
    engine: str
    weights: str
    action: str
    images: int
    already_done: int
    processed: int
    errors: int
    seconds: float
    not_images: int
    completed: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "output": self.output,
            "format": self.format,
            "runner": self.runner,
            "engine": self.engine,
            "weights": self.weights,
            "action": self.action,
            "images": self.images,
            "already_done": self.already_done,
            "processed": self.processed,
            "errors": self.errors,
            "not_images_skipped": self.not_images,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 3),
            "completed": self.completed,
        }


def _check(request: BatchRequest) -> None:
    if request.workers < 1:
        raise OcrkitError(f"--workers must be at least 1 (got {request.workers})")
    if request.batch_size < 1:
        raise OcrkitError(f"--batch-size must be at least 1 (got {request.batch_size})")
    if request.threads is not None and request.threads < 1:
        raise OcrkitError(f"--threads must be at least 1 (got {request.threads})")
    if request.cloud:
        _check_managed(request)
    if is_bucket_url(request.results_url):
        url = parse_bucket_url(request.results_url)
        if not url.key or url.key.endswith("/"):
            raise OcrkitError(
                f"--out {url} names a folder, not an object",
                hint=f"name the results object, e.g. {url.scheme}://{url.bucket}/{url.key}results.jsonl",
            )
    elif Path(request.out).expanduser().is_dir():
        raise OcrkitError(f"--out {request.out} is a directory", hint="name a file, e.g. results.jsonl")


def plan_batch(request: BatchRequest) -> BatchPlan:
    """Everything that can be refused is refused here, before anything is written."""
    _check(request)
    engine = parse_engine(request.engine)
    out_text = request.results_url
    fmt = format_for(out_text, request.fmt)
    exclude = None
    if is_bucket_url(request.source) and is_bucket_url(out_text):
        src, out = parse_bucket_url(request.source), parse_bucket_url(out_text)
        if (src.scheme, src.bucket) == (out.scheme, out.bucket):
            exclude = out.key  # the results object, its parts, its manifest and job files are never inputs
    sink = open_sink(out_text, fmt)
    source = open_source(request.source, exclude_prefix=exclude)
    keys = source.keys()
    if not keys:
        more = f" ({source.skipped} file(s) that are not images)" if source.skipped else ""
        raise OcrkitError(f"{request.source} holds no images{more}")
    target, config = None, None
    if request.cloud:
        from ocrkit.batch.cloud_target import find_target
        from ocrkit.batch.managed import load_batch_config

        config = load_batch_config(request.cloud, request.batch_config)
        target = find_target(request.cloud, request.deployment, request.region, request.project)
        weights = Path(target.model)
        engine_words = f"{MANAGED_RUNNERS[request.cloud]}:{target.model}"
        digest = target.artifact_sha256 or ""
    else:
        weights = resolve_weights(request.weights)
        if not weights.exists():
            raise OcrkitError(f"weights {weights} not found")
        engine_words, digest = engine.value, weights_sha256(weights)
    params = RunParams(source=source.spec, engine=engine_words, weights_sha256=digest, format=fmt.value)
    decision = decide(
        results_exist=sink.results_exist(),
        existing=sink.read_manifest(),
        params=params,
        where=sink.location,
        overwrite=request.overwrite,
    )
    done = sink.done_sources() if decision.action == "resume" else set()
    pending = [k for k in keys if k not in done]
    settings = EngineSettings(
        engine.value, weights, device=request.device, batch_size=request.batch_size, threads=request.threads
    )
    return BatchPlan(request, source, sink, params, settings, decision, len(keys), pending, target, config)


def _check_managed(request: BatchRequest) -> None:
    """A managed job reads a bucket of its own cloud and writes its outputs to one."""
    scheme = {"aws": "s3", "gcp": "gs"}.get(request.cloud or "")
    if scheme is None:
        raise OcrkitError(f"--cloud {request.cloud}: managed batch runs on aws or gcp")
    if request.runner != "local" or request.address:
        raise OcrkitError("--cloud runs the cloud's batch service: leave out --runner and --address")
    for what, text in (("SOURCE", request.source), ("--out", request.out)):
        if not text.startswith(f"{scheme}://"):
            raise OcrkitError(
                f"--cloud {request.cloud}: {what} must be an {scheme}:// URL (got {text})",
                hint="the job reads and writes the cloud's own object store",
            )


#: the runner name of each cloud's managed job (also the manifest's engine words)
MANAGED_RUNNERS = {"aws": "sagemaker-transform", "gcp": "vertex-batch"}


def make_plan_runner(plan: BatchPlan) -> Runner:
    r = plan.request
    if r.cloud:
        assert plan.target is not None and plan.batch_config is not None
        results = parse_bucket_url(plan.sink.location)
        if r.cloud == "aws":
            from ocrkit.batch.runners.sagemaker_transform import SageMakerTransformRunner

            return SageMakerTransformRunner(
                plan.target.session, plan.target.deployment, plan.target.model, plan.batch_config, results
            )
        from ocrkit.batch.runners.vertex_batch import VertexBatchRunner

        return VertexBatchRunner(
            plan.target.session, plan.target.deployment, plan.target.model, plan.batch_config, results
        )
    return make_runner(r.runner, plan.settings, workers=r.workers, address=r.address)


def run_batch(plan: BatchPlan, runner: Runner, progress: Progress | None = None) -> BatchSummary:
    """Run the plan with a prepared runner (``runner.prepare()``, needed only when images are
    pending); rows reach the sink chunk by chunk. The runner is closed at the end."""
    r = plan.request
    info = {
        "weights": str(plan.settings.weights),
        "batch_size": r.batch_size,
        "workers": r.workers,
        "threads": r.threads,
        "runner": runner.name,
        "started": now(),
        "status": "running",
    }
    summary = BatchSummary(
        source=r.source,
        output=plan.sink.location,
        format=plan.params.format,
        runner=runner.name,
        engine=plan.params.engine,
        weights=str(plan.settings.weights),
        action=plan.decision.action,
        images=plan.total,
        already_done=plan.already_done,
        processed=0,
        errors=0,
        seconds=0.0,
        not_images=plan.source.skipped,
        completed=False,
    )
    if not plan.pending:
        summary.completed = True
        return summary

    started = time.perf_counter()

    def emit(rows: list[ResultRow]) -> None:
        plan.sink.append(rows)
        summary.processed += len(rows)
        summary.errors += sum(row.error is not None for row in rows)
        if progress is not None:
            progress(summary.processed, summary.errors)

    plan.sink.start(Manifest(plan.params, info), fresh=plan.decision.action != "resume")
    try:
        runner.run(plan.source, plan.pending, emit)
        summary.completed = True
    finally:
        summary.seconds = time.perf_counter() - started
        runner.close()
        plan.sink.close()
    info.update(
        status="complete",
        finished=now(),
        images=plan.total,
        rows_this_run=summary.processed,
        errors_this_run=summary.errors,
        images_per_s=round(summary.images_per_s, 3),
    )
    plan.sink.finish(Manifest(plan.params, info))
    return summary
