"""Scenario files: a server configuration, a network model and scripted clients, in TOML.

Built-in scenarios ship in ``ctidissect/simulator/scenarios/*.toml``; the format is
documented in ``docs/simulator.md``.  Times are scenario seconds (``*_ms`` keys:
milliseconds); client step times count from the scenario start.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .clients import ROLES, STEP_ACTIONS, ClientSpec, Step
from .config import ConfigError, Distribution, SimulatorConfig, _check_keys, _seconds, config_from_mapping

ROLE_SUBNETS = {"agent": "10.1.0", "supervisor": "10.1.1", "bridge": "10.2.0", "recorder": "10.3.0"}
"""Synthetic client address ranges by role (the server sides are 10.0.0.1 and 10.0.0.2)."""


@dataclass
class NetworkSpec:
    """The virtual network of pcap runs.  ``mss`` in bytes; times in seconds.
    ``split_chance`` is the probability that a burst of bytes written at one instant is
    written in two parts (as a client writing header and body separately would)."""

    mss: int = 1460
    latency: float = 0.0002
    jitter: float = 0.00005
    split_chance: float = 0.0
    delayed_ack: float = 0.0005


@dataclass
class Scenario:
    name: str
    description: str
    duration: float
    seed: int
    network: NetworkSpec
    server_data: dict[str, Any]
    clients: list[ClientSpec]
    expect: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    def server_config(self, seed: int | None = None) -> SimulatorConfig:
        """A fresh server configuration (the scenario seed unless the file sets one)."""
        data = dict(self.server_data)
        data.setdefault("seed", self.seed if seed is None else seed)
        if seed is not None:
            data["seed"] = seed
        return config_from_mapping(data, f"{self.path or self.name}[server]")


def scenario_dir() -> Path:
    """Directory of the built-in scenario files."""
    return Path(str(resources.files("ctidissect.simulator") / "scenarios"))


def list_scenarios() -> list[tuple[str, str]]:
    """(name, one-line description) of every built-in scenario, sorted by name."""
    out = []
    for path in sorted(scenario_dir().glob("*.toml")):
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        text = " ".join(str(data.get("scenario", {}).get("description", "")).split())
        first = text.split(". ")[0].rstrip(".")
        out.append((path.stem, first if len(first) <= 100 else first[:97] + "..."))
    return out


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a built-in scenario by name, or a scenario file by path.  Raises
    :class:`ConfigError` (bad content) or FileNotFoundError (no such scenario)."""
    path = Path(name_or_path)
    if not path.suffix:
        candidate = scenario_dir() / f"{name_or_path}.toml"
        if not candidate.exists():
            names = ", ".join(n for n, _ in list_scenarios())
            raise FileNotFoundError(f"no scenario named {name_or_path!r} (built-in: {names})")
        path = candidate
    with open(path, "rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return scenario_from_mapping(data, str(path), path.stem)


def scenario_from_mapping(data: dict[str, Any], where: str, default_name: str = "scenario") -> Scenario:
    _check_keys(data, {"scenario", "network", "server", "clients", "expect"}, where)
    meta = data.get("scenario", {})
    _check_keys(meta, {"name", "description", "duration", "seed"}, f"{where}[scenario]")
    net = data.get("network", {})
    _check_keys(net, {"mss", "latency_ms", "jitter_ms", "split_chance", "delayed_ack_ms"}, f"{where}[network]")
    network = NetworkSpec(
        mss=int(net.get("mss", 1460)),
        latency=float(net.get("latency_ms", 0.2)) / 1000,
        jitter=float(net.get("jitter_ms", 0.05)) / 1000,
        split_chance=float(net.get("split_chance", 0.0)),
        delayed_ack=float(net.get("delayed_ack_ms", 0.5)) / 1000,
    )
    if not 40 <= network.mss <= 65495:
        raise ConfigError(f"{where}[network].mss: 40..65495 expected")
    server_data = data.get("server", {})
    scenario = Scenario(
        name=str(meta.get("name", default_name)),
        description=str(meta.get("description", "")).strip(),
        duration=float(meta.get("duration", 60.0)),
        seed=int(meta.get("seed", 1)),
        network=network,
        server_data=server_data,
        clients=[],
        expect=dict(data.get("expect", {})),
        path=where,
    )
    scenario.server_config()  # validate now, with a clear error
    next_host = dict.fromkeys(ROLE_SUBNETS, 10)
    for i, c in enumerate(data.get("clients", [])):
        for spec in _client_specs(c, f"{where}.clients[{i}]"):
            spec.ip = f"{ROLE_SUBNETS[spec.role]}.{next_host[spec.role]}"
            next_host[spec.role] += 1
            scenario.clients.append(spec)
    ids = [c.id for c in scenario.clients]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: client ids must be unique")
    return scenario


_CLIENT_KEYS = {
    "id", "role", "version", "side", "start", "peripheral", "agent_id", "extension", "instrument", "password",
    "heartbeat", "idle_timeout", "services", "open_fields", "omit", "auto_answer", "talk_time", "reconnect",
    "retry_delay", "steps", "count", "first", "stagger",
}


def _client_specs(c: dict[str, Any], where: str) -> list[ClientSpec]:
    """One table of ``[[clients]]``; ``count`` > 1 replicates it, ``{n}`` in strings being
    replaced by ``first``, ``first + 1`` ... and step times shifted by ``stagger`` s each."""
    _check_keys(c, _CLIENT_KEYS, where)
    role = c.get("role")
    if role not in ROLES:
        raise ConfigError(f"{where}.role: one of {', '.join(ROLES)} expected")
    count = int(c.get("count", 1))
    first = int(c.get("first", 1))
    stagger = float(c.get("stagger", 0.0))
    out = []
    for k in range(count):
        n = first + k

        def sub(value: Any, n: int = n) -> Any:
            return value.replace("{n}", str(n)) if isinstance(value, str) else value

        shift = stagger * k
        steps = []
        for j, s in enumerate(c.get("steps", [])):
            w = f"{where}.steps[{j}]"
            if not isinstance(s, dict) or "do" not in s:
                raise ConfigError(f"{w}: a table with 'at' and 'do' is expected")
            if s["do"] not in STEP_ACTIONS:
                raise ConfigError(f"{w}.do: {s['do']!r} is not one of {', '.join(STEP_ACTIONS)}")
            at = _seconds(s, "at", w)
            if at is None:
                raise ConfigError(f"{w}: 'at' (seconds) is required")
            args = {key: sub(v) for key, v in s.items() if key not in ("at", "at_ms", "do")}
            steps.append(Step(at + shift, s["do"], args))
        agent_id = sub(c.get("agent_id"))
        idle = c.get("idle_timeout")
        version = int(c.get("version", 24))
        spec = ClientSpec(
            id=sub(c.get("id", f"{role}-{n}")),
            role=role,
            version=version,
            side=str(c.get("side", "A")).upper(),
            start=float(c.get("start", 0.0)) + shift,
            peripheral=int(c.get("peripheral", 5000)),
            agent_id=None if agent_id is None else str(agent_id),
            extension=str(sub(c.get("extension", agent_id))) if c.get("extension", agent_id) is not None else None,
            instrument=str(sub(c.get("instrument", c.get("extension", agent_id))))
            if c.get("instrument", c.get("extension", agent_id)) is not None else None,
            password=str(c.get("password", "")),
            heartbeat=float(c.get("heartbeat", 0.0)),
            idle_timeout=None if idle is None else int(idle),
            services=None if c.get("services") is None else int(c["services"]),
            open_fields={str(k): int(v) for k, v in (c.get("open_fields") or {}).items()},
            omit=[str(x) for x in c.get("omit", [])],
            auto_answer=Distribution.parse(c["auto_answer"], f"{where}.auto_answer") if "auto_answer" in c else None,
            talk_time=Distribution.parse(c["talk_time"], f"{where}.talk_time") if "talk_time" in c else None,
            reconnect=bool(c.get("reconnect", True)),
            retry_delay=float(c.get("retry_delay", 1.0)),
            steps=sorted(steps, key=lambda s: s.at),
        )
        if spec.side not in ("A", "B"):
            raise ConfigError(f"{where}.side: 'A' or 'B' expected")
        if role in ("agent", "supervisor") and not (spec.agent_id or spec.extension or spec.instrument):
            raise ConfigError(f"{where}: an {role} needs agent_id (or extension/instrument)")
        out.append(spec)
    return out
