"""The learning curve of an `ocrkit train` run as a PNG: validation CER and char accuracy per step.

Usage: python scripts/plot_training_curve.py RUN/train-log.json OUT.png [--title TEXT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--title", default="")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = json.loads(args.log.read_text(encoding="utf-8"))
    history = log["history"]
    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(steps, [h["val_cer"] for h in history], "o-", label="validation CER")
    ax.plot(steps, [1 - h["val_char_accuracy"] for h in history], "s--", label="1 - validation char accuracy")
    losses = [(h["step"], h["train_loss"]) for h in history if h.get("train_loss") is not None]
    if losses:
        ax2 = ax.twinx()
        ax2.plot(*zip(*losses, strict=True), ":", color="grey", label="training loss")
        ax2.set_ylabel("training loss", color="grey")
    ax.set_xlabel("step (32 images each)")
    ax.set_ylabel("error")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    ax.set_title(args.title or args.log.parent.name)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110, bbox_inches="tight")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
