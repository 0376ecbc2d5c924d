"""An export directory is read strictly: any problem is one OcrkitError line naming it."""

from __future__ import annotations

import json
import shutil

import pytest

from ocrkit import __version__
from ocrkit.engine.manifest import DECODER_FILE, ENCODER_FILE, MANIFEST_FILE, read_manifest
from ocrkit.errors import OcrkitError


@pytest.fixture
def export_copy(demo_export, tmp_path):
    out = tmp_path / "export"
    shutil.copytree(demo_export, out)
    return out


def _edit(directory, **changes):
    path = directory / MANIFEST_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_reads_a_fresh_export(demo_export):
    m = read_manifest(demo_export)
    assert m.architecture.describe() == "resnet18 / hidden 256 / 1+1 layers / 4 heads"
    assert len(m.alphabet) == 92 and (m.pad, m.sos, m.eos) == (0, 1, 91)
    assert m.preprocessing["height"] == 64 and m.preprocessing["width"] == 256
    assert len(m.source_sha256) == 64 and set(m.graphs) == {ENCODER_FILE, DECODER_FILE}
    assert m.max_len == 100


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ocrkit_version": "0.0.1"}, "exported by ocrkit 0.0.1"),
        ({"format_version": 99}, "format 99"),
        ({"kind": "something-else"}, "not an ocrkit ONNX export manifest"),
        ({"alphabet": ["a", "b"]}, "alphabet differs"),
    ],
)
def test_refuses_other_versions_and_alphabets(export_copy, change, message):
    _edit(export_copy, **change)
    with pytest.raises(OcrkitError, match=message):
        read_manifest(export_copy)


def test_missing_graph_and_missing_manifest(export_copy, tmp_path):
    (export_copy / DECODER_FILE).unlink()
    with pytest.raises(OcrkitError, match="decoder_step.onnx is missing"):
        read_manifest(export_copy)
    (tmp_path / "empty").mkdir()
    with pytest.raises(OcrkitError, match="not an ONNX export directory"):
        read_manifest(tmp_path / "empty")
    with pytest.raises(OcrkitError, match="not an ONNX export directory"):
        read_manifest(tmp_path / "nowhere")


def test_damaged_manifest(export_copy):
    (export_copy / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(OcrkitError, match="unreadable manifest"):
        read_manifest(export_copy)
    (export_copy / MANIFEST_FILE).write_text(
        json.dumps({"kind": "ocrkit-onnx-export", "format_version": 1, "ocrkit_version": __version__}),
        encoding="utf-8",
    )
    with pytest.raises(OcrkitError, match="malformed manifest"):
        read_manifest(export_copy)


def test_a_corrupt_graph_is_one_line(export_copy):
    from ocrkit.engine.onnx_runtime import OnnxPredictor

    (export_copy / ENCODER_FILE).write_bytes(b"\x00garbage" * 10)
    with pytest.raises(OcrkitError, match="ONNX Runtime cannot load the graphs"):
        OnnxPredictor(export_copy)
