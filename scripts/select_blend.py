"""Choose the blend weight (scripts/interpolate_checkpoints.py) on validation data only.

Rule, fixed before looking at any test split: among the candidate weights of the fine-tuned model
(largest first), take the first whose character accuracy on the old-font validation split stays
within --margin of the starting checkpoint's; report each candidate's score on the new-font
validation split too. Reads `ocrkit eval --format json` reports named OLD-ALPHA.json / NEW-ALPHA.json.

Usage: python scripts/select_blend.py VALDIR --alphas 1.0,0.75,0.5 [--margin 0.002]
(VALDIR holds old-start.json, plus old-<alpha>.json and new-<alpha>.json per candidate)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("valdir", type=Path)
    parser.add_argument("--alphas", default="1.0,0.75,0.5")
    parser.add_argument("--margin", type=float, default=0.002)
    args = parser.parse_args()

    def acc(name: str) -> float:
        return json.loads((args.valdir / f"{name}.json").read_text(encoding="utf-8"))["char_accuracy"]

    start = acc("old-start")
    rows = [(a, acc(f"old-{a}"), acc(f"new-{a}")) for a in args.alphas.split(",")]
    chosen = next((a for a, old, _ in rows if old >= start - args.margin), None)
    print(json.dumps({"start_old": start, "candidates": rows, "chosen": chosen}))
    return 0 if chosen is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
