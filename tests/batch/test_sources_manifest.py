"""Sources list images by content; the manifest's reuse rule."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ocrkit.batch.manifest import Manifest, RunParams, decide, weights_sha256
from ocrkit.batch.sources import FolderSource, GlobSource, LabelsSource, open_source
from ocrkit.errors import OcrkitError
from tests.batch.conftest import FOLDER_KEYS, SAMPLES


def test_folder_is_walked_recursively_and_filtered_by_content(folder):
    source = open_source(str(folder))
    assert isinstance(source, FolderSource)
    assert source.keys() == FOLDER_KEYS  # noext included, notes.jpg and labels.tsv left out
    assert source.skipped == 2
    assert source.read("sub/noext") == (SAMPLES / "sample02.jpg").read_bytes()
    assert source.spec == str(folder.resolve())


def test_glob_keeps_images_only(folder, monkeypatch):
    monkeypatch.chdir(folder.parent)
    source = open_source("in/*.jpg")
    assert isinstance(source, GlobSource)
    assert source.keys() == [f"in/sample{i:02d}.jpg" for i in range(1, 13) if i != 2]
    assert source.skipped == 1  # notes.jpg
    assert source.spec == os.path.abspath("in/*.jpg")


def test_labels_tsv_in_the_kaggle_layout(tmp_path):
    (tmp_path / "test").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "test" / name).write_bytes((SAMPLES / "sample01.jpg").read_bytes())
    (tmp_path / "test.tsv").write_text("filename\tlabel\nb.png\tодин\na.png\tдва\nmissing.png\tтри\n")
    source = open_source(str(tmp_path / "test.tsv"))
    assert isinstance(source, LabelsSource)
    assert source.images_dir == tmp_path / "test"
    assert source.keys() == ["a.png", "b.png", "missing.png"]  # a missing file becomes an error row
    with pytest.raises(OSError):
        source.read("missing.png")


@pytest.mark.parametrize(
    ("spec", "message"),
    [("nowhere/", "no such folder or file"), ("one.jpg", "a single file is not a batch source")],
)
def test_bad_sources_are_one_clear_error(tmp_path, monkeypatch, spec, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "one.jpg").write_bytes((SAMPLES / "sample01.jpg").read_bytes())
    with pytest.raises(OcrkitError, match=message):
        open_source(spec)


PARAMS = RunParams(source="/data", engine="torch", weights_sha256="ab" * 32, format="jsonl")


def test_reuse_rule():
    assert decide(results_exist=False, existing=None, params=PARAMS, where="r", overwrite=False).action == (
        "fresh"
    )
    same = Manifest(PARAMS, {"batch_size": 8})
    assert decide(results_exist=True, existing=same, params=PARAMS, where="r", overwrite=False).action == (
        "resume"
    )
    other = Manifest(RunParams("/data", "onnx", "ab" * 32, "jsonl"))
    with pytest.raises(OcrkitError, match="engine 'onnx' \\(this run: 'torch'\\)"):
        decide(results_exist=True, existing=other, params=PARAMS, where="r", overwrite=False)
    assert decide(results_exist=True, existing=other, params=PARAMS, where="r", overwrite=True).action == (
        "overwrite"
    )
    with pytest.raises(OcrkitError, match="not written by `ocrkit batch`"):
        decide(results_exist=True, existing=None, params=PARAMS, where="r", overwrite=False)


def test_manifest_round_trip_and_garbage(tmp_path):
    m = Manifest(PARAMS, {"runner": "local"})
    assert Manifest.from_bytes(m.to_bytes(), "x").params == PARAMS
    with pytest.raises(OcrkitError, match="unreadable run manifest"):
        Manifest.from_bytes(b'{"kind": "something-else"}', "x")


def test_weights_hash_changes_with_the_content(tmp_path):
    a = tmp_path / "a.pt"
    a.write_bytes(b"one")
    first = weights_sha256(a)
    a.write_bytes(b"two")
    assert weights_sha256(a) != first
    assert weights_sha256(Path(tmp_path)) != weights_sha256(a)  # a folder (exported graphs) hashes too
