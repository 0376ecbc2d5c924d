"""What every command prints with: the --format option's values, the two consoles, help text that flows,
and money as the tables show it. One copy, so that all commands look and behave alike."""

from __future__ import annotations

import inspect
from decimal import Decimal
from enum import StrEnum

from rich.console import Console


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


FORMAT_HELP = "Output as rich tables or as JSON on stdout."


def stdout() -> Console:
    return Console(highlight=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def flow(text: str) -> str:
    """A help text's paragraphs as single lines (typer re-wraps them to the terminal)."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def money(value: Decimal | None, places: int = 2) -> str:
    """`$1,234.57`; `n/a` when there is no price. Rounded only here, when printed."""
    if value is None:
        return "n/a"
    quantum = Decimal(1).scaleb(-places)
    return f"${value.quantize(quantum):,}"
