"""Tiered prices and free tiers walked over one monthly quantity."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ocrkit.costing.tiers import Tier, apply_tiers, billable

S3 = [Tier(D(51200), D("0.023")), Tier(D(512000), D("0.022")), Tier(None, D("0.021"))]
GCP_GATEWAY = [Tier(D(2_000_000), D(0)), Tier(D(1_000_000_000), D(3)), Tier(None, D("1.5"))]


def _cost(slices) -> D:
    return sum((s.quantity * s.price for s in slices), D(0))


def test_single_open_tier_prices_everything_at_one_price():
    slices = apply_tiers(D(10), [Tier(None, D("0.023"))])
    assert [(s.quantity, s.price, s.free) for s in slices] == [(D(10), D("0.023"), False)]


def test_quantity_within_first_tier_stays_in_it():
    assert _cost(apply_tiers(D(60), S3)) == D("1.38")


def test_quantity_crossing_tier_boundaries_is_split():
    slices = apply_tiers(D(600_000), S3)
    assert [s.quantity for s in slices] == [D(51200), D(512000 - 51200), D(600_000 - 512000)]
    assert _cost(slices) == D(51200) * D("0.023") + D(460800) * D("0.022") + D(88000) * D("0.021")


def test_free_tier_consumes_the_start_of_the_first_tier():
    # Lambda: 625,000 GB-s with 400,000 free -> 225,000 billable at the first-tier rate
    tiers = [Tier(D(6e9), D("0.0000166667")), Tier(None, D("0.000015"))]
    slices = apply_tiers(D(625_000), tiers, free_quantity=D(400_000))
    assert [(s.quantity, s.free, s.from_free_tier) for s in slices] == [
        (D(400_000), True, True),
        (D(225_000), False, False),
    ]
    assert _cost(slices) == D("3.7500075")


def test_free_tier_larger_than_usage_leaves_nothing_to_pay():
    slices = apply_tiers(D(1_000_000), [Tier(None, D("0.2"))], free_quantity=D(1_000_000))
    assert len(slices) == 1 and slices[0].free and _cost(slices) == 0


def test_free_tier_spanning_two_tiers_reads_as_one_slice():
    tiers = [Tier(D(10), D(1)), Tier(None, D(2))]
    slices = apply_tiers(D(30), tiers, free_quantity=D(15))
    assert [(s.quantity, s.price, s.from_free_tier) for s in slices] == [
        (D(15), D(0), True),
        (D(15), D(2), False),
    ]


def test_zero_price_tier_is_marked_free_but_not_a_free_tier():
    # GCP API Gateway: the first 2M calls are a $0 tier, not an allowance
    one_million = apply_tiers(D(1_000_000), GCP_GATEWAY)
    assert [(s.quantity, s.free, s.from_free_tier) for s in one_million] == [(D(1_000_000), True, False)]
    three_million = apply_tiers(D(3_000_000), GCP_GATEWAY)
    assert [(s.quantity, s.price) for s in three_million] == [(D(2_000_000), D(0)), (D(1_000_000), D(3))]


def test_zero_quantity_gives_no_slices():
    assert apply_tiers(D(0), S3) == []


def test_negative_quantity_and_closed_last_tier_are_refused():
    with pytest.raises(ValueError):
        apply_tiers(D(-1), S3)
    with pytest.raises(ValueError):
        apply_tiers(D(1), [Tier(D(10), D(1))])


def test_billable_never_goes_below_zero():
    assert billable(D(3_000_000), D(1_000_000)) == D(2_000_000)
    assert billable(D(5), D(10)) == 0
