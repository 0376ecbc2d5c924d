"""Traffic, not just volume: requests a month, the peak, the latency target and the payload.

A scenario's optional `traffic:` section is read into `Traffic`; `--requests 50M` and `--p95-ms N` make
quick what-ifs of it. Limits are generous but finite, so a typo (1e30 requests, a p95 of 0) is one sentence.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ocrkit.errors import OcrkitError

MAX_REQUESTS = Decimal("1e12")  # a trillion a month (~385,000 a second) is past any plan here
SECONDS_PER_HOUR = Decimal(3600)


class Traffic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_month: Annotated[Decimal, Field(gt=0, le=MAX_REQUESTS)]
    peak_rps: Annotated[Decimal, Field(gt=0, le=Decimal("1e7"))] | None = None
    peak_to_average: Annotated[Decimal, Field(ge=1, le=Decimal(10000))] | None = None
    p95_ms: Annotated[Decimal, Field(gt=0, le=Decimal(900000))]
    payload_kb: Annotated[Decimal, Field(gt=0, le=Decimal(1048576))]
    response_kb: Annotated[Decimal, Field(ge=0, le=Decimal(1048576))] = Decimal(1)
    model: Literal["report", "demo"] = "report"  # which model's speed profiles to use
    model_size_mb: Annotated[Decimal, Field(gt=0, le=Decimal(1e6))] = Decimal(176)
    # None: implied by the traffic (capacity.cold_share); a number: that share, as the planner states it
    cold_start_share: Annotated[Decimal, Field(ge=0, le=1)] | None = None
    min_instances: Annotated[int, Field(ge=1, le=1000)] = 1
    max_instances: Annotated[int, Field(ge=1, le=100000)] | None = None  # autoscaling ceiling (None: none)
    target_utilisation: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.6")
    assumptions: list[str] = []  # which figures are ocrkit's, not the report's (printed with the result)

    @model_validator(mode="after")
    def _peak(self) -> Traffic:
        if (self.peak_rps is None) == (self.peak_to_average is None):
            raise ValueError("give either 'peak_rps' or 'peak_to_average'")
        if self.max_instances is not None and self.max_instances < self.min_instances:
            raise ValueError("max_instances must be at least min_instances")
        return self

    def average_rps(self, hours_per_month: Decimal) -> Decimal:
        return self.requests_per_month / (hours_per_month * SECONDS_PER_HOUR)

    def peak(self, hours_per_month: Decimal) -> Decimal:
        """Requests per second at peak; never below the average."""
        avg = self.average_rps(hours_per_month)
        if self.peak_rps is not None:
            return max(self.peak_rps, avg)
        assert self.peak_to_average is not None
        return avg * self.peak_to_average

    def with_requests(self, requests: Decimal, hours_per_month: Decimal) -> Traffic:
        """The same traffic shape at another volume: a stated peak scales with it (peak-to-average kept)."""
        check_requests(requests)
        if self.peak_rps is None:
            return self.model_copy(update={"requests_per_month": requests})
        ratio = self.peak(hours_per_month) / self.average_rps(hours_per_month)
        return self.model_copy(
            update={"requests_per_month": requests, "peak_rps": None, "peak_to_average": ratio}
        )

    def with_p95(self, p95_ms: Decimal) -> Traffic:
        if not (0 < p95_ms <= 900000):
            raise OcrkitError(f"--p95-ms: {p95_ms} is not a latency target (give milliseconds, more than 0)")
        return self.model_copy(update={"p95_ms": p95_ms})


def check_requests(requests: Decimal) -> None:
    if not requests > 0:
        raise OcrkitError(f"requests a month must be more than 0 (got {requests})")
    if requests > MAX_REQUESTS:
        raise OcrkitError(f"{requests} requests a month is not a plan (at most {MAX_REQUESTS:,.0f})")


_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}


def parse_count(text: str, option: str = "--requests") -> Decimal:
    """'50M', '1.5B', '10k', '1e6', '1_000_000' -> a Decimal; anything else is one sentence."""
    match = re.fullmatch(r"\s*([0-9][0-9_.,]*(?:[eE][+-]?[0-9]+)?)\s*([kKmMbBgGtT]?)\s*", text)
    if not match:
        raise OcrkitError(f"{option}: '{text}' is not a count (e.g. 50M, 1.5B, 10k, 1000000)")
    try:
        value = Decimal(match.group(1).replace("_", "").replace(",", "")) * _SUFFIX[match.group(2).lower()]
    except InvalidOperation:
        raise OcrkitError(f"{option}: '{text}' is not a count (e.g. 50M, 1.5B, 10k, 1000000)") from None
    check_requests(value)
    return value
