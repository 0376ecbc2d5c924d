"""Copy a run's compact checkpoint into ocrkit/assets/demo-ocr.pt with its provenance and scores.

The shipped file is what `ocrkit train --fp16-export` wrote (fp16, without the derivable position
tables) plus a ``provenance`` string (how it was made) and ``scores`` (what `ocrkit eval --format
json` measured on freshly generated test splits), so `torch.load` on the file tells where it came
from. It refuses a checkpoint that is not the compact form, is over the 30 MB budget, or regresses:
every split given with --scores needs the same split measured with the shipped checkpoint
(--baseline, on the same images); the new one must not lose more than --tolerance character
accuracy on any of them, and must be strictly better on each --improve split.

Usage: python scripts/ship_demo_checkpoint.py RUN/best-fp16.pt --provenance TEXT
           --scores seen=EVAL_SEEN.json --baseline seen=BEFORE_SEEN.json ...
           --improve handwriting [--tolerance 0.005]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SCORE_KEYS = ("count", "char_accuracy", "word_accuracy", "cer", "wer")
MAX_BYTES = 30_000_000
TOLERANCE = 0.005


def read_report(spec: str) -> tuple[str, dict]:
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        sys.exit(f"expected NAME=eval.json, got {spec!r}")
    return name, json.loads(Path(path).read_text(encoding="utf-8"))


def read_scores(specs: list[str]) -> dict[str, dict[str, float]]:
    return {name: {k: report[k] for k in SCORE_KEYS} for name, report in map(read_report, specs)}


def _images(report: dict) -> list[tuple[str, str]] | None:
    rows = report.get("predictions")
    return None if rows is None else sorted((r["file"], r["label"]) for r in rows)


def regressions(
    after: dict[str, dict], before: dict[str, dict], improve: list[str], tolerance: float = TOLERANCE
) -> list[str]:
    """Why the new checkpoint must not ship (empty: it may). Reports are `ocrkit eval --format json`."""
    problems = []
    for name in improve:
        if name not in after:
            problems.append(f"--improve {name}: no --scores {name}=...")
    for name, new in after.items():
        old = before.get(name)
        if old is None:
            problems.append(f"{name}: no --baseline {name}=... (the shipped checkpoint on the same images)")
            continue
        if new["count"] != old["count"] or _images(new) != _images(old):
            problems.append(f"{name}: the new and the baseline scores were not measured on the same images")
            continue
        gain = new["char_accuracy"] - old["char_accuracy"]
        if name in improve and gain <= 0:
            problems.append(
                f"{name}: character accuracy {new['char_accuracy']:.4f} is not better than the shipped "
                f"checkpoint's {old['char_accuracy']:.4f}"
            )
        elif gain < -tolerance:
            problems.append(
                f"{name}: character accuracy {new['char_accuracy']:.4f} is {-gain:.4f} below the shipped "
                f"checkpoint's {old['char_accuracy']:.4f} (allowed: {tolerance})"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a run's best-fp16.pt")
    parser.add_argument("--provenance", required=True, help="how the checkpoint was made")
    parser.add_argument(
        "--scores", action="append", default=[], help="NAME=eval.json (ocrkit eval --format json)"
    )
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        help="NAME=eval.json: the shipped checkpoint on the same images, for each --scores NAME",
    )
    parser.add_argument("--improve", action="append", default=[], help="a split that must get better")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="char accuracy a split may lose")
    parser.add_argument("--out", type=Path, default=None, help="default: ocrkit/assets/demo-ocr.pt")
    args = parser.parse_args(argv)

    if not args.scores:
        sys.exit("give at least one --scores NAME=eval.json with its --baseline")
    after = dict(map(read_report, args.scores))
    before = dict(map(read_report, args.baseline))
    problems = regressions(after, before, args.improve, args.tolerance)
    if problems:
        sys.exit("refused, the checkpoint is not shipped:\n  " + "\n  ".join(problems))

    import torch

    from ocrkit.core_model.checkpoint import DERIVED_BUFFERS, load_checkpoint
    from ocrkit.core_model.train import atomic_save
    from ocrkit.weights import shipped_weights_path

    out = args.out or shipped_weights_path()
    raw = torch.load(args.source, map_location="cpu", weights_only=True)
    if raw.get("omitted_buffers") != list(DERIVED_BUFFERS):
        sys.exit(f"{args.source} is not a compact export (use the run's best-fp16.pt)")
    raw["provenance"] = args.provenance
    raw["scores"] = {name: {k: report[k] for k in SCORE_KEYS} for name, report in after.items()}
    # Staged beside the target: the shipped model is replaced only by a file that passed both checks.
    staged = atomic_save(raw, out.with_name(f".{out.name}.staged"))
    try:
        size = staged.stat().st_size
        if size >= MAX_BYTES:
            sys.exit(f"{args.source} makes a {size:,}-byte file, over the {MAX_BYTES:,}-byte budget")
        load_checkpoint(staged)  # loads strictly, or raises
        os.replace(staged, out)
    finally:
        staged.unlink(missing_ok=True)
    print(f"wrote {out} ({size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
