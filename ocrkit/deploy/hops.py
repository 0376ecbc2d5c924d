"""Request limits along a chain of hops (API in front, function, model endpoint), checked before deploying.

Each hop caps the request it carries and may carry the body base64-encoded (API Gateway hands Lambda a
binary body as base64: x4/3) inside an envelope (the event JSON). The largest image a client can send is
the tightest hop's cap, in raw bytes. Timeouts must shrink along the chain, so that each hop answers
before the one in front of it gives up and the client sees the inner hop's clear error, not a bare 503.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Hop:
    name: str
    max_bytes: int  # what the hop accepts, as it carries the request
    growth: Fraction = Fraction(1)  # encoded size / raw size (4/3 for base64)
    overhead_bytes: int = 0  # envelope around the body (event JSON, headers)

    @property
    def max_raw_bytes(self) -> int:
        """The largest raw body that fits this hop once encoded and wrapped."""
        return math.floor((self.max_bytes - self.overhead_bytes) / self.growth)

    def describe(self) -> str:
        text = f"{self.name} accepts {fmt_bytes(self.max_bytes)}"
        if self.growth != 1:
            text += f" (base64: x{self.growth.numerator}/{self.growth.denominator})"
        return text


def tightest(hops: list[Hop]) -> Hop:
    return min(hops, key=lambda h: h.max_raw_bytes)


@dataclass(frozen=True)
class Timeout:
    field: str  # config field that sets it
    name: str  # hop in words
    seconds: float


def timeout_problem(chain: list[Timeout]) -> tuple[str, str] | None:
    """(field, problem) for the first timeout that is not shorter than the one in front of it."""
    for outer, inner in zip(chain, chain[1:], strict=False):
        if not inner.seconds < outer.seconds:
            return (
                inner.field,
                f"{inner.name} timeout ({inner.seconds:g} s) must be shorter than the {outer.name} timeout "
                f"({outer.seconds:g} s, {outer.field}), so that it answers before the hop in front gives up",
            )
    return None


def fmt_bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.2f} MiB ({n:,} bytes)"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB ({n:,} bytes)"
    return f"{n:,} bytes"


def check_image_fits(max_image_bytes: int, hops: list[Hop], path: object, field: str) -> None:
    """Refuse a configured image size that some hop of the request path cannot carry."""
    from ocrkit.errors import ConfigError

    limit = tightest(hops)
    if max_image_bytes > limit.max_raw_bytes:
        raise ConfigError(
            path,
            field,
            f"{fmt_bytes(max_image_bytes)} does not fit the tightest hop: {limit.describe()}, "
            f"so an image can be at most {fmt_bytes(limit.max_raw_bytes)}",
            hint="; ".join(h.describe() for h in hops),
        )
