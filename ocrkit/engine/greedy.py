"""Pieces of greedy decoding that both engines share and that need no tensor library.

``draft`` is the n-gram lookahead of the fast decoder: when one image is left, guess the next tokens
by copying what followed the latest earlier occurrence of the last three (or two) tokens, and check
the guess in the same pass. The torch fast decoder and the ONNX engine import it from here, so that
they verify the same drafts and take the same number of passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ocrkit.core_model.alphabet import EOS, PAD, SPECIAL_IDS, decode
from ocrkit.prediction import Prediction

#: Lookahead drafts: first try this many tokens, double after a fully accepted draft, up to the max.
DRAFT_MIN = 4
DRAFT_MAX = 16


def draft(seq: list[int], limit: int) -> list[int]:
    """Guess the next tokens by copying what followed the latest earlier occurrence of the last
    three (or two) tokens -- n-gram "prompt lookup". Greedy decoders that start repeating
    themselves (random weights always, trained ones on noise) then verify many tokens per pass.
    Never drafts PAD (a PAD input changes the attention mask)."""
    if limit <= 0:
        return []
    last = len(seq)
    for n in (3, 2):
        if last <= n:
            continue
        pattern = seq[last - n :]
        for j in range(last - n - 1, -1, -1):
            if seq[j : j + n] == pattern:
                out: list[int] = []
                ext = seq + out
                src = j + n
                while len(out) < limit:
                    nxt = ext[src]
                    if nxt in (PAD, EOS):
                        break
                    out.append(nxt)
                    ext.append(nxt)
                    src += 1
                return out
    return []


def accept(drafted: list[int], got: list[int]) -> tuple[list[int], int]:
    """The tokens a verified draft yields: the longest correct prefix plus the model's own next token
    (cut after EOS), and how many drafted tokens were accepted."""
    accepted = 0
    while accepted < len(drafted) and got[accepted] == drafted[accepted]:
        accepted += 1
    new = got[: accepted + 1]
    if EOS in new:
        new = new[: new.index(EOS) + 1]
    return new, accepted


@dataclass
class Decoded:
    """One image's greedy decoding: generated ids (EOS included when emitted) and their probabilities."""

    tokens: list[int]
    probs: list[float]
    eos: bool = field(default=False)
    #: decoder passes this image took part in (fewer than ``len(tokens)`` when lookahead drafts hit)
    passes: int = 0

    @property
    def text(self) -> str:
        return decode(self.tokens)

    @property
    def char_probs(self) -> list[float]:
        """Probabilities of the tokens that became characters of ``text`` (in order)."""
        out = []
        for tok, p in zip(self.tokens, self.probs, strict=True):
            if tok == EOS:
                break
            if tok not in SPECIAL_IDS:
                out.append(p)
        return out

    @property
    def confidence(self) -> float:
        """Mean probability of every generated token, EOS included (0.0 when nothing was generated)."""
        return float(sum(self.probs) / len(self.probs)) if self.probs else 0.0


def to_prediction(d: Decoded) -> Prediction:
    text_tokens = d.tokens[: d.tokens.index(EOS)] if d.eos else list(d.tokens)
    return Prediction(text=d.text, confidence=d.confidence, char_probs=d.char_probs, tokens=text_tokens)
