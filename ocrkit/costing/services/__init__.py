"""Priced services, Infracost style: each declares its usage keys (a pydantic model with defaults) and
turns usage into cost components priced from the catalog by key, with the providers' published rules.

`PricingContext.charge` is the one place a quantity meets a catalog price: it walks the quantity through
the entry's tiers and free tier and returns one line per slice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ocrkit.costing.catalog import Catalog, FreeTier, PriceEntry
from ocrkit.costing.results import ZERO, LineItem, fmt_num
from ocrkit.costing.tiers import Slice, apply_tiers
from ocrkit.errors import ConfigError

# A month's usage beyond this is a typo (1e30 requests), not a plan: refuse it with one sentence rather
# than let it overflow the arithmetic and printing further down.
MAX_QUANTITY = Decimal("1e15")
NonNegative = Annotated[Decimal, Field(ge=0, le=MAX_QUANTITY)]


class Usage(BaseModel):
    """Base of every usage block: unknown keys are errors, so a typo never silently prices as zero."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


@dataclass(frozen=True)
class ServiceDef:
    id: str  # key in the scenario YAML
    label: str  # as a planner reads it
    usage: type[Usage]
    price: Callable[[Any, PricingContext], list[LineItem]]  # the list method's pricer


@dataclass(frozen=True)
class PricingContext:
    """What a pricer may consult besides its usage: the catalog and the scenario's billing settings."""

    cloud: str
    catalog: Catalog
    scenario_path: str
    hours_per_month: Decimal
    new_account: bool = False  # AWS: a new account's 12-month free tier applies

    def entry(self, price_key: str, field: str) -> PriceEntry:
        """The catalog entry, or an error naming the scenario field that asked for an unknown price."""
        if not self.catalog.has(price_key):
            raise ConfigError(
                self.scenario_path,
                f"{self.cloud}.{field}",
                f"no price '{price_key}' in catalog {self.catalog.info().path}",
                hint="use a type the catalog lists, or add it to a copy of the catalog and pass --catalog",
            )
        return self.catalog.entry(price_key)

    def free_tier(self, entry: PriceEntry, location: str | None = None) -> tuple[Decimal, str]:
        """The free quantity that applies here and why (or why not)."""
        tier = entry.free_tier
        if tier is None:
            return ZERO, ""
        reason = self._free_tier_refusal(tier, location or self.catalog.region)
        return (ZERO, reason) if reason else (tier.quantity, tier.note)

    def _free_tier_refusal(self, tier: FreeTier, location: str) -> str:
        if tier.condition == "new_account_12_months" and not self.new_account:
            what = tier.note or "a free tier for a new account's first 12 months"
            return f"no free tier: {what} (scenario {self.cloud}.new_account_free_tier is off)"
        if tier.regions is not None and location not in tier.regions:
            covers = tier.note or "the free tier covers " + ", ".join(tier.regions)
            return f"no free tier in {location}: {covers}"
        return ""

    def charge(
        self,
        *,
        service: str,
        label: str,
        key: str,
        item: str,
        quantity: Decimal,
        price_key: str,
        field: str,
        note: str = "",
        location: str | None = None,
        always_on: bool = False,
        commitment_ref: tuple[str, str] | None = None,
        assumptions: tuple[str, ...] = (),
    ) -> list[LineItem]:
        """Price `quantity` of a catalog entry: one line per tier/free-tier slice (one line if unused)."""
        entry = self.entry(price_key, field)
        free_quantity, free_note = self.free_tier(entry, location)
        slices = apply_tiers(quantity, entry.tier_list(), free_quantity)
        common = dict(
            service=service,
            service_label=label,
            key=key,
            unit=entry.unit,
            price_per=entry.per,
            basis="catalog",
            price_key=price_key,
            always_on=always_on,
            commitment_ref=commitment_ref,
            assumptions=assumptions,
        )
        if not slices:
            return [
                LineItem.priced(item=item, quantity=ZERO, unit_price=entry.list_price, note=note, **common)
            ]
        lines = []
        multi_tier = entry.tiers is not None and len(entry.tiers) > 1
        beyond_first = any(s.lower > 0 for s in slices if not s.from_free_tier)
        for piece in slices:
            text, why = item, note
            if piece.from_free_tier:
                text, why = f"{item}, free tier", free_note
            elif multi_tier and (beyond_first or piece.free):
                text = f"{item}, {_tier_words(piece, entry.unit)}"
                if piece.free:
                    why = _join(
                        note, f"the first {fmt_num(piece.upper or ZERO)} {entry.unit} a month are free"
                    )
            if not piece.from_free_tier and free_note and free_quantity == 0:
                why = _join(why, free_note)  # a free tier that does not apply here, said once per line
            lines.append(
                LineItem.priced(
                    item=text,
                    quantity=piece.quantity,
                    unit_price=piece.price,
                    note=why,
                    free=piece.free,
                    **common,
                )
            )
        return lines


def _tier_words(piece: Slice, unit: str) -> str:
    if piece.lower == 0 and piece.upper is not None:
        return f"first {fmt_num(piece.upper)} {unit}"
    if piece.upper is None:
        return f"over {fmt_num(piece.lower)} {unit}"
    return f"{fmt_num(piece.lower)} to {fmt_num(piece.upper)} {unit}"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
