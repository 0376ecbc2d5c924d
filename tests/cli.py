"""The console entry point run in-process, shared by every CLI test: (exit code, stdout, stderr)."""

from __future__ import annotations

from ocrkit.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """`ocrkit ARGV...` in-process; a SystemExit without an integer code counts as 0 (None) or 1."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
