"""`ocrkit serve` (the local endpoint, in the foreground) and `ocrkit loadtest` (measure an endpoint).

`serve` runs the production stack of `ocrkit.server.production` (gunicorn embedded, gthread workers, the
model server with the web page, /metrics, admission control and JSON request logs). `ocrkit deploy
--cloud local` starts the same thing in the background. Neither command imports torch here: the model
loads inside each gunicorn worker.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ocrkit.commands.choices import LogLevel, complete_device
from ocrkit.commands.output import OutputFormat
from ocrkit.commands.output import flow as _flow
from ocrkit.commands.output import stderr as _stderr
from ocrkit.commands.output import stdout as _stdout
from ocrkit.engine import Engine
from ocrkit.errors import OcrkitError
from ocrkit.extras import require
from ocrkit.weights import WEIGHTS_ENV

_SERVE_HELP = """\
Serve the OCR model on this machine: the same endpoint that AWS and GCP run.

One HTTP service (gunicorn, gthread workers) answers the gateway contract at POST /predict (raw image,
base64 JSON or {"url": ...}), the SageMaker container contract (GET /ping, POST /invocations), the Vertex
AI routes, GET /healthz, Prometheus metrics at GET /metrics, and a web page at GET /.

Each worker admits at most --max-inflight prediction requests at once; more get 503 with Retry-After.
Each request has --timeout seconds (then 504). With --batching (the default) concurrent requests are
read together by the batched decoder (up to --max-batch images, waiting at most --max-wait-ms for
company). One JSON log line per request goes to stderr (never the image or its text).

Example: ocrkit serve --weights model.pt --port 8080, then
curl --location http://127.0.0.1:8080/predict --header 'Content-Type: image/png' --data-binary '@test.png'
"""

_LOADTEST_HELP = """\
Load-test an endpoint: throughput, latency percentiles and errors at 1, 8 and 32 concurrent clients.

Each client sends the image, waits for the answer and sends it again (closed loop), for --duration
seconds per concurrency level; every request gives up after --timeout seconds. Latency percentiles
are of the successful answers; failures are counted by HTTP status (503 = load shed, 504 = model
timeout) or as timeout / connection. Requests are not retried. After a 503 with Retry-After a client
waits as told; --ignore-retry-after sends again at once instead (a retry storm, the worst case for load
shedding).

The URL may be the server's base URL (POSTs go to /predict) or a full endpoint URL. Only endpoints on
this machine are tested unless --allow-remote is given: a load test of a cloud endpoint is billed per
request.

Example: ocrkit loadtest --url http://127.0.0.1:8080 --concurrency 1 --concurrency 8 --duration 20
"""


def default_image() -> tuple[bytes, str]:
    """The first rendered sample word (needs Pillow), as PNG bytes."""
    try:
        from ocrkit.core_model.samples import sample_images
    except ImportError:
        raise OcrkitError(
            "no --image given and the built-in sample images need Pillow", hint="pass --image line.png"
        ) from None
    try:
        sample = sample_images(1)[0]
    except ImportError:
        raise OcrkitError(
            "no --image given and the built-in sample images need Pillow", hint="pass --image line.png"
        ) from None
    return sample.png, f"rendered sample '{sample.label}'"


def image_content_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return "application/octet-stream"


def register(app: typer.Typer) -> None:
    @app.command("serve", help=_flow(_SERVE_HELP))
    def serve_cmd(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: all)."),
        port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to listen on (0: any free)."),
        weights: Path | None = typer.Option(
            None,
            "--weights",
            help=f"Model checkpoint (.pt). Default: ${WEIGHTS_ENV}, else the demo checkpoint shipped with "
            "ocrkit. The report's model.pt loads as is.",
            show_default=False,
        ),
        workers: int = typer.Option(
            1, "--workers", min=1, help="Worker processes, each with its own copy of the model."
        ),
        threads: int | None = typer.Option(
            None,
            "--threads",
            min=2,
            help="Threads per worker. Default: --max-inflight + 8 (spare threads answer health checks "
            "and 503s while the model is busy).",
            show_default=False,
        ),
        max_inflight: int = typer.Option(
            32,
            "--max-inflight",
            min=1,
            help="Prediction requests a worker admits at once (in the model or waiting for it); "
            "more are answered 503 with Retry-After.",
        ),
        timeout: float | None = typer.Option(
            None,
            "--timeout",
            min=0.1,
            help="Seconds a request may take, from arrival (then 504). Default: "
            "$OCRKIT_BACKEND_TIMEOUT_S or 25.",
            show_default=False,
        ),
        batching: bool = typer.Option(
            True, "--batching/--no-batching", help="Read concurrent requests together (dynamic batching)."
        ),
        max_batch: int = typer.Option(8, "--max-batch", min=1, help="Images per model call, at most."),
        max_wait_ms: float = typer.Option(
            5.0, "--max-wait-ms", min=0.0, help="How long a batch waits for more requests."
        ),
        device: str = typer.Option(
            "auto",
            "--device",
            help="auto (CUDA when present), cpu, cuda or cuda:N.",
            autocompletion=complete_device,
        ),
        max_len: int | None = typer.Option(
            None,
            "--max-len",
            min=1,
            max=100,
            help="Tokens read per image at most. Default: 100 (the report's). Random weights never stop "
            "early: 10 (a typical crop's text) makes their timings like a trained model's.",
            show_default=False,
        ),
        torch_threads: int | None = typer.Option(
            None,
            "--torch-threads",
            min=1,
            help="CPU threads the model uses in each worker. Default: (cores - 1) / workers, at least 1 "
            "(one core is left to accepting, refusing and answering). On a CPU shared with other work, 1 "
            "avoids threads waiting for each other.",
            show_default=False,
        ),
        engine: Engine | None = typer.Option(
            None,
            "--engine",
            case_sensitive=False,
            help="torch or onnx (the exported graphs on ONNX Runtime, no torch; --weights may be an export "
            "directory). Default: $OCRKIT_ENGINE, else torch.",
            show_default=False,
        ),
        header_timeout: float = typer.Option(
            10.0,
            "--header-timeout",
            min=0.1,
            help="Seconds a request's headers may take to arrive (then 408, connection closed).",
        ),
        body_timeout: float = typer.Option(
            30.0, "--body-timeout", min=0.1, help="Seconds a request's body may take to arrive (then 408)."
        ),
        log_level: LogLevel = typer.Option(
            LogLevel.info, "--log-level", case_sensitive=False, help="Log detail."
        ),
        name: str = typer.Option(
            "ocrkit", "--name", help='Model name reported in every answer ("model": ...) and in /healthz.'
        ),
        predictor: str | None = typer.Option(
            None,
            "--predictor",
            hidden=True,
            help="module:factory returning a Predictor, served instead of --weights (tests, custom models).",
        ),
    ) -> None:
        from ocrkit.server.preflight import check_port_free, verify_weights
        from ocrkit.server.production import ServeOptions, check_model_source, run

        require("gunicorn", "prometheus_client")
        options = ServeOptions(
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            max_inflight=max_inflight,
            timeout_s=timeout,
            batching=batching,
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            weights=str(weights) if weights is not None else None,
            device=None if device == "auto" else device,
            max_len=max_len,
            torch_threads=torch_threads,
            engine=engine.value if engine is not None else None,
            predictor=predictor,
            log_level=log_level.value,
            name=name,
            header_timeout_s=header_timeout,
            body_timeout_s=body_timeout,
        )
        check_port_free(host, port)
        source = check_model_source(options)
        if predictor is None:
            with _stderr().status("checking the model weights"):
                verify_weights(source)  # in a child process: this one stays torch-free
        err = _stderr()
        mode = f"batching up to {max_batch}" if batching else "no batching"
        err.print(
            f"ocrkit serve: {escape(source)}; {workers} worker(s), {options.worker_threads} threads each, "
            f"{max_inflight} requests admitted per worker, {mode}",
            soft_wrap=True,
        )
        shown = options.url if port else f"http://{host}:<port>"
        err.print(
            f"web page {shown}/ · POST {shown}/predict · metrics {shown}/metrics · Ctrl-C stops",
            soft_wrap=True,
        )
        run(options)

    @app.command("loadtest", help=_flow(_LOADTEST_HELP))
    def loadtest_cmd(
        url: str = typer.Option(
            ..., "--url", help="The endpoint, e.g. http://127.0.0.1:8080 or .../predict.", show_default=False
        ),
        concurrency: list[int] = typer.Option(
            [1, 8, 32], "--concurrency", "-c", min=1, max=1024, help="Concurrent clients; repeat for levels."
        ),
        duration: float = typer.Option(
            10.0, "--duration", min=0.1, max=3600.0, help="Seconds of load per concurrency level."
        ),
        image: Path | None = typer.Option(
            None,
            "--image",
            help="Image to send. Default: a rendered sample word (needs Pillow).",
            show_default=False,
        ),
        timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds before a request gives up."),
        warmup: int = typer.Option(
            2, "--warmup", min=0, help="Requests sent before measuring (waits while the model loads)."
        ),
        allow_remote: bool = typer.Option(
            False, "--allow-remote", help="Allow a URL that is not on this machine (billed per request)."
        ),
        ignore_retry_after: bool = typer.Option(
            False,
            "--ignore-retry-after",
            help="Clients resend at once after a 503 instead of waiting Retry-After (a retry storm).",
        ),
        fmt: OutputFormat = typer.Option(
            OutputFormat.table, "--format", help="A rich table, or JSON on stdout."
        ),
    ) -> None:
        from ocrkit.loadtest import parse_target, run_load, warm_up

        target = parse_target(url)
        if not target.is_loopback and not allow_remote:
            raise OcrkitError(
                f"{target.host} is not this machine; a load test of a cloud endpoint is billed per request",
                hint="pass --allow-remote to test it anyway",
            )
        if image is not None:
            try:
                body = image.read_bytes()
            except OSError as exc:
                raise OcrkitError(f"cannot read {image}: {exc.strerror or exc}") from None
            source = str(image)
        else:
            body, source = default_image()
        content_type = image_content_type(body)
        err = _stderr()
        if warmup:
            with err.status("warming up"):
                last = warm_up(
                    target.url, body, content_type=content_type, requests=warmup, timeout_s=timeout
                )
            if last is not None and not last.ok:
                err.print(f"[yellow]warning:[/] the warm-up request answered {last.key}")
        results = []
        for level in concurrency:
            with err.status(f"{level} concurrent client(s) for {duration:g} s"):
                results.append(
                    run_load(
                        target.url,
                        body,
                        content_type=content_type,
                        concurrency=level,
                        duration_s=duration,
                        timeout_s=timeout,
                        honour_retry_after=not ignore_retry_after,
                    )
                )
        if fmt is OutputFormat.json:
            doc = {
                "url": target.url,
                "image": source,
                "image_bytes": len(body),
                "retry_after": "ignored" if ignore_retry_after else "honoured",
                "results": [r.to_json() for r in results],
            }
            typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
            return
        table = Table(
            title=escape(
                f"ocrkit loadtest {target.url}: {source}, {len(body):,} bytes, {duration:g} s per level"
                + (", Retry-After ignored" if ignore_retry_after else "")
            ),
            title_justify="left",
        )
        for name in ("clients", "requests", "ok/s", "p50 ms", "p95 ms", "p99 ms", "slowest ms", "errors"):
            table.add_column(name, justify="left" if name == "errors" else "right")
        for r in results:
            lat = r.latency
            errors = ", ".join(f"{k}: {v}" for k, v in r.errors_by_status.items()) or "none"
            table.add_row(
                str(r.concurrency),
                str(r.requests),
                f"{r.throughput:.2f}",
                f"{lat.p50 * 1000:.0f}" if lat else "-",
                f"{lat.p95 * 1000:.0f}" if lat else "-",
                f"{lat.p99 * 1000:.0f}" if lat else "-",
                f"{r.latency_all_max_s * 1000:.0f}",
                escape(errors),
            )
        _stdout().print(table)
