"""Connection lifecycle records produced by the capture layer beside decoded messages."""

from __future__ import annotations

from dataclasses import dataclass

# ConnectionEvent.kind values
CONN_OPEN = "open"  # first packet of a connection seen (SYN, or first data when mid-stream)
CONN_FIN = "fin"  # a FIN from either side
CONN_RST = "rst"  # a RST from either side
CONN_CAPTURE_END = "capture_end"  # connection still open when the capture ended
CONN_REPLACED = "replaced"  # a new connection reused the 4-tuple before any FIN/RST was seen


@dataclass(slots=True)
class ConnectionEvent:
    """Something that happened to a TCP connection carrying CTI.

    ``conn`` is ``client_ip:port-server_ip:port``; ``direction`` (``c2s``/``s2c``) says who
    sent the FIN/RST (for ``open``: the first packet seen; None for ``replaced`` and
    ``capture_end``); ``frame`` is 1-based, ``ts`` epoch seconds; ``server_port`` tells side
    A/B; ``syn_seen`` is False when the capture began mid-connection.
    """

    conn: str
    kind: str
    frame: int
    ts: float
    direction: str | None = None
    server_port: int | None = None
    syn_seen: bool = True
