"""`ocrkit synth`: determinism, layout, labels, the held-out font, font checks, CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ocrkit.cli import main
from ocrkit.core_model.alphabet import CHAR_TO_ID
from ocrkit.core_model.evaluate import read_labels
from ocrkit.errors import OcrkitError
from ocrkit.synth import SPLITS, SynthConfig, TextSampler, find_fonts, generate_dataset
from ocrkit.synth.fonts import FAMILY_NAMES, missing_glyphs
from ocrkit.synth.generate import MANIFEST, SAMPLE_TEXTS, write_samples
from ocrkit.synth.render import render_sample
from ocrkit.synth.texts import MAX_LEN, capitalize, in_alphabet


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _manifest(root):
    return [json.loads(line) for line in (root / MANIFEST).read_text(encoding="utf-8").splitlines()]


def test_layout_reads_with_the_eval_reader(tiny_dataset):
    out, summary = tiny_dataset
    assert summary.counts == {"train": 24, "test": 6, "test_unseen": 6}
    for split in SPLITS:
        items = read_labels(out / f"{split}.tsv", out / split)  # checks every file exists
        assert len(items) == summary.counts[split]
        assert {p.name for p in (out / split).iterdir()} == {i.filename for i in items}


def test_labels_use_only_the_alphabet(tiny_dataset):
    out, _ = tiny_dataset
    for row in _manifest(out):
        assert 1 <= len(row["label"]) <= MAX_LEN
        assert all(ch in CHAR_TO_ID for ch in row["label"]), row["label"]


def test_unseen_font_never_in_train_or_test(tiny_dataset):
    out, summary = tiny_dataset
    assert summary.unseen_fonts == ["liberation"]
    assert "liberation" not in summary.seen_fonts
    rows = _manifest(out)
    assert len(rows) == 36
    for row in rows:
        if row["split"] == "test_unseen":
            assert row["font_family"] == "liberation"
        else:
            assert row["font_family"] != "liberation"
    labels = {(r["split"], r["filename"]): r["label"] for r in rows}
    for split in SPLITS:
        for item in read_labels(out / f"{split}.tsv", out / split):
            assert labels[(split, item.filename)] == item.label


def test_same_seed_same_files_other_seed_other_files(tmp_path, have_fonts):
    def make(name, seed):
        out = tmp_path / name
        generate_dataset(SynthConfig(out=out, count=8, test_count=2, unseen_count=2, seed=seed))
        return _files(out)

    a, b, c = make("a", 3), make("b", 3), make("c", 4)
    assert a == b
    assert a.keys() == c.keys()
    assert a["train.tsv"] != c["train.tsv"]
    assert a["train/train_000000.png"] != c["train/train_000000.png"]


def test_an_image_depends_only_on_its_own_seed(tmp_path, have_fonts):
    small, large = tmp_path / "small", tmp_path / "large"
    generate_dataset(SynthConfig(out=small, count=3, test_count=1, unseen_count=1, seed=5))
    generate_dataset(SynthConfig(out=large, count=6, test_count=2, unseen_count=1, seed=5))
    for name in ("train_000000.png", "train_000002.png"):
        assert (small / "train" / name).read_bytes() == (large / "train" / name).read_bytes()


def test_refuses_to_overwrite_without_force(tiny_dataset):
    out, _ = tiny_dataset
    with pytest.raises(OcrkitError, match="already holds a dataset"):
        generate_dataset(SynthConfig(out=out, count=2))


def test_text_sampler_covers_the_kinds_of_crops():
    sampler = TextSampler()
    rng = np.random.default_rng(0)
    texts = [sampler.sample(rng) for _ in range(3000)]
    assert all(in_alphabet(t) and 1 <= len(t) <= MAX_LEN for t in texts)
    assert any(" " in t for t in texts)
    assert any(t[:1].isupper() for t in texts)
    assert any(t.count(".") == 2 and t.replace(".", "").isdigit() for t in texts)  # dates
    assert any("«" in t for t in texts)
    assert any(t.endswith(".") and t[-2:-1].isupper() for t in texts)  # initials
    # frequent words come up far more often than rare ones
    assert texts.count("в") + texts.count("и") > texts.count("виленского")


def test_capitals_missing_from_the_alphabet_are_avoided():
    assert capitalize("ёлка") == "ёлка"
    assert capitalize("мама") == "Мама"
    assert in_alphabet("ёж ъ ы ь") and not in_alphabet("Ё")


def test_fonts_have_the_glyphs_and_bad_fonts_are_skipped(have_fonts):
    scan = find_fonts()
    assert scan.faces
    assert [f.family for f in scan.faces] == sorted(
        (f.family for f in scan.faces), key=FAMILY_NAMES.index
    )  # handwriting-like families first
    assert not missing_glyphs(scan.faces[0].path)
    delphine = [s for s in scan.skipped if "Delphine" in s]
    if delphine:  # fonts-sjfonts' Delphine has no Cyrillic
        assert "no glyphs" in delphine[0]


def test_render_is_deterministic_and_rgb(have_fonts):
    face = find_fonts().faces[0]
    a = render_sample("Лебедевна Н. 15.09.03", face, 11)
    b = render_sample("Лебедевна Н. 15.09.03", face, 11)
    c = render_sample("Лебедевна Н. 15.09.03", face, 12)
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)
    assert a.shape[1] > a.shape[0]  # a line, wider than tall


def test_write_samples(tmp_path, have_fonts):
    rows = write_samples(tmp_path, SAMPLE_TEXTS[:3])
    items = read_labels(tmp_path / "labels.tsv", tmp_path)
    assert [i.label for i in items] == list(SAMPLE_TEXTS[:3])
    assert len({family for _, _, family in rows}) > 1


def test_cli_bad_fonts_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--out", str(tmp_path / "x"), "--fonts", "comic-sans"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown font family 'comic-sans'" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_cli_writes_the_dataset_and_reports_json(tmp_path, capsys, have_fonts):
    main(
        [
            "synth",
            "--out",
            str(tmp_path / "d"),
            "--count",
            "4",
            "--test-count",
            "2",
            "--unseen-count",
            "1",
            "--fonts",
            "dejavu,paratype",
            "--seed",
            "2",
            "--format",
            "json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"train": 4, "test": 2, "test_unseen": 1}
    assert report["seen_fonts"] == ["dejavu", "paratype"]
    assert report["unseen_fonts"] == ["liberation"]
    families = {r["font_family"] for r in _manifest(tmp_path / "d") if r["split"] != "test_unseen"}
    assert families <= {"dejavu", "paratype"}


def test_shipped_samples_are_listed_and_small():
    import ocrkit

    folder = Path(ocrkit.__file__).parent / "assets" / "samples"
    items = read_labels(folder / "labels.tsv", folder)
    assert [i.label for i in items] == list(SAMPLE_TEXTS)
    assert all(i.path.stat().st_size < 16_000 for i in items)
