"""The report's 92-token output alphabet. Torch-free: the gateway and tests may import it alone.

A token's id is its position in ``ALPHABET``; the order must stay exactly as the original
checkpoint was trained with (the embedding and the output layer are indexed by it).
"""

from __future__ import annotations

from collections.abc import Iterable

from ocrkit.errors import OcrkitError

PAD_TOKEN = "PAD"
SOS_TOKEN = "SOS"
EOS_TOKEN = "EOS"

_PUNCT_1 = [" ", "!", '"', "%", "(", ")", ",", "-", ".", "/"]
_DIGITS = [str(d) for d in range(10)]
_PUNCT_2 = [":", ";", "?", "[", "]", "«", "»"]
# Upper case without Ё Ъ Ы Ь (absent from the training labels); lower case а..я, then ё.
_UPPER = [chr(c) for c in range(ord("А"), ord("Я") + 1) if chr(c) not in "ЁЪЫЬ"]
_LOWER = [chr(c) for c in range(ord("а"), ord("я") + 1)]

ALPHABET: list[str] = [PAD_TOKEN, SOS_TOKEN, *_PUNCT_1, *_DIGITS, *_PUNCT_2, *_UPPER, *_LOWER, "ё", EOS_TOKEN]

PAD = ALPHABET.index(PAD_TOKEN)
SOS = ALPHABET.index(SOS_TOKEN)
EOS = ALPHABET.index(EOS_TOKEN)
SPECIAL_IDS = frozenset({PAD, SOS, EOS})

CHAR_TO_ID: dict[str, int] = {ch: i for i, ch in enumerate(ALPHABET) if i not in SPECIAL_IDS}

assert len(ALPHABET) == 92, len(ALPHABET)
assert (PAD, SOS, EOS) == (0, 1, 91)


class UnsupportedCharacterError(OcrkitError, ValueError):
    """Text holds characters the model's alphabet cannot express."""

    def __init__(self, text: str, bad: list[str]) -> None:
        shown = ", ".join(repr(c) for c in bad)
        super().__init__(
            f"text {text!r} has characters outside the model's alphabet: {shown}",
            hint="the alphabet is Russian letters (no upper-case Ё Ъ Ы Ь), digits, space and "
            + "".join(_PUNCT_1[1:] + _PUNCT_2),
        )
        self.bad = bad


def encode(text: str, *, add_sos: bool = False, add_eos: bool = False) -> list[int]:
    """Token ids of ``text`` (one per character); optional SOS/EOS around them."""
    bad = sorted({ch for ch in text if ch not in CHAR_TO_ID})
    if bad:
        raise UnsupportedCharacterError(text, bad)
    ids = [CHAR_TO_ID[ch] for ch in text]
    if add_sos:
        ids.insert(0, SOS)
    if add_eos:
        ids.append(EOS)
    return ids


def decode(ids: Iterable[int]) -> str:
    """Text of a token sequence: stops at the first EOS, skips PAD and SOS."""
    out: list[str] = []
    for i in ids:
        i = int(i)
        if i == EOS:
            break
        if i in (PAD, SOS):
            continue
        out.append(ALPHABET[i])
    return "".join(out)
