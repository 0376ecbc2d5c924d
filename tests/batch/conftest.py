"""Fixtures for the batch tests: a folder of real sample crops with the awkward cases mixed in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "ocrkit" / "assets" / "samples"


def make_folder(root: Path) -> Path:
    """12 sample crops (one under a name with no extension, one in a subfolder), a truncated image
    named .png, a text file named .jpg and the labels TSV (not images by content)."""
    root.mkdir(parents=True, exist_ok=True)
    for path in sorted(SAMPLES.glob("*.jpg")):
        shutil.copy(path, root / path.name)
    (root / "sub").mkdir()
    shutil.move(root / "sample02.jpg", root / "sub" / "noext")
    (root / "trunc.png").write_bytes((SAMPLES / "sample01.jpg").read_bytes()[:120])
    (root / "notes.jpg").write_text("not an image, whatever its name says")
    shutil.copy(SAMPLES / "labels.tsv", root / "labels.tsv")
    return root


#: the sources make_folder's images have, sorted (the truncated one included: it is a PNG by content)
FOLDER_KEYS = sorted([f"sample{i:02d}.jpg" for i in range(1, 13) if i != 2] + ["sub/noext", "trunc.png"])


@pytest.fixture
def folder(tmp_path) -> Path:
    return make_folder(tmp_path / "in")


@pytest.fixture(autouse=True)
def _demo_weights(monkeypatch):
    monkeypatch.delenv("OCRKIT_WEIGHTS", raising=False)
    monkeypatch.delenv("OCRKIT_DEMO_WEIGHTS", raising=False)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
