"""Copy a run's compact checkpoint into ocrkit/assets/demo-ocr.pt with its provenance and scores.

The shipped file is what `ocrkit train --fp16-export` wrote (fp16, without the derivable position
tables) plus a ``provenance`` string (how it was made) and ``scores`` (what `ocrkit eval --format
json` measured on freshly generated test splits), so `torch.load` on the file tells where it came
from. It refuses a checkpoint that is not the compact form or is over the 30 MB budget.

Usage: python scripts/ship_demo_checkpoint.py RUN/best-fp16.pt --provenance TEXT
           --scores seen=EVAL_SEEN.json --scores unseen=EVAL_UNSEEN.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from ocrkit.core_model.checkpoint import DERIVED_BUFFERS, load_checkpoint
from ocrkit.core_model.train import atomic_save
from ocrkit.weights import shipped_weights_path

MAX_BYTES = 30_000_000
SCORE_KEYS = ("count", "char_accuracy", "word_accuracy", "cer", "wer")


def read_scores(specs: list[str]) -> dict[str, dict[str, float]]:
    scores = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        scores[name] = {k: report[k] for k in SCORE_KEYS}
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a run's best-fp16.pt")
    parser.add_argument("--provenance", required=True, help="how the checkpoint was made")
    parser.add_argument(
        "--scores", action="append", default=[], help="NAME=eval.json (ocrkit eval --format json)"
    )
    parser.add_argument("--out", type=Path, default=shipped_weights_path())
    args = parser.parse_args()

    raw = torch.load(args.source, map_location="cpu", weights_only=True)
    if raw.get("omitted_buffers") != list(DERIVED_BUFFERS):
        sys.exit(f"{args.source} is not a compact export (use the run's best-fp16.pt)")
    raw["provenance"] = args.provenance
    raw["scores"] = read_scores(args.scores)
    # Staged beside the target: the shipped model is replaced only by a file that passed both checks.
    staged = atomic_save(raw, args.out.with_name(f".{args.out.name}.staged"))
    try:
        size = staged.stat().st_size
        if size >= MAX_BYTES:
            sys.exit(f"{args.source} makes a {size:,}-byte file, over the {MAX_BYTES:,}-byte budget")
        load_checkpoint(staged)  # loads strictly, or raises
        os.replace(staged, args.out)
    finally:
        staged.unlink(missing_ok=True)
    print(f"wrote {args.out} ({size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
