"""Records produced by the decoder: a decoded message, its floating items, its anomalies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .anomalies import severity


class NamedVar(NamedTuple):
    """NAMEDVAR floating data (tag 82): VariableName and VariableValue."""

    name: str
    value: str


class NamedArray(NamedTuple):
    """NAMEDARRAY floating data (tag 83): VariableIndex, VariableName, VariableValue."""

    index: int
    name: str
    value: str


class FloatItem(NamedTuple):
    """One floating field in wire order.  ``name`` is None for a tag unknown to the
    catalogue, whose ``value`` is then the raw data bytes."""

    tag: int
    name: str | None
    value: Any


@dataclass(slots=True)
class Anomaly:
    """Something off in the bytes.  ``offset`` is in bytes from the start of the message
    (header included) when the anomaly sits inside one; ``frame`` is the 1-based capture
    frame number when known."""

    code: str
    detail: str = ""
    offset: int | None = None
    frame: int | None = None

    @property
    def severity(self) -> str:
        return severity(self.code)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "detail": self.detail,
            "offset": self.offset,
            "frame": self.frame,
        }


@dataclass(slots=True)
class Message:
    """One decoded CTI message, or (``type`` None) a run of bytes that could not be framed
    as one, kept in ``raw`` and explained by ``anomalies``.

    ``raw`` is the whole frame as seen on the wire, 8-byte header included.  ``version`` is
    the protocol version the body was decoded with.  The capture layer fills ``frame``
    (1-based packet number completing the message), ``ts`` (epoch seconds), ``conn``
    (``client_ip:port-server_ip:port``) and ``direction`` (``c2s`` / ``s2c``).
    """

    type: int | None
    name: str | None
    fields: dict[str, int]
    floating: list[FloatItem]
    anomalies: list[Anomaly]
    raw: bytes
    version: int
    frame: int | None = None
    ts: float | None = None
    conn: str | None = None
    direction: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def invoke_id(self) -> int | None:
        return self.fields.get("InvokeID")

    @property
    def body(self) -> bytes:
        """Body bytes (after the 8-byte header)."""
        return self.raw[8:] if self.type is not None else b""

    def get(self, tag_name: str, default: Any = None) -> Any:
        """Value of the first floating field named ``tag_name`` (e.g. ``CLIENT_ID``)."""
        for item in self.floating:
            if item.name == tag_name:
                return item.value
        return default

    def get_all(self, tag_name: str) -> list[Any]:
        """Values of every floating field named ``tag_name``, in wire order."""
        return [item.value for item in self.floating if item.name == tag_name]

    @property
    def anomaly_codes(self) -> list[str]:
        return [a.code for a in self.anomalies]

    def to_json(self) -> dict[str, Any]:
        """The ``ctidissect hex --json`` object: type, name, fields (enums as numbers),
        floating (wire order), anomalies (codes); ``raw`` (hex) is added when anything was
        off so that no byte is lost."""
        out: dict[str, Any] = {
            "type": self.type,
            "name": self.name,
            "fields": dict(self.fields),
            "floating": [
                {"tag": i.tag, "name": i.name, "value": json_value(i.value)} for i in self.floating
            ],
            "anomalies": [a.code for a in self.anomalies],
        }
        if self.anomalies:
            out["anomaly_details"] = [a.to_json() for a in self.anomalies]
            out["raw"] = self.raw.hex()
        return out


def json_value(value: Any) -> Any:
    """JSON form of a floating value: bytes as lowercase hex, named variables as objects."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, NamedArray):
        return {"index": value.index, "name": value.name, "value": value.value}
    if isinstance(value, NamedVar):
        return {"name": value.name, "value": value.value}
    if isinstance(value, list):
        return list(value)
    return value
