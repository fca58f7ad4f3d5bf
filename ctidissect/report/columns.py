"""Every DataFrame column ctidissect produces, declared once with a doc line each.

The tables here are the documentation of the pandas API (``docs/columns.md`` is generated
from them) and the schema the DataFrame builders follow.  Units are in the doc lines.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # pandas dtype name: "int64", "Int64" (nullable), "float64", "string", "category", "object", "bool"
    doc: str


# --- messages (one row per decoded message or anomaly record) -------------------------------
MESSAGE_COLUMNS: tuple[Column, ...] = ()

# --- sessions, pairs, fan-out, calls (analysis) ---------------------------------------------
SESSION_COLUMNS: tuple[Column, ...] = ()
PAIR_COLUMNS: tuple[Column, ...] = ()
FANOUT_COLUMNS: tuple[Column, ...] = ()
FANOUT_RECIPIENT_COLUMNS: tuple[Column, ...] = ()
CALL_COLUMNS: tuple[Column, ...] = ()

ALL_TABLES: dict[str, tuple[Column, ...]] = {}
"""Filled at the bottom of this module: table name -> columns (for docs and tests)."""


def _register() -> None:
    ALL_TABLES.update(
        {
            "messages": MESSAGE_COLUMNS,
            "sessions": SESSION_COLUMNS,
            "pairs": PAIR_COLUMNS,
            "fanout": FANOUT_COLUMNS,
            "fanout_recipients": FANOUT_RECIPIENT_COLUMNS,
            "calls": CALL_COLUMNS,
        }
    )


_register()
