"""Recognition metrics: the report's character and word accuracy, and the standard CER and WER.

Torch-free. Edit distances come from rapidfuzz.

Two families, which answer different questions:

* The report's test (``test(..., case=False, punct=False)`` in its notebook; it printed 0.899 character
  accuracy and 0.538 word accuracy on the Kaggle test split). Both strings are normalised first
  (``ё`` -> ``е``, lower case, ASCII punctuation removed); the per-image character error is the edit
  distance divided by the length of the LONGER of the two strings, and character accuracy is one minus
  the mean of that over images. Word accuracy is the share of images whose normalised prediction equals
  the normalised label exactly (a "word" in that dataset is one crop, which may hold several words).
* Standard CER and WER, on the texts as written (case and punctuation count): the edit distance
  against the reference, summed over the corpus, divided by the total reference length (characters
  for CER, whitespace-separated words for WER). They can exceed 1 when the prediction inserts a lot.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

_STRIP_PUNCT = str.maketrans("", "", string.punctuation)


def normalize(text: str, *, case: bool = False, punct: bool = False) -> str:
    """The report's normalisation: ``ё`` -> ``е``; lower-cased unless ``case``; ASCII punctuation
    removed unless ``punct``. Spaces are kept as they are."""
    if not case:
        text = text.lower()
    text = text.replace("ё", "е").replace("Ё", "Е")
    if not punct:
        text = text.translate(_STRIP_PUNCT)
    return text


def char_error(label: str, prediction: str) -> float:
    """The report's per-image character error: edit distance / length of the longer string.

    Both strings are used as given (normalise them first to match the report). Two empty strings have
    no error; an empty string against a non-empty one has error 1.
    """
    longest = max(len(label), len(prediction))
    if longest == 0:
        return 0.0
    return Levenshtein.distance(label, prediction) / longest


def _check_pairs(labels: Sequence[str], predictions: Sequence[str]) -> None:
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")


def char_accuracy(labels: Sequence[str], predictions: Sequence[str]) -> float:
    """The report's character accuracy: 1 - mean per-image :func:`char_error` after :func:`normalize`.

    An empty corpus has accuracy 0.0 (there is nothing it got right).
    """
    _check_pairs(labels, predictions)
    if not labels:
        return 0.0
    total = sum(char_error(normalize(y), normalize(p)) for y, p in zip(labels, predictions, strict=True))
    return 1.0 - total / len(labels)


def word_accuracy(labels: Sequence[str], predictions: Sequence[str]) -> float:
    """The report's word (exact-match) accuracy: the share of images whose normalised prediction equals
    the normalised label. An empty corpus has accuracy 0.0."""
    _check_pairs(labels, predictions)
    if not labels:
        return 0.0
    hits = sum(normalize(y) == normalize(p) for y, p in zip(labels, predictions, strict=True))
    return hits / len(labels)


def char_edits(reference: str, hypothesis: str) -> int:
    """Character edit distance (insertions + deletions + substitutions) from reference to hypothesis."""
    return Levenshtein.distance(reference, hypothesis)


def word_edits(reference: str, hypothesis: str) -> int:
    """Word edit distance, over whitespace-separated words."""
    return Levenshtein.distance(reference.split(), hypothesis.split())


def _rate(edits: int, total: int) -> float:
    # An empty reference corpus: 0 when nothing was inserted either, else edits per (at least one) unit.
    return edits / max(total, 1)


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus character error rate: total character edits / total reference characters."""
    _check_pairs(references, hypotheses)
    edits = sum(char_edits(r, h) for r, h in zip(references, hypotheses, strict=True))
    return _rate(edits, sum(len(r) for r in references))


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus word error rate: total word edits / total reference words (split on whitespace)."""
    _check_pairs(references, hypotheses)
    edits = sum(word_edits(r, h) for r, h in zip(references, hypotheses, strict=True))
    return _rate(edits, sum(len(r.split()) for r in references))


@dataclass(frozen=True)
class Metrics:
    """All metrics of one corpus, with the totals behind the CER and WER."""

    count: int
    char_accuracy: float
    word_accuracy: float
    cer: float
    wer: float
    char_edits: int
    ref_chars: int
    word_edits: int
    ref_words: int

    def to_json(self) -> dict:
        return {
            "count": self.count,
            "char_accuracy": round(self.char_accuracy, 6),
            "word_accuracy": round(self.word_accuracy, 6),
            "cer": round(self.cer, 6),
            "wer": round(self.wer, 6),
            "char_edits": self.char_edits,
            "ref_chars": self.ref_chars,
            "word_edits": self.word_edits,
            "ref_words": self.ref_words,
        }


def compute_metrics(labels: Sequence[str], predictions: Sequence[str]) -> Metrics:
    """Every metric for ``predictions`` against ``labels`` (same length, same order)."""
    _check_pairs(labels, predictions)
    pairs = list(zip(labels, predictions, strict=True))
    c_edits = sum(char_edits(y, p) for y, p in pairs)
    w_edits = sum(word_edits(y, p) for y, p in pairs)
    ref_chars = sum(len(y) for y in labels)
    ref_words = sum(len(y.split()) for y in labels)
    return Metrics(
        count=len(pairs),
        char_accuracy=char_accuracy(labels, predictions),
        word_accuracy=word_accuracy(labels, predictions),
        cer=_rate(c_edits, ref_chars),
        wer=_rate(w_edits, ref_words),
        char_edits=c_edits,
        ref_chars=ref_chars,
        word_edits=w_edits,
        ref_words=ref_words,
    )
