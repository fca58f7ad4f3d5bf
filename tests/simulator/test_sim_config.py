"""Simulator configuration and scenario files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ctidissect.simulator import ConfigError, Distribution, SimulatorConfig, config_from_mapping, load_config
from ctidissect.simulator.scenario import scenario_from_mapping

ROOT = Path(__file__).resolve().parents[2]


def test_zero_config_defaults():
    cfg = SimulatorConfig.default()
    assert [p.id for p in cfg.peripherals] == [5000]
    assert [(t.id, t.supervisors) for t in cfg.teams] == [(5001, ["9001"])]
    assert cfg.create_agents and cfg.latency_for("MAKE_CALL_REQ") == Distribution("fixed", 1.0)


def test_example_config_loads():
    cfg = load_config(ROOT / "captures" / "simulator-example.toml")
    assert {a.agent_id for a in cfg.agents} == {"9001", "1001", "1002"}
    assert [f.kind for f in cfg.faults] == ["fail", "drop_conf", "ignore_heartbeats", "side_down", "side_up"]
    assert cfg.faults[2].on == "HEARTBEAT_REQ" and cfg.faults[2].times == 3


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"latency": {"NOPE_REQ": "fixed 1"}}, "not a message name"),
        ({"latency": {"default": "gauss 1"}}, "unknown distribution"),
        ({"faults": [{"kind": "explode"}]}, "kind"),
        ({"faults": [{"kind": "fail", "on": "MAKE_CALL_REQ", "code": "CF_NOPE"}]}, "neither"),
        ({"faults": [{"kind": "drop_conf"}]}, "'on'"),
        ({"teams": [{"id": 1, "supervisors": ["77"]}]}, "not declared"),
        ({"colour": "blue"}, "unknown key"),
    ],
)
def test_config_errors_name_the_key(data, fragment):
    with pytest.raises(ConfigError, match=fragment):
        config_from_mapping(data)


def test_distributions_in_seconds():
    rng = random.Random(1)
    assert Distribution.parse("fixed 250").sample(rng) == 0.25
    assert all(0.005 <= Distribution.parse("uniform 5 20").sample(rng) <= 0.02 for _ in range(100))
    assert Distribution.parse("lognormal 100 0").sample(rng) == pytest.approx(0.1)
    with pytest.raises(ConfigError):
        Distribution.parse("uniform 9 1")


def test_scenario_replication_and_addresses():
    sc = scenario_from_mapping({"clients": [
        {"role": "agent", "id": "agent-{n}", "agent_id": "{n}", "count": 3, "first": 1001, "stagger": 0.5,
         "steps": [{"at": 1, "do": "login"}]},
        {"role": "bridge", "id": "bridge-1"},
    ]}, "inline")
    assert [(c.id, c.agent_id, c.ip, c.steps[0].at if c.steps else 0.0) for c in sc.clients] == [
        ("agent-1001", "1001", "10.1.0.10", 1.0), ("agent-1002", "1002", "10.1.0.11", 1.5),
        ("agent-1003", "1003", "10.1.0.12", 2.0), ("bridge-1", None, "10.2.0.10", 0.0)]
    with pytest.raises(ConfigError, match="not one of"):
        scenario_from_mapping({"clients": [{"role": "bridge", "steps": [{"at": 1, "do": "dance"}]}]}, "inline")
