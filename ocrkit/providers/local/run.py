"""`python -m ocrkit.providers.local.run`: the local endpoint's process (what `ocrkit deploy --cloud local`
starts in the background, detached, with its output in `.ocrkit/logs/`).

It serves exactly what `ocrkit serve` serves (gunicorn + the model server; see
`ocrkit.server.production`). `--name` is carried on the command line so that `ocrkit teardown
--cloud local` can find the process by its name when the state file is lost, the way the cloud
targets find resources by their tags.
"""

from __future__ import annotations

import argparse
import sys

from ocrkit.errors import OcrkitError
from ocrkit.server.production import ServeOptions, check_model_source, run

MODULE = "ocrkit.providers.local.run"


def parse_args(argv: list[str]) -> ServeOptions:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="ocrkit")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--predictor", default=None, help="module:factory returning a Predictor")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-inflight", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--batching", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--quantize", default="none")
    parser.add_argument("--max-len", type=int, default=None)
    parser.add_argument("--torch-threads", type=int, default=None)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    return ServeOptions(
        name=args.name,
        host=args.host,
        port=args.port,
        weights=args.weights,
        predictor=args.predictor,
        workers=args.workers,
        threads=args.threads,
        max_inflight=args.max_inflight,
        timeout_s=args.timeout,
        batching=args.batching,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        device=args.device,
        quantize=args.quantize,
        max_len=args.max_len,
        torch_threads=args.torch_threads,
        log_level=args.log_level,
    )


def command_line(options: ServeOptions, python: str = sys.executable) -> list[str]:
    """The argv that starts `options` as a process (the inverse of `parse_args`)."""
    argv = [python, "-m", MODULE, "--name", options.name, "--host", options.host, "--port", str(options.port)]
    if options.weights:
        argv += ["--weights", str(options.weights)]
    if options.predictor:
        argv += ["--predictor", options.predictor]
    argv += ["--workers", str(options.workers), "--max-inflight", str(options.max_inflight)]
    if options.threads is not None:
        argv += ["--threads", str(options.threads)]
    if options.timeout_s is not None:
        argv += ["--timeout", f"{options.timeout_s:g}"]
    argv += ["--batching" if options.batching else "--no-batching"]
    argv += ["--max-batch", str(options.max_batch), "--max-wait-ms", f"{options.max_wait_ms:g}"]
    if options.device:
        argv += ["--device", options.device]
    if options.quantize != "none":
        argv += ["--quantize", options.quantize]
    if options.max_len is not None:
        argv += ["--max-len", str(options.max_len)]
    if options.torch_threads is not None:
        argv += ["--torch-threads", str(options.torch_threads)]
    argv += ["--log-level", options.log_level]
    return argv


def main(argv: list[str] | None = None) -> None:
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
        check_model_source(options)
        run(options)  # inside: a missing serve extra (gunicorn) is one line naming it, not a traceback
    except OcrkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:
        print(f"error: the local endpoint needs {exc.name}: pip install 'ocrkit[serve]'", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
