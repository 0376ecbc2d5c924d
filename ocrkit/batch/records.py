"""One output row per image: the batch contract's columns, shared by every format, sink and runner."""

from __future__ import annotations

from dataclasses import dataclass

#: the columns of every output format, in this order
COLUMNS = ("source", "text", "confidence", "error")


@dataclass(frozen=True)
class ResultRow:
    """``source`` identifies the image (see the sources); ``error`` is None when it was read."""

    source: str
    text: str = ""
    confidence: float | None = None
    error: str | None = None

    @classmethod
    def failed(cls, source: str, error: str) -> ResultRow:
        # a row is one line in every format: an error message never spans lines
        return cls(source=source, error=" ".join(str(error).split()) or "error")

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "text": self.text if self.error is None else None,
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
            "error": self.error,
        }
