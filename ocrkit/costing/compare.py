"""The serving comparison: every cloud x option for one traffic, the recommendation, break-even traffic.

Pure: scenario, catalogs, profiles and traffic in; a ServingComparison out. A break-even point is where the
monthly costs of two options cross; it is found on a log grid from 10k to 10B requests a month and then
refined by bisection (costs are monotone in traffic, but step where an instance is added).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ocrkit.costing.capacity import ProfileBook, busy_fraction, gpu_speed, shipped_profiles
from ocrkit.costing.catalog import Catalog, load_catalog
from ocrkit.costing.profiles import load_profile
from ocrkit.costing.results import CLOUDS
from ocrkit.costing.scenario import LoadedScenario
from ocrkit.costing.serving import OPTIONS, Inputs, Quote, Unpriced, config_gaps, price_option
from ocrkit.costing.traffic import Traffic
from ocrkit.errors import ConfigError, OcrkitError
from ocrkit.resources import configs_dir

SWEEP_LOW, SWEEP_HIGH = Decimal(10_000), Decimal(10_000_000_000)
REPORT_OPTION = "gpu-endpoint"


def serving_catalog_dir() -> Path:
    return configs_dir() / "pricing" / "serving"


def serving_catalog(cloud: str, region: str) -> Catalog:
    path = serving_catalog_dir() / f"{cloud}-{region}.yaml"
    if not path.exists():
        shipped = sorted(p.stem.split("-", 1)[1] for p in serving_catalog_dir().glob(f"{cloud}-*.yaml"))
        raise OcrkitError(
            f"no {cloud.upper()} serving prices for region '{region}'; priced regions: {', '.join(shipped)}"
        )
    return load_catalog(path)


def parse_options(text: str) -> tuple[str, ...]:
    if text.strip().lower() == "all":
        return OPTIONS
    picked = tuple(o.strip().lower() for o in text.split(",") if o.strip())
    unknown = [o for o in picked if o not in OPTIONS]
    if unknown or not picked:
        raise OcrkitError(
            f"--serving: unknown option '{', '.join(unknown) or text}'; options: all, {', '.join(OPTIONS)}"
        )
    return picked


def profile_book(own: Path | None) -> ProfileBook:
    mine = load_profile(own) if own is not None else None
    return ProfileBook(profiles=tuple(shipped_profiles()), own=mine)


@dataclass(frozen=True)
class BreakEven:
    a: str  # "aws/function"
    b: str
    requests_per_month: Decimal


@dataclass(frozen=True)
class ServingComparison:
    scenario: str
    title: str
    traffic: Traffic
    hours: Decimal
    quotes: tuple[Quote, ...]
    unpriced: tuple[Unpriced, ...]
    recommended: dict[str, Quote | None]  # "overall", "aws", "gcp"
    break_even: tuple[BreakEven, ...]
    utilisation: dict[str, Decimal]  # cloud -> busy share of the report's endpoint
    catalogs: dict[str, Catalog]
    notes: tuple[str, ...]
    grid: tuple[Decimal, ...] = ()  # requests a month, 10k to 10B on a log scale (the chart's x axis)
    curves: dict[str, list[tuple[Decimal | None, bool]]] | None = None  # label -> (monthly, meets) on grid
    gaps: tuple[Unpriced, ...] = ()  # configurations of priced options that the region has no price for

    def price_dates(self) -> str:
        dates = sorted(e.as_of for c in self.catalogs.values() for e in c.data.prices.values())
        return f"{dates[0].isoformat()} to {dates[-1].isoformat()}" if dates else ""


def label(q: Quote | Unpriced) -> str:
    return f"{q.cloud}/{q.option}"


def compare(
    loaded: LoadedScenario,
    traffic: Traffic,
    *,
    options: tuple[str, ...] = OPTIONS,
    regions: dict[str, str] | None = None,
    profiles: ProfileBook,
    sweep_points: int = 50,
    clouds: tuple[str, ...] = CLOUDS,
) -> ServingComparison:
    scenario = loaded.scenario
    regions = dict(regions or {})
    books: dict[str, Catalog] = {}
    for cloud in (c for c in CLOUDS if c in clouds):
        usage = scenario.cloud(cloud)
        region = regions.get(cloud) or (usage.region if usage is not None else None)
        if region is not None:
            books[cloud] = serving_catalog(cloud, region)
    inputs = {
        cloud: Inputs(
            cloud=cloud, catalog=book, traffic=traffic, hours=scenario.hours_per_month, profiles=profiles
        )
        for cloud, book in books.items()
    }
    quotes: list[Quote] = []
    unpriced: list[Unpriced] = []
    gaps: list[Unpriced] = []
    for inp in inputs.values():
        for option in options:
            result = price_option(option, inp)
            if isinstance(result, Quote):
                quotes.append(result)
                gaps += config_gaps(option, inp)
            else:
                unpriced.append(result)
    if not quotes:
        raise OcrkitError(
            "no serving option could be priced: " + "; ".join(f"{label(u)}: {u.reason}" for u in unpriced)
        )
    recommended: dict[str, Quote | None] = {"overall": _cheapest(quotes)}
    for cloud in inputs:
        recommended[cloud] = _cheapest([q for q in quotes if q.cloud == cloud])
    pairs = _pairs(quotes, recommended)
    grid = sweep_grid(sweep_points)
    cache: dict[tuple[str, str, Decimal], tuple[Decimal, bool] | None] = {}
    curves = {label(q): [_cached(cache, inputs, q, r) or (None, False) for r in grid] for q in quotes}
    break_even = tuple(_break_evens(inputs, pairs, grid, cache))
    utilisation = {}
    for cloud, inp in inputs.items():
        report = inp.profiles.gpu(traffic.model, "T4")
        if report is not None:
            p50 = gpu_speed(report[0]).p50_ms
            utilisation[cloud] = busy_fraction(traffic.requests_per_month, p50, 1, scenario.hours_per_month)
    notes = tuple(traffic.assumptions)
    return ServingComparison(
        scenario=scenario.name,
        title=scenario.title,
        traffic=traffic,
        hours=scenario.hours_per_month,
        quotes=tuple(quotes),
        unpriced=tuple(unpriced),
        recommended=recommended,
        break_even=break_even,
        utilisation=utilisation,
        catalogs=books,
        notes=notes,
        grid=tuple(grid),
        curves=curves,
        gaps=tuple(gaps),
    )


def _cheapest(quotes: list[Quote]) -> Quote | None:
    meeting = [q for q in quotes if q.meets_slo]
    return min(meeting, key=lambda q: q.monthly) if meeting else None


def _pairs(quotes: list[Quote], recommended: dict[str, Quote | None]) -> list[tuple[Quote, Quote]]:
    """Every pair of rows; the recommendation against each cloud's report endpoint first."""
    best = recommended.get("overall")
    first = [(best, q) for q in quotes if best is not None and q.option == REPORT_OPTION and q is not best]
    rest = [
        (a, b)
        for i, a in enumerate(quotes)
        for b in quotes[i + 1 :]
        if (a, b) not in first and (b, a) not in first
    ]
    return first + rest


def cost_at(
    inputs: dict[str, Inputs], cloud: str, option: str, requests: Decimal
) -> tuple[Decimal, bool] | None:
    """Monthly cost and whether the target is met for one cloud x option at another traffic volume."""
    inp = inputs[cloud]
    scaled = Inputs(
        cloud=cloud,
        catalog=inp.catalog,
        traffic=inp.traffic.with_requests(requests, inp.hours),
        hours=inp.hours,
        profiles=inp.profiles,
        new_account=inp.new_account,
    )
    result = price_option(option, scaled)
    if isinstance(result, Unpriced):
        return None
    return result.monthly, result.meets_slo


def sweep_grid(points: int) -> list[Decimal]:
    lo, hi = math.log10(SWEEP_LOW), math.log10(SWEEP_HIGH)
    return [Decimal(str(round(10 ** (lo + (hi - lo) * i / (points - 1)), 0))) for i in range(points)]


def _inputs_of(comparison: ServingComparison, profiles: ProfileBook | None) -> dict[str, Inputs]:
    """The pricing inputs of a finished comparison (to price its options at another traffic)."""
    book = profiles or ProfileBook(profiles=tuple(shipped_profiles()))
    return {
        cloud: Inputs(
            cloud=cloud, catalog=cat, traffic=comparison.traffic, hours=comparison.hours, profiles=book
        )
        for cloud, cat in comparison.catalogs.items()
    }


def _cached(cache, inputs, q: Quote, r: Decimal) -> tuple[Decimal, bool] | None:
    key = (q.cloud, q.option, r)
    if key not in cache:
        cache[key] = cost_at(inputs, q.cloud, q.option, r)
    return cache[key]


def _break_evens(inputs, pairs: list[tuple[Quote, Quote]], grid: list[Decimal], cache) -> list[BreakEven]:
    def cost(q: Quote, r: Decimal) -> Decimal | None:
        found = _cached(cache, inputs, q, r)
        return found[0] if found else None

    out = []
    for a, b in pairs:
        previous = None
        for r in grid:
            ca, cb = cost(a, r), cost(b, r)
            if ca is None or cb is None:
                previous = None
                continue
            sign = (ca > cb) - (ca < cb)
            if previous is not None and sign != previous[1] and sign != 0 and previous[1] != 0:
                out.append(BreakEven(label(a), label(b), _bisect(a, b, previous[0], r, cost)))
                break  # the first crossing: later ones are instance steps of the same two curves
            previous = (r, sign)
    return out


def _bisect(a: Quote, b: Quote, lo: Decimal, hi: Decimal, cost) -> Decimal:
    """Requests a month where a and b cost the same (or where one steps across the other), to within 1e-7.

    Secant steps alternate with halvings: a crossing of two straight pieces is found in one secant step,
    a step (an instance added) by the halvings.
    """

    def diff(r: Decimal) -> Decimal:
        return cost(a, r) - cost(b, r)

    d_lo, d_hi = diff(lo), diff(hi)
    secant = True
    while hi - lo > max(Decimal(1), lo * Decimal("1e-7")):
        mid = ((lo + hi) / 2).to_integral_value()
        if secant and d_hi != d_lo:
            guess = (lo - d_lo * (hi - lo) / (d_hi - d_lo)).to_integral_value()
            if lo < guess < hi:
                mid = guess
        secant = not secant
        d_mid = diff(mid)
        if d_mid == 0:
            return mid
        if (d_mid > 0) == (d_lo > 0):
            lo, d_lo = mid, d_mid
        else:
            hi, d_hi = mid, d_mid
    return lo if d_lo == 0 else hi


def check_regions(values: list[str]) -> dict[str, str]:
    """--region us-west-2 / europe-west4: which cloud has a serving catalog for it; else one line."""
    out: dict[str, str] = {}
    for value in values:
        owners = [c for c in CLOUDS if (serving_catalog_dir() / f"{c}-{value}.yaml").exists()]
        if not owners:
            priced = sorted(p.stem for p in serving_catalog_dir().glob("*.yaml"))
            raise ConfigError(value, None, f"no serving prices for this region; priced: {', '.join(priced)}")
        out[owners[0]] = value
    return out
