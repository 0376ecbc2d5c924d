"""Image detection by content, and the three output formats written and read back."""

from __future__ import annotations

import pytest

from ocrkit.batch import formats
from ocrkit.batch.formats import OutputFormat, format_for
from ocrkit.batch.records import ResultRow
from ocrkit.batch.sniff import image_kind
from ocrkit.errors import OcrkitError
from tests.batch.conftest import SAMPLES


def test_images_are_recognised_by_their_first_bytes():
    assert image_kind((SAMPLES / "sample01.jpg").read_bytes()[:16]) == "jpeg"
    assert image_kind(b"\x89PNG\r\n\x1a\n" + b"\0" * 8) == "png"
    assert image_kind(b"RIFF\0\0\0\0WEBPVP8 ") == "webp"
    assert image_kind(b"P5\n64 64\n255\n") == "pnm"
    assert image_kind(b"II*\x00abcd") == "tiff"
    assert image_kind(b"filename\tlabel\n") is None
    assert image_kind(b"PK\x03\x04") is None
    assert image_kind(b"") is None


ROWS = [
    ResultRow("a/1.png", "привет, мир", 0.98765),
    ResultRow.failed("b.png", "not a readable image\n(truncated)"),
    ResultRow('c "quoted".png', 'текст "в кавычках"\tи таб', 0.5),
]


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_rows_round_trip_and_a_partial_last_line_is_not_a_row(fmt):
    data = formats.header(fmt) + formats.encode(ROWS, fmt)
    back = formats.decode(data, fmt)
    assert [r.source for r in back] == [r.source for r in ROWS]
    assert back[0].text == "привет, мир" and back[0].confidence == pytest.approx(0.9877)
    assert back[1].error == "not a readable image (truncated)" and back[1].confidence is None
    assert back[2].text == ROWS[2].text
    assert data.count(b"\n") == len(ROWS) + (fmt is not OutputFormat.jsonl)  # one line per row
    cut = data + formats.encode([ResultRow("d.png", "x", 0.1)], fmt)[:-5]
    assert [r.source for r in formats.decode(cut, fmt)] == [r.source for r in ROWS]


def test_format_from_the_name_or_the_option():
    assert format_for("out/r.JSONL") is OutputFormat.jsonl
    assert format_for("s3://b/r.csv") is OutputFormat.csv
    assert format_for("r.tsv") is OutputFormat.tsv
    assert format_for("r.txt", "csv") is OutputFormat.csv
    with pytest.raises(OcrkitError, match="cannot tell the output format"):
        format_for("results")
    with pytest.raises(OcrkitError, match="unknown output format"):
        format_for("r.jsonl", "xml")


def test_csv_has_the_contract_columns():
    assert formats.header(OutputFormat.csv) == b"source,text,confidence,error\n"
    assert formats.header(OutputFormat.tsv) == b"source\ttext\tconfidence\terror\n"
