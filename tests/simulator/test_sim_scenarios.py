"""End to end: every built-in scenario runs against the server over loopback sockets (time
scaled), and the clients receive exactly the message sequences of the virtual-clock run,
with InvokeIDs echoed, fan-out to every bridge/recording session and failures where the
scenario injects them."""

from __future__ import annotations

import asyncio

import pytest
from simharness import fresh_event_loop_policy  # noqa: F401 - autouse fixture

from ctidissect.catalogue import responses_of
from ctidissect.simulator import list_scenarios, load_scenario, run_scenario, run_scenario_live
from ctidissect.simulator.enum_values import CONTROL_FAILURE, EVENT_CAUSE, STATUS

SCALE = {"busy-hour": 0.03}
DEFAULT_SCALE = 0.1
"""Real seconds per scenario second.  At 0.05, a loaded machine (a second test run on the
other core) once let a CALL_ESTABLISHED_EVENT due 150 ms before an EMERGENCY_CALL_EVENT
arrive after it; 0.1 doubles every gap."""
STAGGER = 0.4
"""Real seconds between scenario starts: the scenarios run side by side in one event loop,
and their connection bursts must not delay one another."""
EXACT = {name for name, _ in list_scenarios()} - {"busy-hour"}
"""Scenarios whose per-client sequences must equal the virtual run's exactly (busy-hour has
many near-simultaneous arrivals whose order real sockets may permute)."""


@pytest.fixture(scope="module")
def runs():
    names = [name for name, _ in list_scenarios()]
    scenarios = [load_scenario(n) for n in names]

    async def all_live():
        return await asyncio.gather(*[
            run_scenario_live(sc, time_scale=SCALE.get(sc.name, DEFAULT_SCALE), start_delay=0.2 + i * STAGGER)
            for i, sc in enumerate(scenarios)
        ])

    loop = asyncio.new_event_loop()
    errors: list = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    try:
        live = loop.run_until_complete(all_live())
    finally:
        loop.close()
    assert not errors, errors  # no exception escaped a protocol callback
    return {sc.name: {"scenario": sc, "live": lv, "virtual": run_scenario(sc)} for sc, lv in zip(scenarios, live)}


def _status(msg):
    return msg.fields.get("Status", msg.fields.get("FailureCode"))


@pytest.mark.parametrize("name", sorted(n for n, _ in list_scenarios()))
def test_invoke_ids_echoed_and_replies_match_requests(runs, name):
    _server, clients = runs[name]["live"]
    for cid, client in clients.items():
        sent = {e.message.fields.get("InvokeID"): e.message.name for e in client.transcript
                if e.direction == "out" and e.message.fields.get("InvokeID") is not None}
        for msg in client.received():
            invoke = msg.fields.get("InvokeID")
            if invoke is None:
                continue
            assert not msg.anomalies, (cid, msg)
            request = sent.get(invoke)
            if request is None:  # raw bytes (protocol-errors): the InvokeID is echoed all the same
                assert any(ex.invoke_id == invoke for ex in client.history), (cid, msg)
                continue
            assert msg.name in responses_of(request), (cid, request, msg.name)


@pytest.mark.parametrize("name", sorted(EXACT))
def test_live_sequences_equal_virtual_run(runs, name):
    _server, live = runs[name]["live"]
    virtual = runs[name]["virtual"].clients
    for cid, client in live.items():
        # Heartbeats are periodic per client and interleave with everything else at whatever
        # instant the timers fire, so they are compared apart (by count).  Every other
        # message must come in exactly the virtual run's order.
        got = [m.name for m in client.received() if m.name != "HEARTBEAT_CONF"]
        want = [m.name for m in virtual[cid].received() if m.name != "HEARTBEAT_CONF"]
        assert got == want, cid
        beats = [sum(m.name == "HEARTBEAT_CONF" for m in c.received()) for c in (client, virtual[cid])]
        assert abs(beats[0] - beats[1]) <= 1, (cid, beats)
        assert client.events == virtual[cid].events, cid


def test_busy_hour_fanout_and_no_loss(runs):
    server, clients = runs["busy-hour"]["live"]
    for cid, client in clients.items():
        assert client.unanswered() == [], cid
        assert all(not m.anomalies for m in client.received())
    calls = lambda c: [(m.name, m.fields["ConnectionCallID"]) for m in c.received()  # noqa: E731
                       if "ConnectionCallID" in m.fields and m.name != "EMERGENCY_CALL_EVENT"]
    bridge, recorder = calls(clients["bridge-1"]), calls(clients["recorder-1"])
    assert len(bridge) > 100 and sorted(bridge) == sorted(recorder)
    delivered = [m for m in clients["bridge-1"].received() if m.name == "CALL_DELIVERED_EVENT"]
    assert len(delivered) >= 10
    # Every agent's own call events also reached the bridge.
    bridge_set = set(bridge)
    for cid, client in clients.items():
        if cid.startswith("agent-"):
            assert set(calls(client)) <= bridge_set, cid


def _received(runs, name, cid):
    return runs[name]["live"][1][cid].received()


def test_emergency_supervisor_found(runs):
    clients = runs["emergency-supervisor-found"]["live"][1]
    agent = clients["agent-1001"]
    ex = next(e for e in agent.history if e.request == "EMERGENCY_CALL_REQ")
    assert ex.reply == "EMERGENCY_CALL_CONF"
    for cid in ("bridge-1", "recorder-1", "recorder-2"):
        events = [m for m in clients[cid].received() if m.name == "EMERGENCY_CALL_EVENT"]
        assert len(events) == 1, cid
        assert events[0].get("AGENT_ID") == "1001" and events[0].get("CLIENT_ID") == "agent-1001"
    sup = clients["supervisor-9001"].received()
    begin = [m for m in sup if m.name == "BEGIN_CALL_EVENT" and m.fields["CallType"] == 20]
    delivered = [m for m in sup if m.name == "CALL_DELIVERED_EVENT"]
    assert len(begin) == 1 and delivered[0].fields["EventCause"] == EVENT_CAUSE["CEC_EMERGENCY_CALL"]
    assert delivered[0].fields["ConnectionCallID"] == begin[0].fields["ConnectionCallID"]


def test_emergency_without_supervisor_and_skipped_recipient(runs):
    clients = runs["emergency-no-supervisor"]["live"][1]
    replies = [(e.reply, e.status) for e in clients["agent-1001"].history if e.request == "EMERGENCY_CALL_REQ"]
    assert replies == [("FAILURE_CONF", STATUS["E_CTI_SUPERVISOR_NOT_FOUND"])] * 2
    counts = {cid: sum(m.name == "EMERGENCY_CALL_EVENT" for m in clients[cid].received())
              for cid in ("bridge-1", "recorder-1", "recorder-2")}
    assert counts == {"bridge-1": 2, "recorder-1": 2, "recorder-2": 1}  # injected skip


def test_supervisor_assist(runs):
    clients = runs["supervisor-assist"]["live"][1]
    assist = {cid: [(e.reply, e.status) for e in clients[cid].history if e.request == "SUPERVISOR_ASSIST_REQ"]
              for cid in ("agent-1001", "agent-1002")}
    assert assist == {"agent-1001": [("SUPERVISOR_ASSIST_CONF", None)],
                      "agent-1002": [("FAILURE_CONF", STATUS["E_CTI_SUPERVISOR_NOT_FOUND"])]}
    sup = clients["supervisor-9001"]
    assert [e.reply for e in sup.history if e.request == "SUPERVISE_CALL_REQ"] == ["SUPERVISE_CALL_CONF"] * 2
    assert [e.reply for e in sup.history if e.request.startswith(("LIST_", "MONITOR_"))] == [
        "LIST_AGENT_TEAM_CONF", "MONITOR_AGENT_TEAM_START_CONF", "MONITOR_AGENT_TEAM_STOP_CONF"]
    causes = {m.fields["EventCause"] for m in sup.received() if m.name == "CALL_DELIVERED_EVENT"}
    assert EVENT_CAUSE["CEC_SUPERVISOR_ASSIST"] in causes
    monitor = [m for m in sup.received() if m.name == "CALL_ESTABLISHED_EVENT"
               and m.fields["EventCause"] == EVENT_CAUSE["CEC_SUPERVISOR_MONITOR"]]
    assert len(monitor) == 1


def test_heartbeat_loss_and_idle_timeout(runs):
    server, clients = runs["heartbeat-loss"]["live"]
    a1 = clients["agent-1001"]
    assert [e.request for e in a1.unanswered()] == ["HEARTBEAT_REQ"] * 3
    assert a1.events[:7] == ["connect A", "connected A", "open", "hb_failure", "connect B", "connected B", "open"]
    assert clients["agent-1002"].events[-1] == "lost"
    kinds = [f["kind"] for f in server.faults_applied]
    assert kinds.count("ignore_heartbeats") == 3 and "idle_timeout_close" in kinds


def test_failover(runs):
    server, clients = runs["failover"]["live"]
    for cid in ("bridge-1", "agent-1001", "agent-1002"):
        ev = clients[cid].events
        assert ev[:4] == ["connect A", "connected A", "open", "lost"], cid
        assert ev[4:7] == ["connect B", "connected B", "open"], cid
    assert clients["recorder-1"].events[:3] == ["connect B", "connected B", "open"]
    assert "lost" not in clients["recorder-1"].events
    update = EVENT_CAUSE["CEC_CALL_PARTY_UPDATE_IND"]
    rebuilt = [m for m in clients["bridge-1"].received()
               if m.name == "CALL_ESTABLISHED_EVENT" and m.fields["EventCause"] == update]
    assert len(rebuilt) == 1
    assert not server.accepting("A")


def test_slow_and_failed_control(runs):
    agent = runs["slow-control"]["live"][1]["agent-1001"]
    hist = [(e.request, e.reply, e.status) for e in agent.history if e.request != "HEARTBEAT_REQ"]
    assert ("MAKE_CALL_REQ", "CONTROL_FAILURE_CONF", CONTROL_FAILURE["CF_RESOURCE_BUSY"]) in hist
    assert ("QUERY_AGENT_STATE_REQ", None, None) in hist  # dropped CONF
    assert ("SET_CALL_DATA_REQ", "FAILURE_CONF", STATUS["E_CTI_INVALID_CALLID"]) in hist
    first_make = next(e for e in agent.history if e.request == "MAKE_CALL_REQ")
    assert first_make.reply == "MAKE_CALL_CONF" and first_make.replied_at - first_make.sent_at >= 6.0


def test_mixed_versions_each_in_its_own_format(runs):
    clients = runs["mixed-versions"]["live"][1]
    for cid, client in clients.items():
        for m in client.received():
            assert not m.anomalies and m.version == client.spec.version, (cid, m.name)
        conf = next(m for m in client.received() if m.name == "OPEN_CONF")
        fixed = {14: 26, 19: 30, 20: 30, 24: 32}[client.spec.version]
        assert conf.raw[8 + fixed] == (0xE4 if client.spec.version < 20 else 0x00), cid
    v14 = [m for m in clients["agent-v14"].received() if m.name == "CALL_DATA_UPDATE_EVENT"]
    assert v14 and v14[0].get("CALL_VAR_2") == "v14-data"


def test_protocol_errors(runs):
    clients = runs["protocol-errors"]["live"][1]
    opens = {cid: clients[cid].history[0].status for cid in
             ("old-version", "no-password", "short-idle", "reserved-set", "fake-supervisor")}
    assert opens == {"old-version": STATUS["E_CTI_INVALID_VERSION"],
                     "no-password": STATUS["E_CTI_REQUIRED_DATA_MISSING"],
                     "short-idle": STATUS["E_CTI_INVALID_TIMEOUT"],
                     "reserved-set": STATUS["E_CTI_INVALID_RESERVED_FIELD"],
                     "fake-supervisor": STATUS["E_CTI_FUNCTION_NOT_AVAILABLE"]}
    bridge = [(e.request, e.invoke_id, e.reply, e.status) for e in clients["bridge-1"].history]
    assert bridge[1:6] == [
        ("raw type 10000", 0x51, "FAILURE_CONF", STATUS["E_CTI_INVALID_MESSAGE_LENGTH"]),
        ("raw SET_AGENT_STATE_REQ", 0x52, "FAILURE_CONF", STATUS["E_CTI_INVALID_MESSAGE_LENGTH"]),
        ("raw HEARTBEAT_REQ", 0x53, "FAILURE_CONF", STATUS["E_CTI_BAD_MESSAGE_FORMAT"]),
        ("HOLD_CALL_REQ", 2, "FAILURE_CONF", STATUS["E_CTI_FUNCTION_NOT_AVAILABLE"]),
        ("raw HEARTBEAT_CONF", 0x54, "FAILURE_CONF", STATUS["E_CTI_INVALID_REQUEST_TYPE"]),
    ]
    assert all(e.reply for e in clients["bridge-1"].history)  # the session went on
    lost = clients["framing-lost"]
    assert lost.history[-1].status == STATUS["E_CTI_INVALID_MESSAGE_LENGTH"] and lost.events[-1] == "lost"
