"""`ocrkit predict / eval / bench` end to end, through the console-script entry (ocrkit.cli.main)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.model

torch = pytest.importorskip("torch")

from ocrkit.core_model.network import ModelConfig  # noqa: E402
from ocrkit.core_model.samples import sample_images  # noqa: E402
from ocrkit.prediction import Prediction  # noqa: E402
from tests.cli import run  # noqa: E402

TINY = ModelConfig(bb_name="resnet18", hidden=64, enc_layers=1, dec_layers=1, nhead=2)


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.delenv("OCRKIT_WEIGHTS", raising=False)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    images = root / "test"
    images.mkdir()
    lines = ["filename\tlabel"]
    for i, s in enumerate(sample_images(3)):
        (images / f"test{i}.png").write_bytes(s.png)
        lines.append(f"test{i}.png\t{s.label}")
    tsv = root / "test.tsv"
    tsv.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    return images, tsv


# -- predict ------------------------------------------------------------------------------------


def test_predict_table(capsys, weights, dataset):
    images, _ = dataset
    code, out, err = run(
        capsys, "predict", str(images / "test0.png"), str(images / "test1.png"), "--weights", str(weights)
    )
    assert code == 0, err
    assert "test0.png" in out and "test1.png" in out and "confidence" in out


def test_predict_json_with_char_probs(capsys, weights, dataset):
    images, _ = dataset
    code, out, err = run(
        capsys,
        "predict",
        str(images / "test0.png"),
        "--weights",
        str(weights),
        "--format",
        "json",
        "--char-probs",
    )
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 1
    row = rows[0]
    assert row["file"].endswith("test0.png")
    assert isinstance(row["text"], str) and 0.0 <= row["confidence"] <= 1.0
    assert len(row["char_probs"]) == len(row["text"])


def test_predict_weights_from_env(capsys, monkeypatch, weights, dataset):
    images, _ = dataset
    monkeypatch.setenv("OCRKIT_WEIGHTS", str(weights))
    code, out, err = run(capsys, "predict", str(images / "test2.png"), "--format", "json")
    assert code == 0, err
    assert json.loads(out)[0]["file"].endswith("test2.png")


def test_predict_unreadable_files(capsys, weights, dataset, tmp_path):
    images, _ = dataset
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a png")
    missing = tmp_path / "missing.png"
    code, out, err = run(
        capsys,
        "predict",
        str(images / "test0.png"),
        str(bad),
        str(missing),
        "--weights",
        str(weights),
        "--format",
        "json",
    )
    assert code == 2
    assert "Traceback" not in out + err
    assert f"{bad}: not a readable image" in err
    assert f"{missing}: cannot read file" in err
    assert "2 of 3 image(s) could not be read" in err
    rows = json.loads(out)
    assert "text" in rows[0] and "error" in rows[1] and "error" in rows[2]


def test_predict_without_weights_is_a_clear_error(capsys, dataset, monkeypatch):
    images, _ = dataset
    monkeypatch.setenv("OCRKIT_DEMO_WEIGHTS", "0")
    code, out, err = run(capsys, "predict", str(images / "test0.png"))
    assert code == 2
    assert "no model weights" in err and "OCRKIT_WEIGHTS" in err
    assert "Traceback" not in out + err


def test_predict_bad_weights_file(capsys, dataset, tmp_path):
    images, _ = dataset
    junk = tmp_path / "junk.pt"
    torch.save({"epoch": 3}, junk)  # a checkpoint without weights
    code, out, err = run(capsys, "predict", str(images / "test0.png"), "--weights", str(junk))
    assert code == 2
    assert "junk.pt" in err and "no model weights" in err and "Traceback" not in out + err


# -- eval ---------------------------------------------------------------------------------------


def test_eval_json_shape(capsys, weights, dataset):
    images, tsv = dataset
    code, out, err = run(
        capsys, "eval", "--images", str(images), "--labels", str(tsv), "--weights", str(weights),
        "--batch-size", "2", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    for key in ("char_accuracy", "word_accuracy", "cer", "wer", "count", "predictions"):
        assert key in data, key
    assert data["count"] == 3
    assert [p["file"] for p in data["predictions"]] == ["test0.png", "test1.png", "test2.png"]
    assert set(data["predictions"][0]) == {"file", "label", "text", "confidence"}
    assert data["predictions"][0]["label"] == sample_images(1)[0].label


def test_eval_table_and_limit(capsys, weights, dataset):
    images, tsv = dataset
    code, out, err = run(
        capsys,
        "eval",
        "--images",
        str(images),
        "--labels",
        str(tsv),
        "--weights",
        str(weights),
        "--limit",
        "1",
    )
    assert code == 0, err
    for name in ("char_accuracy", "word_accuracy", "cer", "wer", "count"):
        assert name in out
    assert "1 images" in out


def test_eval_with_a_perfect_predictor(capsys, monkeypatch, dataset):
    images, tsv = dataset
    by_bytes = {(images / f"test{i}.png").read_bytes(): s.label for i, s in enumerate(sample_images(3))}

    class Perfect:
        def predict_images(self, blobs):
            return [Prediction(by_bytes[b], 1.0) for b in blobs]

    monkeypatch.setattr("ocrkit.commands.inference._load_predictor", lambda *a, **k: Perfect())
    code, out, err = run(capsys, "eval", "--images", str(images), "--labels", str(tsv), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["char_accuracy"], data["word_accuracy"], data["cer"], data["wer"]) == (1.0, 1.0, 0.0, 0.0)


def test_eval_bad_tsv_line(capsys, weights, dataset, tmp_path):
    images, _ = dataset
    tsv = tmp_path / "bad.tsv"
    tsv.write_text("test0.png\tкот\ntest1.png кот\n", encoding="utf-8")
    code, out, err = run(
        capsys, "eval", "--images", str(images), "--labels", str(tsv), "--weights", str(weights)
    )
    assert code == 2
    assert "bad.tsv line 2" in err and "Traceback" not in out + err


def test_eval_missing_folder(capsys, weights, tmp_path):
    code, out, err = run(
        capsys,
        "eval",
        "--images",
        str(tmp_path / "nope"),
        "--labels",
        str(tmp_path / "x.tsv"),
        "--weights",
        str(weights),
    )
    assert code == 2 and "not found" in err


# -- bench --------------------------------------------------------------------------------------

BENCH_KEYS = (
    "reference_ms_p50",
    "reference_ms_p95",
    "fast_ms_p50",
    "fast_ms_p95",
    "encoder_ms_p50",
    "mean_tokens",
    "speedup",
    "identical",
    "throughput",
    "device",
    "torch_version",
    "threads",
    "weights",
)


def test_bench_json_shape(capsys, weights, dataset):
    images, _ = dataset
    code, out, err = run(
        capsys, "bench", "--weights", str(weights), "--images", str(images), "--limit", "2",
        "--runs", "1", "--reference-images", "1", "--max-len", "3", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    for key in BENCH_KEYS:
        assert key in data, key
    assert set(data["throughput"]) == {"1", "8", "32"}
    assert data["weights"] == str(weights)
    assert data["images"] == 2 and data["reference_images"] == 1 and data["max_len"] == 3
    assert data["identical"] is True
    assert "reference decoder" in err  # the stages are announced on stderr


def test_bench_table_int8(capsys, weights, dataset):
    images, _ = dataset
    code, out, err = run(
        capsys, "bench", "--weights", str(weights), "--images", str(images), "--limit", "1",
        "--runs", "1", "--reference-images", "1", "--max-len", "2", "--quantize", "int8",
    )  # fmt: skip
    assert code == 0, err
    assert "reference (report's loop)" in out and "first 1 images" in out
    assert "int8" in out and "character agreement" in out


def test_bench_random_init_is_labelled_and_capped(capsys, monkeypatch, dataset):
    images, _ = dataset
    # the labelling and the token cap are under test here, not resnet50's speed: build the tiny model
    import ocrkit.core_model.bench as bench

    real = bench.random_init_model
    built = []
    monkeypatch.setattr(bench, "random_init_model", lambda *a, **k: built.append(1) or real(TINY, seed=0))
    code, out, err = run(
        capsys, "bench", "--random-init", "--images", str(images), "--limit", "1", "--runs", "1",
        "--reference-images", "1", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["weights"] == "random-init resnet50/512 (--random-init)"
    assert data["max_len"] == 10 and "random weights never emit EOS" in data["note"]
    assert built == [1]


def test_bench_empty_image_folder(capsys, tmp_path):
    code, out, err = run(capsys, "bench", "--images", str(tmp_path))
    assert code == 2 and "no images" in err
