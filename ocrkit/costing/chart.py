"""The serving comparison as a picture: monthly cost against requests a month, one curve per cloud x option.

PNG through matplotlib (Agg, no display needed) and a self-contained HTML through plotly with its
JavaScript inlined, so the file opens offline and can be pasted into a budget memo. Both are imported
inside the functions: the costing engine itself needs neither.
"""

from __future__ import annotations

from pathlib import Path

from ocrkit.costing.compare import ServingComparison
from ocrkit.errors import OcrkitError

COLORS = {
    "aws": ("#ff9900", "#c45500", "#8c6d00", "#e47911"),
    "gcp": ("#4285f4", "#0f9d58", "#db4437", "#7b1fa2"),
}
DASHES = ("solid", "dashed", "dashdot", "longdash")
MPL_DASH = {"solid": "-", "dashed": "--", "dashdot": "-.", "longdash": (0, (9, 3))}
PLOTLY_DASH = {"solid": "solid", "dashed": "dash", "dashdot": "dashdot", "longdash": "longdash"}
FLOOR = 0.01  # a $0 month (inside every free tier) cannot sit on a log axis: drawn at $0.01


def _title(c: ServingComparison) -> tuple[str, str]:
    t = c.traffic
    title = f"Monthly serving cost vs traffic: {c.scenario} (p95 target {t.p95_ms:,.0f} ms, {t.model} model)"
    sub = (
        f"Prices as of {c.price_dates()}; regions "
        + ", ".join(f"{cl.upper()} {cat.region}" for cl, cat in c.catalogs.items())
        + ".\nThin dotted: misses the latency target; a $0 month (free tier) is drawn at $0.01."
    )
    return title, sub


def _styles(c: ServingComparison) -> dict[str, tuple[str, str]]:
    out, seen = {}, {"aws": 0, "gcp": 0}
    for name in c.curves or {}:
        cloud = name.split("/")[0]
        i = seen[cloud]
        seen[cloud] += 1
        out[name] = (COLORS[cloud][i % 4], DASHES[i % 4])
    return out


def write_chart(c: ServingComparison, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in (".png", ".html"):
        raise OcrkitError(f"--chart: '{path}' must end in .png or .html")
    if not path.parent.exists():
        raise OcrkitError(f"--chart: folder '{path.parent}' does not exist")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        (_png if suffix == ".png" else _html)(c, tmp)
    except ImportError as exc:
        raise OcrkitError(f"--chart needs {exc.name}", hint="pip install 'ocrkit[chart]'") from None
    tmp.replace(path)


def _y(value) -> float | None:
    return None if value is None else max(float(value), FLOOR)


def _png(c: ServingComparison, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    title, sub = _title(c)
    fig, ax = plt.subplots(figsize=(12, 7), dpi=110)
    x = [float(r) for r in c.grid]
    nan = float("nan")
    for name, (color, dash) in _styles(c).items():
        points = (c.curves or {})[name]
        ys = [_y(v) for v, _ in points]
        ok = [_y(v) if m else None for v, m in points]
        ax.plot(x, [y if y is not None else nan for y in ys], color=color, lw=1, ls=":", alpha=0.8)
        ax.plot(
            x, [y if y is not None else nan for y in ok], color=color, lw=2.2, ls=MPL_DASH[dash], label=name
        )
    now = float(c.traffic.requests_per_month)
    ax.axvline(now, color="grey", lw=1)
    ax.annotate(
        f"scenario: {now:,.0f}/month",
        (now, 0.98),
        xycoords=("data", "axes fraction"),
        rotation=90,
        va="top",
        ha="right",
        fontsize=8,
        color="dimgrey",
    )
    keys = []
    for n, be in enumerate(c.break_even, 1):
        r, y = float(be.requests_per_month), _at(c, be.a, float(be.requests_per_month))
        keys.append(f"{n}: {be.a} = {be.b} at {r / 1e6:,.1f}M/month")
        if y is None:
            continue
        ax.plot([r], [y], "ko", ms=4)
        ax.annotate(
            str(n), (r, y), fontsize=8, fontweight="bold", xytext=(3, -10), textcoords="offset points"
        )
    if keys:
        ax.text(
            1.01,
            0.0,
            "Break-even traffic\n" + "\n".join(keys),
            transform=ax.transAxes,
            fontsize=7,
            va="bottom",
            ha="left",
            family="monospace",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Requests per month (log scale)")
    ax.set_ylabel("Monthly cost, USD on demand (log scale)")
    # "$" starts matplotlib's math mode: escape it so that prices print as written.
    ax.set_title((title + "\n" + sub).replace("$", r"\$"), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, format="png", bbox_inches="tight")
    plt.close(fig)


def _at(c: ServingComparison, name: str, r: float) -> float | None:
    """The curve's value at the grid point nearest r (where a break-even marker sits)."""
    points = (c.curves or {}).get(name)
    if not points:
        return None
    grid = [float(g) for g in c.grid]
    i = min(range(len(grid)), key=lambda k: abs(grid[k] - r))
    return _y(points[i][0])


def _html(c: ServingComparison, path: Path) -> None:
    import plotly.graph_objects as go

    title, sub = _title(c)
    fig = go.Figure()
    x = [float(r) for r in c.grid]
    for name, (color, dash) in _styles(c).items():
        points = (c.curves or {})[name]
        ys = [_y(v) for v, _ in points]
        ok = [_y(v) if m else None for v, m in points]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=ys,
                name=f"{name} (misses target)",
                mode="lines",
                line=dict(color=color, width=1, dash="dot"),
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x, y=ok, name=name, mode="lines", line=dict(color=color, width=3, dash=PLOTLY_DASH[dash])
            )
        )
    fig.add_vline(
        x=float(c.traffic.requests_per_month),
        line_color="grey",
        annotation_text=f"scenario {float(c.traffic.requests_per_month):,.0f}/month",
    )
    for n, be in enumerate(c.break_even, 1):
        r = float(be.requests_per_month)
        fig.add_trace(
            go.Scatter(
                x=[r],
                y=[_at(c, be.a, r)],
                mode="markers+text",
                text=[str(n)],
                textposition="bottom right",
                name=f"{n}: {be.a} = {be.b} at {r:,.0f}/month",
                marker=dict(color="black", size=7),
            )
        )
    fig.update_layout(
        title=dict(text=f"{title}<br><sup>{sub.replace(chr(10), ' ')}</sup>"),
        xaxis=dict(type="log", title="Requests per month (log scale)"),
        yaxis=dict(type="log", title="Monthly cost, USD on demand (log scale)"),
    )
    path.write_text(fig.to_html(include_plotlyjs=True, full_html=True), encoding="utf-8")
