"""The shipped demo checkpoint and sample images, and a predictor wrapper that counts model calls."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "ocrkit" / "assets" / "samples"
DEMO = SAMPLES.parent / "demo-ocr.pt"


def samples() -> list[tuple[str, bytes, str]]:
    """(file name, bytes, the text written on it) for each shipped sample, in labels.tsv order."""
    rows = (SAMPLES / "labels.tsv").read_text(encoding="utf-8").splitlines()
    return [(n, (SAMPLES / n).read_bytes(), label) for n, label in (r.split("\t") for r in rows if r)]


class Counting:
    """The loaded predictor, counting the calls that reach the model (and how many images each had)."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, []

    def predict_images(self, images):
        self.calls.append(len(images))
        return self.inner.predict_images(images)
