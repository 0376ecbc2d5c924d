"""``python -m ocrkit.engine.first_answer --engine E --weights W IMAGE``: load, read one image, print.

What a serverless function or a freshly started server does before its first answer, and nothing
else: import the engine, load the model, preprocess and decode one image. ``ocrkit bench`` times this
in a fresh process (cold start) and reads its peak memory. Prints one JSON line: the text and the
confidence. With ``--engine onnx`` nothing here imports torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident memory since exec (VmHWM; ``ru_maxrss`` would also count the
    parent's pages that a forked child held before exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    import resource  # noqa: PLC0415

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ocrkit.engine.first_answer")
    parser.add_argument("--engine", default="torch")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-len", type=int, default=None)
    parser.add_argument("image", type=Path)
    args = parser.parse_args(argv)

    from ocrkit.engine import Engine, load_predictor, parse_engine
    from ocrkit.errors import OcrkitError

    try:
        engine = parse_engine(args.engine)
        options: dict = {}
        if args.max_len:
            options["max_len"] = args.max_len
        if engine is Engine.onnx:
            options["threads"] = args.threads
        elif args.threads:
            import torch  # noqa: PLC0415 - the torch engine only

            torch.set_num_threads(args.threads)
        predictor = load_predictor(engine, args.weights, device="cpu", batch_size=1, **options)
        prediction = predictor.predict_images([args.image.read_bytes()])[0]
    except (OcrkitError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    answer = {"text": prediction.text, "confidence": prediction.confidence, "peak_rss_mb": peak_rss_mb()}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # the answer is out: skip interpreter teardown, as a function runtime would idle
