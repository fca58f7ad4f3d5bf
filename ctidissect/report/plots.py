"""Matplotlib figures of the analysis tables (no decoding here).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so nothing
accumulates in pyplot's global state and the functions work under any backend (the report
uses Agg); in Jupyter a returned Figure displays itself.  Times on axes are in seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.calls import Ladder
from .latency import answered_latencies


def literal(text: str) -> str:
    """Capture text drawn as-is: matplotlib would read ``$...$`` as mathtext (and can raise
    on it), so dollar signs are escaped."""
    return str(text).replace("$", r"\$")

# --------------------------------------------------------------------------- latency plots

LATENCY_TOP_TYPES = 8
"""Request types drawn separately in latency plots; the rest are pooled as "other"."""


def _top_types(answered: pd.DataFrame, top: int) -> tuple[list[str], pd.Series]:
    """The ``top`` most frequent request types and a per-row label (others -> "other")."""
    counts = answered["request"].value_counts()
    keep = list(counts.index[:top])
    labels = answered["request"].where(answered["request"].isin(keep), "other").astype(str)
    if (labels == "other").any():
        keep.append("other")
    return keep, labels


def _latency_figure(
    pairs: pd.DataFrame, figsize: tuple[float, float], title: str, legend: bool
) -> tuple[Figure, Any, pd.DataFrame]:
    """A titled figure with one axes (room on the right for a legend when ``legend``) and
    the answered requests of ``pairs`` to draw."""
    fig = Figure(figsize=figsize)
    if legend:
        fig.subplots_adjust(left=0.08, right=0.72, bottom=0.13, top=0.9)
    else:
        fig.subplots_adjust(left=0.08, right=0.97, bottom=0.15, top=0.88)
    ax = fig.add_subplot()
    ax.set_title(title)
    return fig, ax, answered_latencies(pairs)


def _empty(fig: Figure, ax, text: str = "no answered requests") -> Figure:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def latency_over_time_figure(
    pairs: pd.DataFrame,
    *,
    top: int = LATENCY_TOP_TYPES,
    log: bool | None = None,
    figsize: tuple[float, float] = (9.0, 4.0),
    title: str = "Request latency over time",
) -> Figure:
    """Scatter of each answered request's latency (seconds) against its time since the
    first request (seconds), one colour per request type (the ``top`` most frequent, the
    rest as "other").  The y axis is logarithmic when latencies span more than two decades
    (``log=None``), or as ``log`` says."""
    fig, ax, answered = _latency_figure(pairs, figsize, title, legend=True)
    if answered.empty:
        return _empty(fig, ax)
    t0 = float(answered["request_ts"].min())
    keep, labels = _top_types(answered, top)
    x = answered["request_ts"].to_numpy(dtype=float) - t0
    y = answered["latency_s"].to_numpy(dtype=float)
    for name in keep:
        mask = (labels == name).to_numpy()
        ax.scatter(x[mask], y[mask], s=8, alpha=0.7, label=f"{name} ({mask.sum()})")
    failed = answered["status"].isin(["failed", "late"]).to_numpy()
    if failed.any():
        ax.scatter(x[failed], y[failed], s=40, facecolors="none", edgecolors="red", linewidths=0.8, label="failed/late")
    positive = y[y > 0]
    if log is None:
        log = positive.size > 0 and positive.max() / max(positive.min(), 1e-9) > 100
    if log and positive.size:
        ax.set_yscale("log")
    ax.set_xlabel("time since first request (s)")
    ax.set_ylabel("latency (s)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def latency_cdf_figure(
    pairs: pd.DataFrame,
    *,
    top: int = LATENCY_TOP_TYPES,
    figsize: tuple[float, float] = (9.0, 4.0),
    title: str = "Latency distribution (CDF)",
) -> Figure:
    """Empirical cumulative distribution of the latency (seconds, log x axis) of every
    answered request, and of each of the ``top`` most frequent request types."""
    fig, ax, answered = _latency_figure(pairs, figsize, title, legend=True)
    if answered.empty:
        return _empty(fig, ax)
    keep, labels = _top_types(answered, top)
    lat = answered["latency_s"].to_numpy(dtype=float)
    floor = max(lat[lat > 0].min() / 2 if (lat > 0).any() else 1e-6, 1e-6)

    def draw(values: np.ndarray, **kw) -> None:
        xs = np.sort(np.maximum(values, floor))
        ys = np.arange(1, xs.size + 1) / xs.size
        ax.step(xs, ys, where="post", **kw)

    draw(lat, color="black", linewidth=2, label=f"all ({lat.size})")
    for name in keep:
        mask = (labels == name).to_numpy()
        draw(lat[mask], linewidth=1, label=f"{name} ({mask.sum()})")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    for q in (0.5, 0.9, 0.99):
        ax.axhline(q, color="0.7", linewidth=0.6, linestyle=":")
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("fraction of requests")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def latency_histogram_figure(
    pairs: pd.DataFrame,
    *,
    bins: int = 40,
    figsize: tuple[float, float] = (9.0, 3.5),
    title: str = "Latency histogram",
) -> Figure:
    """Histogram of answered-request latencies (seconds) on logarithmic bins, with the
    p50/p90/p99 marked (linear-interpolation percentiles, as in the latency tables)."""
    fig, ax, answered = _latency_figure(pairs, figsize, title, legend=False)
    if answered.empty:
        return _empty(fig, ax)
    lat = answered["latency_s"].to_numpy(dtype=float)
    positive = lat[lat > 0]
    low = positive.min() if positive.size else 1e-6
    high = max(lat.max(), low * 1.0001)
    if high / low > 10:
        edges = np.geomspace(low, high, bins + 1)
    else:
        span = max(lat.max() - lat.min(), abs(lat.max()) * 0.02, 1e-6)
        edges = np.linspace(lat.min() - span * 0.05, lat.max() + span * 0.05, bins + 1)
    ax.hist(np.maximum(lat, edges[0]), bins=edges, color="#4c72b0")
    if high / low > 10:
        ax.set_xscale("log")
    for q, style in ((50, "-"), (90, "--"), (99, ":")):
        value = float(np.percentile(lat, q, method="linear"))
        ax.axvline(value, color="#c44e52", linestyle=style, linewidth=1, label=f"p{q} {value:.4g} s")
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("requests")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return fig


def fanout_timeline_figure(
    incident: dict,
    *,
    figsize: tuple[float, float] = (9.0, 2.8),
    sla_s: float | None = None,
) -> Figure:
    """Timeline of one emergency or supervisor-assist incident (a fan-out row as a dict):
    the request at 0 s, its outcome (reply) and each recipient session's delivery, in
    seconds after the request.  Undelivered recipients are drawn at the right edge in red;
    ``sla_s`` draws the fan-out SLA as a vertical line."""
    recipients = incident.get("recipients") or []
    height = max(figsize[1], 1.2 + 0.35 * (len(recipients) + 2))
    fig = Figure(figsize=(figsize[0], height))
    fig.subplots_adjust(left=0.36, right=0.97, bottom=0.8 / height, top=1 - 0.45 / height)
    ax = fig.add_subplot()
    rows: list[tuple[str, float | None, str]] = [(f"{incident.get('request')} (requester)", 0.0, "black")]
    outcome_latency = incident.get("outcome_latency_s")
    outcome = incident.get("outcome") or "no reply"
    rows.append((f"reply: {outcome}", outcome_latency if outcome_latency == outcome_latency else None, "#4c72b0"))
    for rec in recipients:
        label = literal(f"{rec.get('role')} {rec.get('conn')} {rec.get('client_id') or ''}".rstrip())
        delay = rec.get("delay_s")
        delivered = bool(rec.get("delivered")) and delay is not None and delay == delay
        rows.append((label, float(delay) if delivered else None, "#55a868" if delivered else "#c44e52"))
    known = [r[1] for r in rows if r[1] is not None]
    right = max([*known, sla_s or 0.0, 0.001]) * 1.15
    for i, (_label, x, color) in enumerate(rows):
        if x is None:
            ax.plot([right], [i], marker="x", color="#c44e52", markersize=9)
            ax.text(right, i, "  not delivered", va="center", color="#c44e52", fontsize="small")
        else:
            ax.plot([0, x], [i, i], color=color, linewidth=1, alpha=0.5)
            ax.plot([x], [i], marker="o", color=color)
            ax.text(x, i, f"  {x * 1000:.1f} ms", va="center", fontsize="small")
    if sla_s is not None:
        ax.axvline(sla_s, color="0.5", linestyle="--", linewidth=1)
        ax.text(sla_s, -0.45, f" SLA {sla_s:g} s", color="0.4", fontsize="small", va="bottom")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlim(-right * 0.02, right * 1.35)
    ax.set_xlabel("seconds after the request")
    ax.set_title(f"{incident.get('request')} frame {incident.get('request_frame')}")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


# --------------------------------------------------------------------------- call ladder


def call_ladder_figure(
    ladder: Ladder, *, figsize: tuple[float, float] | None = None, title: str | None = None
) -> Figure:
    """Ladder diagram of one call (a :class:`ctidissect.analysis.Ladder`, e.g. from
    ``analysis.ladder(call_id)``): one lifeline per CTI Server on the left and one per
    session (labelled with role and ClientID), one arrow per message in time order - from
    the session to its server for a request the client sent, the other way for what the
    server sent - labelled with the message name and EventCause (blue: sent by the client;
    red: an event with an EventCause; green: other server messages).  Rows are evenly spaced
    (messages microseconds apart stay readable); each row is annotated with its frame and
    the time in seconds since the first message."""
    from matplotlib.figure import Figure as _Figure

    servers: list[str] = []
    for conn in ladder.columns:
        server = ladder.servers.get(conn, "")
        if server not in servers:
            servers.append(server)
    lanes = [f"CTI Server\n{s}" for s in servers] + [
        literal(ladder.labels.get(c, c)).replace(" ", "\n", 1) for c in ladder.columns
    ]
    x_of_server = {s: i for i, s in enumerate(servers)}
    x_of_conn = {c: len(servers) + i for i, c in enumerate(ladder.columns)}
    rows = ladder.rows
    width = max(6.0, 2.2 * len(lanes) + 1.5)
    height = max(3.0, 0.42 * len(rows) + 1.8)
    fig = _Figure(figsize=figsize or (width, height), layout="constrained")
    ax = fig.add_subplot()
    if title is None:
        title = "Call ladder: " + ", ".join(
            f"ConnectionCallID {c.connection_call_id}" + (f" ({c.connection_device_id})" if c.connection_device_id else "")
            for c in ladder.calls
        )
    ax.set_title(literal(title) if ladder.calls else "Call ladder: no call")
    n = len(rows)
    for x in range(len(lanes)):
        ax.plot([x, x], [-0.5, n - 0.5], color="0.6", linewidth=1, zorder=1)
    for y, row in enumerate(rows):
        if row.conn is None or row.conn not in x_of_conn:
            continue
        xs = x_of_conn[row.conn]
        xv = x_of_server[ladder.servers.get(row.conn, "")]
        start, end = (xs, xv) if row.direction == "c2s" else (xv, xs)
        color = "tab:blue" if row.direction == "c2s" else "tab:red" if row.cause else "tab:green"
        ax.annotate("", xy=(end, y), xytext=(start, y), arrowprops={"arrowstyle": "->", "color": color, "lw": 1.2})
        label = row.name + (f"\n{row.cause}" if row.cause else "")
        ax.text((start + end) / 2, y - 0.12, label, ha="center", va="bottom", fontsize=7, color="0.15")
        rel = f"{row.rel_s:.3f}s" if row.rel_s is not None else ""
        ax.text(-0.35, y, f"#{row.frame} {rel}", ha="right", va="center", fontsize=7, color="0.3")
    ax.set_xlim(-1.6, len(lanes) - 0.5)
    ax.set_ylim(n - 0.5 + 0.3, -1.0)
    ax.set_xticks(range(len(lanes)))
    ax.set_xticklabels(lanes, fontsize=7)
    ax.xaxis.tick_top()
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if not rows:
        ax.text(0.5, 0.5, "no messages", ha="center", va="center", transform=ax.transAxes, color="0.4")
    return fig
