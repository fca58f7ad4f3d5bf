"""Request latency statistics from a pairs DataFrame (pure pandas/numpy, no decoding).

Input is the pairs table built by :func:`ctidissect.report.frames.pairs_frame` (one row per
request, or per orphan reply), whose columns include ``conn``, ``invoke_id``, ``request``,
``request_frame``, ``request_ts``, ``response``, ``response_frame``, ``latency_s`` and
``status`` (``ok``, ``failed``, ``unanswered``, ``late``, ``orphan``, ``duplicate``).  An
optional ``capture`` column (several capture files in one report) is carried along.

Definitions (every time in **seconds**):

* ``count`` - requests in the group (orphan replies, which have no request, are left out);
* ``answered`` - requests with a reply, i.e. a non-null ``latency_s`` (status ``ok``,
  ``failed`` - answered by FAILURE_CONF / CONTROL_FAILURE_CONF - or ``late``);
* ``failed`` / ``unanswered`` / ``late`` / ``duplicate`` - requests with that status;
* ``min_s``, ``p50_s``, ``p90_s``, ``p99_s``, ``max_s``, ``mean_s`` - over the latencies of
  the answered requests (a failure reply is still a reply: its latency counts); NaN when no
  request of the group was answered.

Percentiles use linear interpolation between closest ranks, numpy's ``method="linear"``
(the default of :func:`numpy.percentile` and of :meth:`pandas.Series.quantile`): for sorted
latencies ``x[0..n-1]`` the q-th percentile is ``x[i] + (x[i+1] - x[i]) * f`` where
``i + f = (n - 1) * q / 100``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .columns import LATENCY_STAT_COLUMNS

PERCENTILE_METHOD = "linear"
"""numpy percentile method used for p50/p90/p99 (see the module docstring)."""

PERCENTILES = (50, 90, 99)

GROUPINGS = ("type", "session", "client")
"""Values of ``by``: per request type, per session (TCP connection), per ClientID."""

UNKNOWN_CLIENT = "(unknown)"
"""ClientID used for sessions whose OPEN_REQ was not captured."""

ALL_ROW = "(all)"
"""Key of the optional total row."""



SLOWEST_COLUMNS: tuple[str, ...] = (
    "conn",
    "invoke_id",
    "request",
    "request_frame",
    "request_ts",
    "response",
    "response_frame",
    "latency_s",
    "status",
)


def _session_keys(pairs: pd.DataFrame) -> list[str]:
    return ["capture", "conn"] if "capture" in pairs.columns else ["conn"]


def requests_only(pairs: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``pairs`` that are requests (orphan replies dropped)."""
    if pairs.empty:
        return pairs
    mask = pairs["request"].notna() & (pairs["status"] != "orphan")
    return pairs.loc[mask]


def attach_sessions(pairs: pd.DataFrame, sessions: pd.DataFrame | None) -> pd.DataFrame:
    """``pairs`` with ``client_id`` and ``role`` columns looked up from a sessions table by
    conn (and capture, when both tables have one).  Missing ClientIDs become
    :data:`UNKNOWN_CLIENT`, missing roles ``unknown``."""
    out = pairs.copy()
    keys = _session_keys(pairs)
    if sessions is not None and not sessions.empty and all(k in sessions.columns for k in keys):
        cols = [c for c in ("client_id", "role") if c in sessions.columns]
        lookup = sessions[keys + cols].drop_duplicates(subset=keys, keep="last")
        out = out.drop(columns=[c for c in cols if c in out.columns]).merge(lookup, on=keys, how="left")
    for col, missing in (("client_id", UNKNOWN_CLIENT), ("role", "unknown")):
        if col not in out.columns:
            out[col] = missing
        out[col] = out[col].astype(object).where(out[col].notna() & (out[col].astype(object) != ""), missing)
    return out


def _stats(group: pd.DataFrame) -> dict[str, float | int]:
    lat = group["latency_s"].to_numpy(dtype="float64", na_value=np.nan)
    lat = lat[~np.isnan(lat)]
    status = group["status"]
    row: dict[str, float | int] = {
        "count": int(len(group)),
        "answered": int(lat.size),
        "failed": int((status == "failed").sum()),
        "unanswered": int((status == "unanswered").sum()),
        "late": int((status == "late").sum()),
        "duplicate": int((status == "duplicate").sum()),
    }
    if lat.size:
        p50, p90, p99 = np.percentile(lat, PERCENTILES, method=PERCENTILE_METHOD)
        row.update(
            min_s=float(lat.min()),
            p50_s=float(p50),
            p90_s=float(p90),
            p99_s=float(p99),
            max_s=float(lat.max()),
            mean_s=float(lat.mean()),
        )
    else:
        row.update(min_s=np.nan, p50_s=np.nan, p90_s=np.nan, p99_s=np.nan, max_s=np.nan, mean_s=np.nan)
    return row


def latency_table(
    pairs: pd.DataFrame,
    by: str = "type",
    sessions: pd.DataFrame | None = None,
    *,
    total: bool = False,
) -> pd.DataFrame:
    """Latency statistics of the requests in ``pairs`` grouped ``by`` request ``type``,
    ``session`` (conn) or ``client`` (ClientID, looked up in ``sessions``).

    Returns one row per group, sorted by ``count`` descending then key, with the key
    column(s) of :data:`~ctidissect.report.columns.LATENCY_KEY_COLUMNS` followed by :data:`LATENCY_STAT_COLUMNS` (times in
    seconds).  With ``total=True`` a last row keyed :data:`ALL_ROW` covers every request.
    Grouping by session adds ``capture`` first when ``pairs`` has that column.
    """
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    reqs = requests_only(pairs) if not pairs.empty else pairs
    if by == "type":
        keys = ["request"]
    elif by == "session":
        reqs = attach_sessions(reqs, sessions) if not reqs.empty else reqs
        keys = [*_session_keys(pairs), "client_id", "role"]
    else:
        reqs = attach_sessions(reqs, sessions) if not reqs.empty else reqs
        keys = ["client_id"]
    stat_names = [c.name for c in LATENCY_STAT_COLUMNS]
    rows = []
    if not reqs.empty:
        for key, group in reqs.groupby(keys, sort=True, dropna=False):
            key_t = key if isinstance(key, tuple) else (key,)
            rows.append({**dict(zip(keys, key_t)), **_stats(group)})
    table = pd.DataFrame(rows, columns=keys + stat_names)
    if not table.empty:
        table = table.sort_values(["count", *keys], ascending=[False] + [True] * len(keys), kind="stable")
    if total:
        label_key = next(k for k in keys if k != "capture")
        all_row: dict = {k: (ALL_ROW if k == label_key else "") for k in keys}
        empty = pd.DataFrame({"latency_s": pd.Series([], dtype="float64"), "status": pd.Series([], dtype=object)})
        all_row.update(_stats(reqs if not reqs.empty else empty))
        table = pd.concat([table, pd.DataFrame([all_row], columns=keys + stat_names)], ignore_index=True)
    table = table.reset_index(drop=True)
    for name in ("count", "answered", "failed", "unanswered", "late", "duplicate"):
        table[name] = table[name].astype("int64")
    for name in ("min_s", "p50_s", "p90_s", "p99_s", "max_s", "mean_s"):
        table[name] = table[name].astype("float64")
    return table


def slowest_requests(pairs: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` answered requests with the largest latency, slowest first, with their
    request and response frames (columns :data:`SLOWEST_COLUMNS`, ``capture`` first when
    present; ``latency_s`` in seconds).  Ties keep capture order."""
    cols = (["capture"] if "capture" in pairs.columns else []) + [c for c in SLOWEST_COLUMNS if c in pairs.columns]
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    reqs = requests_only(pairs)
    answered = reqs.loc[reqs["latency_s"].notna(), cols]
    return answered.sort_values("latency_s", ascending=False, kind="stable").head(n).reset_index(drop=True)


def answered_latencies(pairs: pd.DataFrame) -> pd.DataFrame:
    """Answered requests only (non-null ``latency_s``), the input of the latency plots."""
    if pairs.empty:
        return pairs
    reqs = requests_only(pairs)
    return reqs.loc[reqs["latency_s"].notna()]


def table_records(table: pd.DataFrame) -> list[dict]:
    """JSON-ready rows of a latency table: NaN becomes None, numpy scalars Python ones."""
    out = []
    for row in table.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            if isinstance(value, (np.integer,)):
                value = int(value)
            elif isinstance(value, (np.floating, float)):
                value = None if np.isnan(value) else float(value)
            elif value is pd.NA or value is pd.NaT:
                value = None
            clean[key] = value
        out.append(clean)
    return out
