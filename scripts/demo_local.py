"""Inputs for `make demo`'s local endpoint, until a trained demo checkpoint ships.

Writes into OUT (default .ocrkit/demo):

- `untrained-resnet50.pt`: the report's architecture (ResNet50 + Transformer, hidden 512) with seeded
  random weights, labelled inside the file (`note: untrained: text is meaningless`). Its answers have
  the right shape, timing and contract; the recognised text is meaningless.
- `samples/NN.png`: three rendered Russian words (ocrkit.core_model.samples).
- `local.yaml`: a local deploy config named `untrained-demo` (every answer says `"model":
  "untrained-demo"`), reading at most 10 tokens per image: random weights never stop early, and a
  trained model reads a typical crop in about that many.

Usage: python scripts/demo_local.py [OUT]   (needs the ocrkit[model] extra: torch, Pillow)
Then:  ocrkit deploy --cloud local --config OUT/local.yaml --yes
       ocrkit invoke --cloud local --name untrained-demo OUT/samples/01.png
       ocrkit teardown --cloud local --name untrained-demo --yes
"""

from __future__ import annotations

import sys
from pathlib import Path

NOTE = "untrained: text is meaningless"
NAME = "untrained-demo"


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else ".ocrkit/demo").resolve()
    samples_dir = out / "samples"
    samples_dir.mkdir(parents=True, exist_ok=True)

    from ocrkit.core_model.bench import random_init_model
    from ocrkit.core_model.checkpoint import save_checkpoint
    from ocrkit.core_model.samples import sample_images

    weights = out / "untrained-resnet50.pt"
    if not weights.is_file():
        save_checkpoint(random_init_model(seed=0), weights, note=NOTE)
    for i, sample in enumerate(sample_images(3), start=1):
        (samples_dir / f"{i:02d}.png").write_bytes(sample.png)
    config = out / "local.yaml"
    config.write_text(
        "\n".join(
            [
                f"# make demo: the local endpoint with UNTRAINED weights ({NOTE}).",
                f"name: {NAME}",
                "host: 127.0.0.1",
                "port: 0",
                f"weights: {weights}",
                "max_len: 10",
                "start_timeout_s: 300",
                "",
            ]
        ),
        encoding="utf-8",
    )
    print(f"weights: {weights} ({NOTE})")
    print(f"samples: {samples_dir}/01.png .. 03.png")
    print(f"config:  {config} (deployment '{NAME}')")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
