"""The preloaded training dataset: same inputs as serving, targets for teacher forcing."""

from __future__ import annotations

import numpy as np
import pytest

from ocrkit.core_model.alphabet import EOS, PAD, SOS, decode
from ocrkit.core_model.dataset import encode_targets, load_split, split_paths
from ocrkit.core_model.preprocess import preprocess_image
from ocrkit.errors import OcrkitError
from ocrkit.synth import SynthConfig, find_fonts, generate_dataset

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    if not find_fonts().faces:
        pytest.skip("needs Cyrillic fonts installed")
    out = tmp_path_factory.mktemp("ds") / "data"
    generate_dataset(SynthConfig(out=out, count=10, test_count=3, unseen_count=2, seed=1))
    return out


def test_inputs_equal_the_serving_preprocessing(data):
    split = load_split(data, "train")
    assert len(split) == 10 and split.images.dtype == np.uint8
    assert split.images.shape == (10, 64, 256, 3)
    images, targets = split.batch([0, 3])
    for row, i in zip(images, [0, 3], strict=True):
        expected = preprocess_image((data / "train" / split.filenames[i]).read_bytes())
        assert np.array_equal(row.numpy(), expected)
    assert targets.shape[1] == 2


def test_targets_are_sos_label_eos_then_pad():
    t = encode_targets(["аб", "в"])
    assert t.shape == (4, 2)
    assert t[0].tolist() == [SOS, SOS]
    assert decode(t[1:, 0].tolist()) == "аб" and int(t[3, 0]) == EOS
    assert decode(t[1:, 1].tolist()) == "в" and int(t[2, 1]) == EOS and int(t[3, 1]) == PAD


def test_labels_outside_the_alphabet_are_skipped_not_fatal(data, tmp_path):
    import shutil

    root = tmp_path / "d"
    shutil.copytree(data / "test", root / "test")
    lines = (data / "test.tsv").read_text(encoding="utf-8").splitlines()
    name = lines[0].split("\t")[0]
    lines[0] = f"{name}\tLatin text"
    lines.append("missing.png\tслово")
    (root / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    split = load_split(root, "test")
    assert len(split) == 2
    assert any("outside the alphabet" in s for s in split.skipped)
    assert any(s.startswith("missing.png") for s in split.skipped)


def test_missing_split_is_a_clear_error(tmp_path):
    with pytest.raises(OcrkitError, match="no 'train' split"):
        split_paths(tmp_path, "train")
