"""Texts to render: Russian words and short phrases from ``wordfreq``'s list, weighted by frequency.

Every text is 1-40 characters of the model's alphabet. Besides single words (sometimes capitalised
or in capitals), the sampler makes what the Kaggle crops hold: two- and three-word phrases, surnames
with initials ("Лебедева Н.", "Иванов И.И."), dates ("15.09.03"), numbers, words with punctuation
and « » quotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ocrkit.core_model.alphabet import CHAR_TO_ID
from ocrkit.errors import OcrkitError

MAX_LEN = 40
#: Capitals the alphabet lacks: a word needing one of them upper-cased is never capitalised.
_NO_CAPITAL = set("ёъыь")
_UPPER_INITIALS = "АБВГДЕЖЗИКЛМНОПРСТУФХЧШЭЮЯ"
_MONTHS = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)


def in_alphabet(text: str) -> bool:
    return bool(text) and all(ch in CHAR_TO_ID for ch in text)


@lru_cache(maxsize=4)
def load_words(n: int = 50_000) -> tuple[tuple[str, ...], np.ndarray]:
    """The ``n`` most frequent Russian words that fit the alphabet, with sampling weights.

    Weights are the square root of ``wordfreq``'s frequency: frequent words come up far more often,
    but "в" and "и" do not swamp the data.
    """
    try:
        import wordfreq
    except ImportError:  # pragma: no cover - a declared dependency of the synth extra
        raise OcrkitError("`ocrkit synth` needs the wordfreq package", hint="pip install wordfreq") from None
    words, weights = [], []
    for word in wordfreq.top_n_list("ru", n):
        if not in_alphabet(word) or len(word) > MAX_LEN:
            continue
        if not any("а" <= ch <= "я" or ch == "ё" for ch in word):
            continue  # digits or punctuation alone: made separately
        words.append(word)
        weights.append(wordfreq.word_frequency(word, "ru"))
    if not words:
        raise OcrkitError("wordfreq returned no usable Russian words")
    w = np.sqrt(np.asarray(weights, dtype=np.float64))
    return tuple(words), w / w.sum()


def capitalize(word: str) -> str:
    """``word`` with a capital first letter, unless that capital is not in the alphabet."""
    if not word or word[0] in _NO_CAPITAL:
        return word
    out = word[0].upper() + word[1:]
    return out if in_alphabet(out) else word


def upper(word: str) -> str:
    out = word.upper()
    return out if in_alphabet(out) else word


@dataclass
class TextSampler:
    """Draws label texts; all randomness comes from the generator passed to :meth:`sample`."""

    vocabulary: int = 50_000

    def __post_init__(self) -> None:
        self.words, self.weights = load_words(self.vocabulary)

    def word(self, rng: np.random.Generator) -> str:
        return self.words[int(rng.choice(len(self.words), p=self.weights))]

    def sample(self, rng: np.random.Generator) -> str:
        for _ in range(20):
            text = self._draw(rng)
            if in_alphabet(text) and 1 <= len(text) <= MAX_LEN:
                return text
        return self.word(rng)[:MAX_LEN]

    def _draw(self, rng: np.random.Generator) -> str:
        kind = rng.random()
        if kind < 0.50:
            return self._cased(self.word(rng), rng)
        if kind < 0.68:
            n = 2 if rng.random() < 0.7 else 3
            parts = [self.word(rng) for _ in range(n)]
            parts[0] = self._cased(parts[0], rng, upper_p=0.0)
            text = " ".join(parts)
            if len(text) > 24 and rng.random() < 0.75:  # most crops are short: keep long phrases rare
                text = " ".join(parts[:1] if n == 2 else parts[:2])
            return text
        if kind < 0.76:
            return self._name(rng)
        if kind < 0.83:
            return self._date(rng)
        if kind < 0.87:
            return self._number(rng)
        return self._punctuated(self._cased(self.word(rng), rng, upper_p=0.0), rng)

    def _cased(self, word: str, rng: np.random.Generator, upper_p: float = 0.05) -> str:
        r = rng.random()
        if r < upper_p:
            return upper(word)
        if r < upper_p + 0.25:
            return capitalize(word)
        return word

    def _name(self, rng: np.random.Generator) -> str:
        surname = capitalize(self.word(rng))
        initials = "".join(
            f"{_UPPER_INITIALS[int(rng.integers(len(_UPPER_INITIALS)))]}."
            for _ in range(1 + int(rng.integers(2)))
        )
        return f"{surname} {initials}" if rng.random() < 0.7 else f"{initials} {surname}"

    def _date(self, rng: np.random.Generator) -> str:
        d, m, y = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(0, 100))
        style = rng.random()
        if style < 0.5:
            return f"{d:02d}.{m:02d}.{y:02d}"
        if style < 0.7:
            return f"{d:02d}.{m:02d}.{1950 + y}"
        if style < 0.9:
            return f"{d} {_MONTHS[m - 1]} {1950 + y} г."
        return f"{d:02d}/{m:02d}/{y:02d}"

    def _number(self, rng: np.random.Generator) -> str:
        style = rng.random()
        if style < 0.4:
            return str(int(rng.integers(0, 100_000)))
        if style < 0.6:
            return f"{int(rng.integers(1, 100))}%"
        if style < 0.8:
            return f"{int(rng.integers(1, 1000))} {self.word(rng)}"
        return f"{int(rng.integers(1, 100))} {self.word(rng)}"

    def _punctuated(self, word: str, rng: np.random.Generator) -> str:
        style = int(rng.integers(9))
        return (
            f"{word},",
            f"{word}.",
            f"({word})",
            f"«{word}»",
            f'"{word}"',
            f"{word}!",
            f"{word}?",
            f"{word}:",
            f"{word}-{self.word(rng)}",
        )[style]
