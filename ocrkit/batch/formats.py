"""The output formats: JSONL (one object per image), CSV and TSV (a header line, then one row each).

Each format encodes rows to bytes and parses complete rows back (``--resume`` reads which sources
are done). Rows are one line each in every format (error messages are flattened to one line).
"""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum

from ocrkit.batch.records import COLUMNS, ResultRow
from ocrkit.errors import OcrkitError


class OutputFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"


_SUFFIXES = {".jsonl": OutputFormat.jsonl, ".csv": OutputFormat.csv, ".tsv": OutputFormat.tsv}


def format_for(name: str, explicit: str | OutputFormat | None = None) -> OutputFormat:
    """``--format`` when given, else the RESULTS name's extension (``.jsonl``, ``.csv``, ``.tsv``)."""
    if explicit:
        try:
            return OutputFormat(str(explicit).lower())
        except ValueError:
            raise OcrkitError(f"unknown output format {explicit!r}: choose jsonl, csv or tsv") from None
    lowered = name.lower()
    for suffix, fmt in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return fmt
    raise OcrkitError(
        f"{name}: cannot tell the output format from the name",
        hint="end it in .jsonl, .csv or .tsv, or pass --format jsonl|csv|tsv",
    )


def _delimiter(fmt: OutputFormat) -> str:
    return "\t" if fmt is OutputFormat.tsv else ","


def header(fmt: OutputFormat) -> bytes:
    """What a new file starts with (the column names for CSV / TSV, nothing for JSONL)."""
    if fmt is OutputFormat.jsonl:
        return b""
    buf = io.StringIO()
    csv.writer(buf, delimiter=_delimiter(fmt), lineterminator="\n").writerow(COLUMNS)
    return buf.getvalue().encode()


def encode(rows: list[ResultRow], fmt: OutputFormat) -> bytes:
    if fmt is OutputFormat.jsonl:
        return "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in rows).encode()
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=_delimiter(fmt), lineterminator="\n")
    for r in rows:
        j = r.to_json()
        writer.writerow(
            [
                j["source"],
                j["text"] or "",
                "" if j["confidence"] is None else f"{j['confidence']:.4f}",
                j["error"] or "",
            ]
        )
    return buf.getvalue().encode()


def decode(data: bytes, fmt: OutputFormat) -> list[ResultRow]:
    """Complete rows of ``data`` (a partial last line, left by a crash mid-write, is not a row)."""
    text = data.decode("utf-8", errors="replace")
    end = text.rfind("\n")
    text = text[: end + 1] if end >= 0 else ""
    if fmt is OutputFormat.jsonl:
        rows = []
        for line in text.splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            rows.append(
                ResultRow(obj["source"], obj.get("text") or "", obj.get("confidence"), obj.get("error"))
            )
        return rows
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(fmt))
    rows = []
    for i, fields in enumerate(reader):
        if i == 0 and tuple(fields) == COLUMNS:
            continue
        if len(fields) != len(COLUMNS):
            raise ValueError(f"row {i + 1} has {len(fields)} columns, not {len(COLUMNS)}")
        source, text_, conf, error = fields
        rows.append(ResultRow(source, text_, float(conf) if conf else None, error or None))
    return rows
