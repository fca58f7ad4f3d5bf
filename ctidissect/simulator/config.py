"""Simulator configuration: peripherals, agents, teams, latencies, faults, scheduled calls
and synthetic traffic.  Works with no configuration at all (:meth:`SimulatorConfig.default`)
and loads the TOML format documented in ``docs/simulator.md``.

Units: every duration in a TOML file is in **milliseconds** when the key ends in ``_ms``
and in **seconds** otherwise; in these dataclasses every duration is in seconds.
"""

from __future__ import annotations

import math
import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalogue import MESSAGES_BY_NAME
from .enum_values import CONTROL_FAILURE, PERIPHERAL_TYPE, STATUS, lookup

DEFAULT_PERIPHERAL_ID = 5000
"""The peripheral of a zero-config server (a typical UCCE agent PG peripheral id)."""
DEFAULT_TEAM_ID = 5001
DEFAULT_SUPERVISOR_ID = "9001"
DEFAULT_EPOCH = 1_704_067_200
"""Protocol time 0 as a UNIX time (2024-01-01 00:00:00 UTC): ICMCentralControllerTime and
pcap timestamps are this plus protocol seconds, so runs are reproducible."""


class ConfigError(ValueError):
    """A configuration or scenario file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Distribution:
    """A latency/duration distribution.  Spec strings (values in **milliseconds**):
    ``"fixed 2"``, ``"uniform 5 20"`` (min max), ``"lognormal 120 0.5"`` (median, sigma of
    the underlying normal), ``"exponential 50"`` (mean).  :meth:`sample` returns seconds."""

    kind: str
    a: float = 0.0
    b: float = 0.0

    @classmethod
    def parse(cls, spec: str | int | float, where: str = "") -> Distribution:
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return cls("fixed", float(spec))
        if not isinstance(spec, str):
            raise ConfigError(f"{where}: expected a distribution string such as 'uniform 5 20', got {spec!r}")
        parts = spec.split()
        kind, args = (parts[0].lower(), parts[1:]) if parts else ("", [])
        try:
            nums = [float(x) for x in args]
        except ValueError:
            raise ConfigError(f"{where}: numbers expected in {spec!r}") from None
        wanted = {"fixed": 1, "uniform": 2, "lognormal": 2, "exponential": 1}
        if kind not in wanted:
            raise ConfigError(f"{where}: unknown distribution {kind!r} (fixed, uniform, lognormal, exponential)")
        if len(nums) != wanted[kind]:
            raise ConfigError(f"{where}: {kind} takes {wanted[kind]} number(s), got {spec!r}")
        if any(n < 0 for n in nums) or (kind == "uniform" and nums[1] < nums[0]):
            raise ConfigError(f"{where}: invalid parameters in {spec!r}")
        return cls(kind, nums[0], nums[1] if len(nums) > 1 else 0.0)

    def sample(self, rng: random.Random) -> float:
        """One draw, in seconds."""
        if self.kind == "fixed":
            ms = self.a
        elif self.kind == "uniform":
            ms = rng.uniform(self.a, self.b)
        elif self.kind == "lognormal":
            ms = self.a * math.exp(rng.gauss(0.0, self.b))
        else:
            ms = rng.expovariate(1.0 / self.a) if self.a > 0 else 0.0
        return ms / 1000.0

    def __str__(self) -> str:
        if self.kind in ("fixed", "exponential"):
            return f"{self.kind} {self.a:g}"
        return f"{self.kind} {self.a:g} {self.b:g}"


@dataclass
class PeripheralConfig:
    id: int
    type: int = PERIPHERAL_TYPE["PT_ENTERPRISE_AGENT"]
    multiline: bool = False


@dataclass
class AgentConfig:
    """An agent (or supervisor) of a peripheral.  ``skill_target_id`` is the ICMAgentID."""

    agent_id: str
    extension: str
    instrument: str
    peripheral: int = DEFAULT_PERIPHERAL_ID
    skill_target_id: int = 0
    supervisor: bool = False
    skill_group: int = 100


@dataclass
class TeamConfig:
    """An agent team; ``supervisors[0]`` is the primary supervisor (agent ids)."""

    id: int
    name: str
    peripheral: int = DEFAULT_PERIPHERAL_ID
    supervisors: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)


FAULT_KINDS = (
    "drop_conf",
    "delay_conf",
    "fail",
    "skip_fanout",
    "close",
    "ignore_heartbeats",
    "side_down",
    "side_up",
)


@dataclass
class FaultSpec:
    """One injected fault.  Triggered by the ``count``-th request named ``on`` (optionally only
    from the client whose ClientID is ``client``; ``times`` consecutive matches, 0 = all that
    follow) or, for ``close``/``side_down``/``side_up``, at ``at`` seconds after the first
    session opened.  ``delay`` is seconds (``delay_ms`` in TOML); ``code`` names a
    ControlFailureCode (CONTROL_FAILURE_CONF) or StatusCode (FAILURE_CONF) for ``fail``;
    ``recipient`` is the ClientID skipped by ``skip_fanout``."""

    kind: str
    on: str | None = None
    at: float | None = None
    count: int = 1
    times: int = 1
    client: str | None = None
    recipient: str | None = None
    delay: float = 0.0
    code: str | None = None
    side: str = "A"
    graceful: bool = True
    abort: bool = False


@dataclass
class ScheduledCall:
    """An inbound call offered at ``at`` seconds after the first session opened, to agent
    ``agent`` (or routed to the longest-available agent when None)."""

    at: float
    agent: str | None = None
    peripheral: int = DEFAULT_PERIPHERAL_ID
    ani: str = "5550101"
    dnis: str = "5550100"
    call_vars: dict[int, str] = field(default_factory=dict)


@dataclass
class TrafficConfig:
    """Synthetic inbound traffic and far-end behaviour."""

    calls_per_minute: float = 0.0
    answer_time: Distribution = field(default_factory=lambda: Distribution("uniform", 1000.0, 3000.0))
    """Time the far end of an outbound (MAKE_CALL) call rings before answering."""
    route_delay: Distribution = field(default_factory=lambda: Distribution("fixed", 200.0))
    """Time between an agent becoming available and a queued call being offered."""
    queue_limit: int = 50
    dnis: str = "5550100"


@dataclass
class SimulatorConfig:
    """Everything the server needs.  :meth:`default` is the zero-config server: peripheral
    5000, one team (5001) with supervisor 9001, agents created on the fly at login."""

    seed: int = 1
    min_version: int = 13
    max_version: int = 25
    open_timeout: float = 30.0
    create_agents: bool = True
    epoch: int = DEFAULT_EPOCH
    peripherals: list[PeripheralConfig] = field(default_factory=list)
    agents: list[AgentConfig] = field(default_factory=list)
    teams: list[TeamConfig] = field(default_factory=list)
    latency: dict[str, Distribution] = field(default_factory=dict)
    faults: list[FaultSpec] = field(default_factory=list)
    calls: list[ScheduledCall] = field(default_factory=list)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)

    @classmethod
    def default(cls) -> SimulatorConfig:
        cfg = cls()
        cfg.fill_defaults()
        return cfg

    def fill_defaults(self) -> None:
        """Add the zero-config peripheral, supervisor and team where none are given."""
        if not self.peripherals:
            self.peripherals.append(PeripheralConfig(DEFAULT_PERIPHERAL_ID))
        pid = self.peripherals[0].id
        if not self.teams:
            if not any(a.agent_id == DEFAULT_SUPERVISOR_ID for a in self.agents):
                self.agents.append(
                    AgentConfig(DEFAULT_SUPERVISOR_ID, DEFAULT_SUPERVISOR_ID, DEFAULT_SUPERVISOR_ID, pid, supervisor=True)
                )
            self.teams.append(TeamConfig(DEFAULT_TEAM_ID, "Team 1", pid, [DEFAULT_SUPERVISOR_ID], []))
        for team in self.teams:
            for sup in team.supervisors:
                for a in self.agents:
                    if a.agent_id == sup and a.peripheral == team.peripheral:
                        a.supervisor = True
        next_stid = 5100
        for a in self.agents:
            if not a.skill_target_id:
                a.skill_target_id = int(a.agent_id) if a.agent_id.isdigit() else next_stid
                next_stid += 1
        if "default" not in self.latency:
            self.latency["default"] = Distribution("fixed", 1.0)

    def latency_for(self, request: str) -> Distribution:
        return self.latency.get(request) or self.latency["default"]


def _table(d: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = d.get(key)
    if value is not None and not isinstance(value, kind):
        raise ConfigError(f"{where}.{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _check_keys(d: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(d) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(allowed))})")


def _seconds(d: dict[str, Any], key: str, where: str, default: float | None = None) -> float | None:
    """Read ``key`` (seconds) or ``key_ms`` (milliseconds) from ``d``."""
    if key in d and f"{key}_ms" in d:
        raise ConfigError(f"{where}: give {key} or {key}_ms, not both")
    if key in d:
        value, scale = d[key], 1.0
    elif f"{key}_ms" in d:
        value, scale = d[f"{key}_ms"], 0.001
    else:
        return default
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}.{key}: a non-negative number is expected, got {value!r}")
    return float(value) * scale


def config_from_mapping(data: dict[str, Any], where: str = "config") -> SimulatorConfig:
    """Build a :class:`SimulatorConfig` from parsed TOML (the root of a config file, or the
    ``[server]`` table of a scenario file).  Raises :class:`ConfigError`."""
    _check_keys(
        data,
        {
            "seed", "min_version", "max_version", "open_timeout", "open_timeout_ms", "create_agents", "epoch",
            "peripherals", "agents", "teams", "latency", "faults", "calls", "traffic",
        },
        where,
    )
    cfg = SimulatorConfig()
    for key in ("seed", "min_version", "max_version", "epoch"):
        if key in data:
            if not isinstance(data[key], int) or isinstance(data[key], bool):
                raise ConfigError(f"{where}.{key}: an integer is expected")
            setattr(cfg, key, data[key])
    cfg.open_timeout = _seconds(data, "open_timeout", where, cfg.open_timeout)
    if "create_agents" in data:
        cfg.create_agents = bool(data["create_agents"])
    for i, p in enumerate(data.get("peripherals", [])):
        w = f"{where}.peripherals[{i}]"
        _check_keys(p, {"id", "type", "multiline"}, w)
        ptype = p.get("type", "PT_ENTERPRISE_AGENT")
        try:
            ptype = lookup("PeripheralType", ptype) if isinstance(ptype, str) else int(ptype)
        except ValueError as exc:
            raise ConfigError(f"{w}.type: {exc}") from None
        cfg.peripherals.append(PeripheralConfig(int(p["id"]), ptype, bool(p.get("multiline", False))))
    default_pid = cfg.peripherals[0].id if cfg.peripherals else DEFAULT_PERIPHERAL_ID
    for i, a in enumerate(data.get("agents", [])):
        w = f"{where}.agents[{i}]"
        _check_keys(a, {"agent_id", "extension", "instrument", "peripheral", "skill_target_id", "supervisor", "skill_group"}, w)
        if "agent_id" not in a:
            raise ConfigError(f"{w}: agent_id is required")
        aid = str(a["agent_id"])
        cfg.agents.append(
            AgentConfig(
                aid,
                str(a.get("extension", aid)),
                str(a.get("instrument", a.get("extension", aid))),
                int(a.get("peripheral", default_pid)),
                int(a.get("skill_target_id", 0)),
                bool(a.get("supervisor", False)),
                int(a.get("skill_group", 100)),
            )
        )
    for i, t in enumerate(data.get("teams", [])):
        w = f"{where}.teams[{i}]"
        _check_keys(t, {"id", "name", "peripheral", "supervisors", "members"}, w)
        if "id" not in t:
            raise ConfigError(f"{w}: id is required")
        cfg.teams.append(
            TeamConfig(
                int(t["id"]),
                str(t.get("name", f"Team {t['id']}")),
                int(t.get("peripheral", default_pid)),
                [str(s) for s in t.get("supervisors", [])],
                [str(m) for m in t.get("members", [])],
            )
        )
    latency = _table(data, "latency", dict, where) or {}
    for name, spec in latency.items():
        if name != "default" and name not in MESSAGES_BY_NAME:
            raise ConfigError(f"{where}.latency: {name!r} is not a message name")
        cfg.latency[name] = Distribution.parse(spec, f"{where}.latency.{name}")
    for i, f in enumerate(data.get("faults", [])):
        cfg.faults.append(_fault(f, f"{where}.faults[{i}]"))
    for i, c in enumerate(data.get("calls", [])):
        w = f"{where}.calls[{i}]"
        _check_keys(c, {"at", "at_ms", "agent", "peripheral", "ani", "dnis", "call_vars"}, w)
        at = _seconds(c, "at", w)
        if at is None:
            raise ConfigError(f"{w}: at is required")
        call_vars = {int(k): str(v) for k, v in (c.get("call_vars") or {}).items()}
        if any(not 1 <= k <= 10 for k in call_vars):
            raise ConfigError(f"{w}.call_vars: keys are 1..10")
        cfg.calls.append(
            ScheduledCall(
                at,
                None if c.get("agent") is None else str(c["agent"]),
                int(c.get("peripheral", default_pid)),
                str(c.get("ani", "5550101")),
                str(c.get("dnis", "5550100")),
                call_vars,
            )
        )
    traffic = _table(data, "traffic", dict, where)
    if traffic:
        w = f"{where}.traffic"
        _check_keys(traffic, {"calls_per_minute", "answer_time", "route_delay", "queue_limit", "dnis"}, w)
        tc = TrafficConfig()
        tc.calls_per_minute = float(traffic.get("calls_per_minute", 0.0))
        if "answer_time" in traffic:
            tc.answer_time = Distribution.parse(traffic["answer_time"], f"{w}.answer_time")
        if "route_delay" in traffic:
            tc.route_delay = Distribution.parse(traffic["route_delay"], f"{w}.route_delay")
        tc.queue_limit = int(traffic.get("queue_limit", tc.queue_limit))
        tc.dnis = str(traffic.get("dnis", tc.dnis))
        cfg.traffic = tc
    if not 1 <= cfg.min_version <= cfg.max_version:
        raise ConfigError(f"{where}: min_version/max_version out of order")
    cfg.fill_defaults()
    known_agents = {(a.agent_id, a.peripheral) for a in cfg.agents}
    for t in cfg.teams:
        for sup in t.supervisors:
            if (sup, t.peripheral) not in known_agents:
                raise ConfigError(f"{where}: team {t.id} supervisor {sup!r} is not declared in [[agents]]")
    return cfg


def _fault(f: dict[str, Any], where: str) -> FaultSpec:
    _check_keys(
        f,
        {"kind", "on", "at", "at_ms", "count", "times", "client", "recipient", "delay", "delay_ms", "code", "side", "graceful", "abort"},
        where,
    )
    kind = f.get("kind")
    if kind not in FAULT_KINDS:
        raise ConfigError(f"{where}.kind: one of {', '.join(FAULT_KINDS)} expected, got {kind!r}")
    on = f.get("on")
    times_default = 1
    if kind == "ignore_heartbeats":
        # Stop answering heartbeats from the count-th one on (times 0 = all that follow).
        on = on or "HEARTBEAT_REQ"
        times_default = 0
    if on is not None and on not in MESSAGES_BY_NAME:
        raise ConfigError(f"{where}.on: {on!r} is not a message name")
    at = _seconds(f, "at", where)
    if on is None and at is None and kind != "ignore_heartbeats":
        raise ConfigError(f"{where}: give 'on' (a request name) or 'at' (seconds)")
    if kind in ("drop_conf", "delay_conf", "fail", "skip_fanout") and on is None:
        raise ConfigError(f"{where}: {kind} needs 'on' (a request name)")
    code = f.get("code")
    if kind == "fail":
        if code is None:
            raise ConfigError(f"{where}: fail needs 'code' (a ControlFailureCode or StatusCode name)")
        if code not in CONTROL_FAILURE and code not in STATUS:
            raise ConfigError(f"{where}.code: {code!r} is neither a ControlFailureCode nor a StatusCode name")
    side = str(f.get("side", "A")).upper()
    if side not in ("A", "B"):
        raise ConfigError(f"{where}.side: 'A' or 'B' expected")
    return FaultSpec(
        kind=kind,
        on=on,
        at=at,
        count=int(f.get("count", 1)),
        times=int(f.get("times", times_default)),
        client=None if f.get("client") is None else str(f["client"]),
        recipient=None if f.get("recipient") is None else str(f["recipient"]),
        delay=_seconds(f, "delay", where, 0.0) or 0.0,
        code=code,
        side=side,
        graceful=bool(f.get("graceful", True)),
        abort=bool(f.get("abort", False)),
    )


def load_config(path: str | Path) -> SimulatorConfig:
    """Load a simulator config TOML file (see docs/simulator.md).  Raises OSError when the
    file cannot be read and :class:`ConfigError` when its content is invalid."""
    with open(path, "rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return config_from_mapping(data, str(path))
