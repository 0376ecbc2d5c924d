"""A labelled image folder (the Kaggle layout) decoded into memory once, for training.

``ROOT/<split>/`` holds the images and ``ROOT/<split>.tsv`` the ``filename<TAB>label`` lines, as
``ocrkit eval`` reads them. Each image goes through exactly the serving preprocessing
(:func:`ocrkit.core_model.preprocess.process_image`, then the uint8 truncation) and is kept as uint8
[64, 256, 3] -- 48 KiB an image, so 20,000 crops take under 1 GiB; the per-image scaling to [0, 1]
happens when a batch is built (:func:`ocrkit.core_model.preprocess.normalize`, the same function
serving uses), so training inputs equal serving inputs bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ocrkit.core_model.alphabet import CHAR_TO_ID, EOS, PAD, SOS, encode
from ocrkit.core_model.evaluate import read_labels
from ocrkit.core_model.network import IMAGE_HEIGHT, IMAGE_WIDTH, MAX_DECODE_LEN
from ocrkit.core_model.preprocess import decode_image, normalize, process_image
from ocrkit.errors import OcrkitError
from ocrkit.prediction import ImageDecodeError

ProgressCallback = Callable[[int, int], None]

#: labels longer than this are cut (the decoder stops at MAX_DECODE_LEN tokens, SOS and EOS included)
MAX_LABEL_LEN = MAX_DECODE_LEN - 2


@dataclass
class PreloadedSplit:
    """Images as uint8 [N, 64, 256, 3] (preprocessed, not yet scaled) and their labels."""

    name: str
    images: np.ndarray
    labels: list[str]
    filenames: list[str]
    #: "filename: reason" for each line left out (unreadable image, characters outside the alphabet)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        """Network inputs [B, 3, 64, 256] and targets [T, B] (SOS + tokens + EOS, PAD after)."""
        images = torch.from_numpy(np.stack([normalize(self.images[i]) for i in indices]))
        return images, encode_targets([self.labels[i] for i in indices])

    def inputs(self, indices: Sequence[int]) -> Tensor:
        return torch.from_numpy(np.stack([normalize(self.images[i]) for i in indices]))


def encode_targets(labels: Sequence[str]) -> Tensor:
    """Teacher-forcing targets, sequence-first [T, B]: SOS, the label's ids, EOS, then PAD."""
    seqs = [encode(label[:MAX_LABEL_LEN], add_sos=True, add_eos=True) for label in labels]
    length = max(len(s) for s in seqs)
    out = torch.full((length, len(seqs)), PAD, dtype=torch.long)
    for j, s in enumerate(seqs):
        out[: len(s), j] = torch.tensor(s, dtype=torch.long)
    assert int(out[0, 0]) == SOS and EOS in out[:, 0].tolist()
    return out


def split_paths(root: Path | str, split: str) -> tuple[Path, Path]:
    """``ROOT/split/`` and ``ROOT/split.tsv``; a clear error when either is missing."""
    root = Path(root)
    images_dir, labels = root / split, root / f"{split}.tsv"
    if not images_dir.is_dir() or not labels.is_file():
        raise OcrkitError(
            f"{root} has no '{split}' split (expected {images_dir}/ and {labels})",
            hint="use the Kaggle layout (train/ + train.tsv, test/ + test.tsv), e.g. from `ocrkit synth`",
        )
    return images_dir, labels


def load_split(
    root: Path | str,
    split: str,
    *,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
) -> PreloadedSplit:
    """Decode and preprocess every image of ``root/split`` into memory (first ``limit`` lines)."""
    images_dir, labels_path = split_paths(root, split)
    items = read_labels(labels_path, images_dir, check_files=False)
    if limit is not None:
        items = items[:limit]
    arrays, labels, names, skipped = [], [], [], []
    total = len(items)
    if progress:
        progress(0, total)
    for n, item in enumerate(items, 1):
        bad = sorted({ch for ch in item.label if ch not in CHAR_TO_ID})
        if bad or not item.label:
            reason = f"characters outside the alphabet: {''.join(bad)}" if bad else "empty label"
            skipped.append(f"{item.filename}: {reason}")
        else:
            try:
                img = process_image(decode_image(item.path.read_bytes())).astype(np.uint8)
            except (OSError, ImageDecodeError) as exc:
                skipped.append(f"{item.filename}: {getattr(exc, 'message', None) or exc}")
            else:
                arrays.append(img)
                labels.append(item.label)
                names.append(item.filename)
        if progress and (n % 256 == 0 or n == total):
            progress(n, total)
    if not arrays:
        raise OcrkitError(f"no usable images in {images_dir} ({len(skipped)} skipped)")
    images = np.stack(arrays) if arrays else np.zeros((0, IMAGE_HEIGHT, IMAGE_WIDTH, 3), np.uint8)
    return PreloadedSplit(split, images, labels, names, skipped)
