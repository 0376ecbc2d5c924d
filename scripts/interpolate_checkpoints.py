"""Blend a fine-tuned checkpoint with the one it started from: weights = a * new + (1 - a) * old.

Weight-space ensembling of a fine-tuned model with its starting point (WiSE-FT, Wortsman et al.,
"Robust fine-tuning of zero-shot models", CVPR 2022, https://arxiv.org/abs/2109.01903) keeps much
of what the start knew while keeping most of the fine-tune's gain. Both files must be the same
architecture; the output keeps the new file's metadata (config, compact form, fp16 when the new
one is fp16) and records the blend. ``a`` is chosen on validation data, never on a test split.

Usage: python scripts/interpolate_checkpoints.py NEW.pt OLD.pt --alpha 0.7 --out BLEND.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new", type=Path)
    parser.add_argument("old", type=Path)
    parser.add_argument("--alpha", type=float, required=True, help="weight of NEW, in [0, 1]")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        sys.exit(f"--alpha must be in [0, 1], got {args.alpha}")

    import torch

    from ocrkit.core_model.train import atomic_save

    new = torch.load(args.new, map_location="cpu", weights_only=True)
    old = torch.load(args.old, map_location="cpu", weights_only=True)
    if new.get("config") != old.get("config") or new["model"].keys() != old["model"].keys():
        sys.exit("the two checkpoints are not the same architecture")
    blended = {}
    for name, tensor in new["model"].items():
        other = old["model"][name]
        if tensor.is_floating_point():
            mix = args.alpha * tensor.float() + (1.0 - args.alpha) * other.float()
            blended[name] = mix.to(tensor.dtype)
        else:  # integer buffers (batch-norm counters): the new one's
            blended[name] = tensor
    out = {k: v for k, v in new.items() if k not in ("provenance", "scores")}
    out["model"] = blended
    out["blend"] = {"alpha": args.alpha, "new": args.new.name, "old": args.old.name}
    atomic_save(out, args.out)
    print(f"wrote {args.out} (alpha {args.alpha})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
