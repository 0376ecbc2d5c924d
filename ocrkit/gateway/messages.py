"""Provider-neutral request and response values: what every entry point converts to and from."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header mapping. Repeated headers are joined with ", "."""

    __slots__ = ("_items",)

    def __init__(self, source: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        items: dict[str, tuple[str, str]] = {}
        pairs = source.items() if isinstance(source, Mapping) else (source or ())
        for name, value in pairs:
            if value is None:
                continue
            key = str(name).lower()
            if key in items:
                items[key] = (items[key][0], f"{items[key][1]}, {value}")
            else:
                items[key] = (str(name), str(value))
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as the gateway sees it.

    `is_base64` is API Gateway's `isBase64Encoded`: the body holds the base64 text of the real bytes.
    """

    method: str
    path: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    is_base64: bool = False
    query: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))
        body = self.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is None:
            body = b""
        elif not isinstance(body, bytes):
            body = bytes(body)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "method", self.method.upper())

    @property
    def content_type(self) -> str:
        """The media type alone, lower-cased, without parameters ("" when absent)."""
        return media_type(self.headers.get("content-type", ""))


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        for name, value in self.headers.items():
            if name.lower() == "content-type":
                return media_type(value)
        return ""


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()
