"""Tiered prices and free tiers, applied to one monthly quantity.

Providers price by volume tiers counted on the month's total usage (S3 storage, Lambda GB-seconds, API
Gateway calls) and give some usage away (Lambda's 400,000 GB-s, GCP API Gateway's first 2M calls). Both
are data in the catalog; this module only walks a quantity through them and says how much fell where.
A free tier consumes the cheapest units first, i.e. the start of the first tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ocrkit.costing.results import ZERO


@dataclass(frozen=True)
class Tier:
    """Units up to `up_to` (cumulative, in the base unit) cost `price` each per price unit; None = no end."""

    up_to: Decimal | None
    price: Decimal


@dataclass(frozen=True)
class Slice:
    """Part of a quantity billed at one price. `free` is set for free-tier units and zero-price tiers."""

    quantity: Decimal
    price: Decimal
    lower: Decimal  # where this slice's tier starts
    upper: Decimal | None  # where it ends (None: open)
    free: bool
    from_free_tier: bool  # free because of the free tier (not because the tier's price is 0)


def apply_tiers(quantity: Decimal, tiers: list[Tier], free_quantity: Decimal = ZERO) -> list[Slice]:
    """Split `quantity` into priced slices. Zero-quantity slices are dropped; an empty list means no usage."""
    if quantity < 0:
        raise ValueError("quantity must not be negative")
    if not tiers or tiers[-1].up_to is not None:
        raise ValueError("the last tier must be open-ended")
    slices: list[Slice] = []
    free_left = max(free_quantity, ZERO)
    lower = ZERO
    for tier in tiers:
        upper = tier.up_to
        top = quantity if upper is None else min(quantity, upper)
        in_tier = max(top - lower, ZERO)
        if in_tier > 0:
            free_here = min(in_tier, free_left)
            free_left -= free_here
            if free_here > 0:
                slices.append(Slice(free_here, ZERO, lower, upper, free=True, from_free_tier=True))
            paid = in_tier - free_here
            if paid > 0:
                slices.append(
                    Slice(paid, tier.price, lower, upper, free=tier.price == 0, from_free_tier=False)
                )
        if upper is None or quantity <= upper:
            break
        lower = upper
    return _merge_free(slices)


def _merge_free(slices: list[Slice]) -> list[Slice]:
    """Adjacent free-tier slices (a free tier spanning two price tiers) read better as one."""
    merged: list[Slice] = []
    for piece in slices:
        if merged and piece.from_free_tier and merged[-1].from_free_tier:
            prev = merged[-1]
            merged[-1] = Slice(prev.quantity + piece.quantity, ZERO, prev.lower, piece.upper, True, True)
        else:
            merged.append(piece)
    return merged


def billable(quantity: Decimal, free_quantity: Decimal) -> Decimal:
    """Usage left after a flat free allowance (the report's own arithmetic for Lambda and functions)."""
    return max(quantity - free_quantity, ZERO)
