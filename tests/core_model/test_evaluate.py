"""Reading the Kaggle layout (folder + TSV) and evaluating a predictor on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocrkit.core_model.evaluate import EvalResult, evaluate, evaluate_folder, read_labels
from ocrkit.errors import OcrkitError
from ocrkit.prediction import ImageDecodeError, Prediction

LABELS = ["заявление", "выписывала", "с детьми", "Иванов И.И.", "15.09.03", "продажа"]


def _write_dataset(
    root: Path, n: int = 4, *, header: bool = False, rendered: bool = False
) -> tuple[Path, Path, list[str]]:
    """A Kaggle-like folder + TSV. The fake predictors key on the bytes, so real PNGs (Pillow) are
    only written when ``rendered``."""
    images = root / "test"
    images.mkdir()
    lines = ["filename\tlabel"] if header else []
    labels = []
    if rendered:
        from ocrkit.core_model.samples import sample_images

        pairs = [(s.label, s.png) for s in sample_images(n)]
    else:
        pairs = [(label, f"fake image {i}".encode()) for i, label in enumerate(LABELS[:n])]
    for i, (label, blob) in enumerate(pairs):
        name = f"test{i}.png"
        (images / name).write_bytes(blob)
        lines.append(f"{name}\t{label}")
        labels.append(label)
        if i == 1:
            lines.append("")  # blank lines are tolerated
    tsv = root / "test.tsv"
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return images, tsv, labels


class LookupPredictor:
    """Answers with the label of each image's bytes: a perfect reader."""

    def __init__(self, by_bytes: dict[bytes, str]) -> None:
        self.by_bytes = by_bytes
        self.calls: list[int] = []

    def predict_images(self, images: list[bytes]) -> list[Prediction]:
        self.calls.append(len(images))
        out = []
        for image in images:
            if image not in self.by_bytes:
                raise ImageDecodeError("image could not be decoded")
            out.append(Prediction(text=self.by_bytes[image], confidence=0.9))
        return out


def _perfect(images: Path, tsv: Path) -> LookupPredictor:
    return LookupPredictor({item.path.read_bytes(): item.label for item in read_labels(tsv, images)})


def test_read_labels_plain_and_with_header(tmp_path):
    images, tsv, labels = _write_dataset(tmp_path)
    items = read_labels(tsv, images)
    assert [i.label for i in items] == labels
    assert items[0].filename == "test0.png" and items[0].line == 1
    assert items[2].line == 4  # after the blank line

    other = tmp_path / "h"
    other.mkdir()
    images, tsv, labels = _write_dataset(other, header=True)
    assert [i.label for i in read_labels(tsv, images)] == labels


def test_read_labels_keeps_spaces_and_crlf(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    tsv = tmp_path / "l.tsv"
    tsv.write_bytes("a.png\tс детьми\r\n".encode())
    assert read_labels(tsv, tmp_path)[0].label == "с детьми"


def test_missing_files_are_clear_errors(tmp_path):
    images, tsv, _ = _write_dataset(tmp_path)
    with pytest.raises(OcrkitError, match="labels file .* not found"):
        read_labels(tmp_path / "nope.tsv", images)
    with pytest.raises(OcrkitError, match="image folder .* not found"):
        read_labels(tsv, tmp_path / "nope")
    (images / "test2.png").unlink()
    with pytest.raises(OcrkitError, match=r"1 image\(s\) listed in .* test2.png \(line 4\)"):
        read_labels(tsv, images)


def test_bad_line_names_file_and_line(tmp_path):
    tsv = tmp_path / "l.tsv"
    tsv.write_text("a.png\tкот\nb.png кот\n", encoding="utf-8")
    with pytest.raises(OcrkitError, match=r"l.tsv line 2: expected 'filename<TAB>label'"):
        read_labels(tsv, tmp_path, check_files=False)
    tsv.write_text("a.png\tкот\tлишнее\n", encoding="utf-8")
    with pytest.raises(OcrkitError, match=r"line 1: more than one TAB"):
        read_labels(tsv, tmp_path, check_files=False)
    tsv.write_text("\n\n", encoding="utf-8")
    with pytest.raises(OcrkitError, match="no 'filename<TAB>label' lines"):
        read_labels(tsv, tmp_path, check_files=False)


def test_perfect_predictor_scores_one_and_batches(tmp_path):
    images, tsv, labels = _write_dataset(tmp_path, n=5)
    predictor = _perfect(images, tsv)
    seen = []
    result = evaluate_folder(predictor, images, tsv, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert isinstance(result, EvalResult)
    assert predictor.calls == [2, 2, 1]
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]
    m = result.metrics
    assert (m.count, m.char_accuracy, m.word_accuracy, m.cer, m.wer) == (5, 1.0, 1.0, 0.0, 0.0)
    js = result.to_json()
    assert js["predictions"][0] == {
        "file": "test0.png",
        "label": labels[0],
        "text": labels[0],
        "confidence": 0.9,
    }
    assert js["unreadable"] == 0


def test_limit_and_unreadable_image(tmp_path):
    images, tsv, labels = _write_dataset(tmp_path, n=4)
    predictor = _perfect(images, tsv)
    (images / "test1.png").write_bytes(b"not an image")  # unknown to the predictor: a decode error
    result = evaluate(predictor, read_labels(tsv, images), batch_size=8, limit=3)
    assert [p.file for p in result.predictions] == ["test0.png", "test1.png", "test2.png"]
    bad = result.predictions[1]
    assert bad.text == "" and bad.error == "image could not be decoded"
    assert result.unreadable == 1
    assert result.metrics.word_accuracy == pytest.approx(2 / 3)
    with pytest.raises(OcrkitError, match="--limit"):
        evaluate(predictor, read_labels(tsv, images), limit=0)


@pytest.mark.model
def test_evaluate_with_a_random_init_checkpoint(tmp_path):
    """The real pipeline on a tiny random model: texts are garbage, the shape is what is checked."""
    pytest.importorskip("torch")
    from ocrkit.core_model.bench import random_init_model
    from ocrkit.core_model.checkpoint import save_checkpoint
    from ocrkit.core_model.network import ModelConfig
    from ocrkit.core_model.predictor import TorchPredictor

    config = ModelConfig(bb_name="resnet18", hidden=64, enc_layers=1, dec_layers=1, nhead=2)
    weights = save_checkpoint(random_init_model(config), tmp_path / "tiny.pt")
    images, tsv, labels = _write_dataset(tmp_path, n=3, rendered=True)
    predictor = TorchPredictor.from_weights(weights, device="cpu", batch_size=2, max_len=8)
    result = evaluate_folder(predictor, images, tsv, batch_size=2)
    assert result.metrics.count == 3
    assert [p.label for p in result.predictions] == labels
    assert all(isinstance(p.text, str) and 0.0 <= p.confidence <= 1.0 for p in result.predictions)
    assert 0.0 <= result.metrics.char_accuracy <= 1.0
    assert result.metrics.cer >= 0.0
