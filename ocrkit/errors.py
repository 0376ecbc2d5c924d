"""Errors a user can act on. The CLI prints them as one line and exits 2; anything else is a bug."""

from __future__ import annotations


class OcrkitError(Exception):
    """A problem the user can fix: bad input, missing file, refused setting."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(OcrkitError):
    """A YAML file (scenario, catalog, deploy config) that cannot be used as written."""

    def __init__(self, path: object, field: str | None, problem: str, *, hint: str | None = None) -> None:
        where = f"{path}" + (f": {field}" if field else "")
        super().__init__(f"{where}: {problem}", hint=hint)
        self.path = path
        self.field = field
        self.problem = problem
