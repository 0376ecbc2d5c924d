"""Handwriting fonts from the font cache (`ocrkit fonts`, `make fonts`) and `ocrkit synth --style pen`."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest

from ocrkit.errors import OcrkitError
from ocrkit.synth import SynthConfig, find_fonts, font_cache, generate_dataset
from ocrkit.synth.fonts import DEFAULT_FAMILIES, DOWNLOADED_FAMILIES
from ocrkit.synth.generate import MANIFEST
from ocrkit.synth.render import render_sample
from tests.cli import run

TRAIN_HAND = "marck-script"
HELD_OUT = "neucha"


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(font_cache.CACHE_ENV, str(tmp_path / "no-fonts-here"))
    return tmp_path / "no-fonts-here"


@pytest.fixture(scope="module")
def hand_fonts():
    scan = find_fonts([TRAIN_HAND, HELD_OUT])
    if {f.family for f in scan.faces} != {TRAIN_HAND, HELD_OUT}:
        pytest.skip("handwriting fonts not in the font cache (`make fonts`)")
    return {f.family: f for f in scan.faces}


def test_downloaded_families_are_not_in_the_default_set():
    # the default set (and so the README's old seed-2 splits) stays the Debian fonts
    assert set(DOWNLOADED_FAMILIES) == {p.family for p in font_cache.PACKAGES}
    assert not set(DOWNLOADED_FAMILIES) & set(DEFAULT_FAMILIES)
    assert {f.family for f in find_fonts().faces} <= set(DEFAULT_FAMILIES)


def test_synth_names_the_missing_handwriting_fonts(tmp_path, empty_cache):
    config = SynthConfig(out=tmp_path / "d", count=2, fonts=[TRAIN_HAND], unseen_fonts=[HELD_OUT])
    with pytest.raises(OcrkitError, match=f"handwriting fonts missing: {TRAIN_HAND}, {HELD_OUT}.*make fonts"):
        generate_dataset(config)
    assert not (tmp_path / "d").exists()


def test_cli_fonts_lists_what_is_missing(capsys, empty_cache):
    code, out, err = run(capsys, "fonts", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["cache"] == str(empty_cache)
    assert [r["family"] for r in data["fonts"]] == list(DOWNLOADED_FAMILIES)
    assert not any(r["installed"] for r in data["fonts"])
    code, out, err = run(capsys, "fonts")
    assert code == 0 and "missing:" in err and "make fonts" in err


def test_fetch_refuses_a_tarball_that_is_not_the_pinned_one(monkeypatch):
    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(font_cache.urllib.request, "urlopen", lambda url, timeout: Response(b"not a font"))
    package = font_cache.BY_FAMILY[TRAIN_HAND]
    with pytest.raises(OcrkitError, match="is not the pinned"):
        font_cache.fetch(package)
    good = font_cache.FontPackage(
        package.family, package.version, hashlib.sha256(b"not a font").hexdigest(), "x"
    )
    assert font_cache.fetch(good) == b"not a font"


def test_pen_style_is_deterministic_by_seed_and_differs_from_scan(hand_fonts):
    face = hand_fonts[TRAIN_HAND]
    a = render_sample("тетрадь где", face, 11, style="pen")
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert np.array_equal(a, render_sample("тетрадь где", face, 11, style="pen"))
    assert not np.array_equal(a, render_sample("тетрадь где", face, 12, style="pen"))
    # the pen effects come on top: over a few seeds some image differs from its scan twin
    assert any(
        not np.array_equal(render_sample("дом", face, s, style="pen"), render_sample("дом", face, s))
        for s in range(5)
    )


def test_synth_with_handwriting_fonts_keeps_the_held_out_face_out(tmp_path, hand_fonts):
    config = SynthConfig(
        out=tmp_path / "d",
        count=12,
        test_count=4,
        unseen_count=4,
        seed=3,
        fonts=[TRAIN_HAND],
        unseen_fonts=[HELD_OUT],
        style="pen",
    )
    summary = generate_dataset(config)
    assert summary.seen_fonts == [TRAIN_HAND] and summary.unseen_fonts == [HELD_OUT]
    assert summary.missing_fonts == []
    rows = [json.loads(line) for line in (tmp_path / "d" / MANIFEST).read_text(encoding="utf-8").splitlines()]
    assert {r["font_family"] for r in rows if r["split"] == "test_unseen"} == {HELD_OUT}
    assert {r["font_family"] for r in rows if r["split"] != "test_unseen"} == {TRAIN_HAND}
    assert {r["style"] for r in rows} == {"pen"}
    again = generate_dataset(SynthConfig(**{**config.__dict__, "out": tmp_path / "e"}))
    assert again.counts == summary.counts
    for split in ("train", "test_unseen"):
        for p in sorted((tmp_path / "d" / split).iterdir()):
            assert p.read_bytes() == (tmp_path / "e" / split / p.name).read_bytes()
