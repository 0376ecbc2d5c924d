"""Evaluate a predictor on a labelled folder laid out like the Kaggle Cyrillic handwriting dataset.

The layout is an image folder (``test/``) and a TSV of ``filename<TAB>label`` lines (``test.tsv``).
The TSV may start with a header line (``filename<TAB>label`` or similar) and may hold blank lines;
anything else that is not ``filename<TAB>label`` is an error naming the file and line.

Torch-free: any :class:`ocrkit.prediction.Predictor` will do (tests use a fake one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ocrkit.core_model.metrics import Metrics, compute_metrics
from ocrkit.errors import OcrkitError
from ocrkit.prediction import ImageDecodeError, Prediction, Predictor

#: First-column names that mark the first non-blank line as a header.
HEADER_NAMES = frozenset({"filename", "file", "file_name", "image", "image_name", "img", "name", "path"})

#: progress(done, total): called after each batch.
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class LabeledImage:
    """One TSV line: the image file, its label, and where the line was."""

    filename: str
    label: str
    path: Path
    line: int


@dataclass(frozen=True)
class EvalItem:
    """One image's outcome. ``error`` is set when the image could not be read (then ``text`` is empty)."""

    file: str
    label: str
    text: str
    confidence: float
    error: str | None = None

    def to_json(self) -> dict:
        out = {
            "file": self.file,
            "label": self.label,
            "text": self.text,
            "confidence": round(float(self.confidence), 4),
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class EvalResult:
    """Metrics over the evaluated images and every image's prediction, in TSV order."""

    metrics: Metrics
    predictions: list[EvalItem]
    images_dir: Path
    labels_path: Path

    @property
    def unreadable(self) -> int:
        return sum(item.error is not None for item in self.predictions)

    def to_json(self) -> dict:
        return {
            **self.metrics.to_json(),
            "unreadable": self.unreadable,
            "images": str(self.images_dir),
            "labels": str(self.labels_path),
            "predictions": [item.to_json() for item in self.predictions],
        }


def read_labels(
    labels_path: Path | str, images_dir: Path | str, *, check_files: bool = True
) -> list[LabeledImage]:
    """Parse ``filename<TAB>label`` lines; with ``check_files``, every listed image must exist."""
    labels_path = Path(labels_path)
    images_dir = Path(images_dir)
    if not labels_path.is_file():
        raise OcrkitError(
            f"labels file {labels_path} not found", hint="pass the dataset's test.tsv with --labels"
        )
    if not images_dir.is_dir():
        raise OcrkitError(
            f"image folder {images_dir} not found", hint="pass the dataset's test/ folder with --images"
        )
    try:
        text = labels_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OcrkitError(f"{labels_path}: not UTF-8 text (byte {exc.start})") from None

    items: list[LabeledImage] = []
    seen_content = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        first = not seen_content
        seen_content = True
        if "\t" not in line:
            raise OcrkitError(
                f"{labels_path} line {lineno}: expected 'filename<TAB>label', got {_clip(line)!r}",
                hint="the labels file must be tab-separated",
            )
        filename, label = line.split("\t", 1)
        filename = filename.strip()
        if first and filename.lower() in HEADER_NAMES:
            continue
        if not filename:
            raise OcrkitError(f"{labels_path} line {lineno}: empty filename")
        if "\t" in label:
            raise OcrkitError(
                f"{labels_path} line {lineno}: more than one TAB; expected 'filename<TAB>label', "
                f"got {_clip(line)!r}"
            )
        items.append(LabeledImage(filename=filename, label=label, path=images_dir / filename, line=lineno))

    if not items:
        raise OcrkitError(f"{labels_path}: no 'filename<TAB>label' lines")
    if check_files:
        missing = [item for item in items if not item.path.is_file()]
        if missing:
            shown = ", ".join(f"{m.filename} (line {m.line})" for m in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise OcrkitError(
                f"{len(missing)} image(s) listed in {labels_path} are not in {images_dir}: {shown}{more}"
            )
    return items


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _predict_batch(predictor: Predictor, images: list[bytes]) -> list[Prediction | ImageDecodeError]:
    """Predict a batch; if one image cannot be decoded, retry one by one so the rest still count."""
    try:
        return list(predictor.predict_images(images))
    except ImageDecodeError:
        out: list[Prediction | ImageDecodeError] = []
        for image in images:
            try:
                out.extend(predictor.predict_images([image]))
            except ImageDecodeError as exc:
                out.append(exc)
        return out


def evaluate(
    predictor: Predictor,
    items: Sequence[LabeledImage],
    *,
    batch_size: int = 32,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
    images_dir: Path | str | None = None,
    labels_path: Path | str | None = None,
) -> EvalResult:
    """Run ``predictor`` over ``items`` in batches and score the texts against the labels.

    An image that cannot be decoded counts as an empty prediction and is marked with its error.
    """
    if batch_size < 1:
        raise OcrkitError(f"batch size must be at least 1, got {batch_size}")
    if limit is not None:
        if limit < 1:
            raise OcrkitError(f"--limit must be at least 1, got {limit}")
        items = items[:limit]
    total = len(items)
    results: list[EvalItem] = []
    if progress:
        progress(0, total)
    for start in range(0, total, batch_size):
        batch = items[start : start + batch_size]
        images = []
        for item in batch:
            try:
                images.append(item.path.read_bytes())
            except OSError as exc:
                raise OcrkitError(f"cannot read {item.path}: {exc.strerror or exc}") from None
        outputs = _predict_batch(predictor, images)
        if len(outputs) != len(batch):
            raise RuntimeError(f"predictor returned {len(outputs)} predictions for {len(batch)} images")
        for item, out in zip(batch, outputs, strict=True):
            if isinstance(out, ImageDecodeError):
                results.append(EvalItem(item.filename, item.label, "", 0.0, error=out.message))
            else:
                results.append(EvalItem(item.filename, item.label, out.text, float(out.confidence)))
        if progress:
            progress(len(results), total)

    metrics = compute_metrics([r.label for r in results], [r.text for r in results])
    return EvalResult(
        metrics=metrics,
        predictions=results,
        images_dir=Path(images_dir)
        if images_dir is not None
        else (items[0].path.parent if items else Path(".")),
        labels_path=Path(labels_path) if labels_path is not None else Path(""),
    )


def evaluate_folder(
    predictor: Predictor,
    images_dir: Path | str,
    labels_path: Path | str,
    *,
    batch_size: int = 32,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
) -> EvalResult:
    """:func:`read_labels` then :func:`evaluate`."""
    items = read_labels(labels_path, images_dir)
    return evaluate(
        predictor,
        items,
        batch_size=batch_size,
        limit=limit,
        progress=progress,
        images_dir=images_dir,
        labels_path=labels_path,
    )
