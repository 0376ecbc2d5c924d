"""A tiny synthetic dataset, made once per session (a few dozen images, about a second)."""

from __future__ import annotations

import pytest

from ocrkit.synth import SynthConfig, find_fonts, generate_dataset


@pytest.fixture(scope="session")
def have_fonts() -> None:
    scan = find_fonts()
    families = {f.family for f in scan.faces}
    if "liberation" not in families or len(families) < 2:
        pytest.skip("needs Cyrillic fonts (fonts-dejavu-core, fonts-liberation, ...) installed")


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, have_fonts):
    out = tmp_path_factory.mktemp("synth") / "data"
    summary = generate_dataset(SynthConfig(out=out, count=24, test_count=6, unseen_count=6, seed=7))
    return out, summary
