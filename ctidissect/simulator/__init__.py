"""The CTI Server simulator: a sans-IO GED-188 server, scripted clients, scenarios, and two
drivers — real asyncio sockets (:mod:`.sockets`) and a deterministic discrete-event engine
that writes pcaps without root (:mod:`.engine`).  See docs/simulator.md.

Quick use::

    from ctidissect.simulator import load_scenario, run_scenario
    result = run_scenario(load_scenario("emergency-supervisor-found"), pcap_path="em.pcap")
"""

from __future__ import annotations

from .agenda import Agenda, Close, Connect, Send
from .clients import ClientSpec, ScriptedClient, Step
from .config import ConfigError, Distribution, SimulatorConfig, config_from_mapping, load_config
from .engine import Engine, RunResult, result_summary, run_scenario
from .scenario import Scenario, list_scenarios, load_scenario
from .server import CtiServer, SideState
from .sockets import SocketServer, run_clients, run_scenario_live

__all__ = [
    "Agenda",
    "ClientSpec",
    "Close",
    "ConfigError",
    "Connect",
    "CtiServer",
    "Distribution",
    "Engine",
    "RunResult",
    "Scenario",
    "ScriptedClient",
    "Send",
    "SideState",
    "SimulatorConfig",
    "SocketServer",
    "Step",
    "config_from_mapping",
    "list_scenarios",
    "load_config",
    "load_scenario",
    "result_summary",
    "run_clients",
    "run_scenario",
    "run_scenario_live",
]
