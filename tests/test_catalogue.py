"""Catalogue integrity: unique numbers, names and tags; pairs that exist; fixed sizes that
add up to the sizes the reference documents."""

from __future__ import annotations

import pytest

from ctidissect.catalogue import (
    ENUMS,
    MESSAGES,
    MESSAGES_BY_NAME,
    MESSAGES_BY_TYPE,
    REQUEST,
    TAGS,
    TAGS_BY_NAME,
    responses_of,
)
from ctidissect.catalogue.schema import snake_case


def test_message_numbers_and_names_unique():
    assert len({m.type for m in MESSAGES}) == len(MESSAGES)
    assert len({m.name for m in MESSAGES}) == len(MESSAGES)


def test_every_type_of_the_v24_table_is_declared():
    # Section 4 counts: 1-65, 78-79, 82-86, 91-215, 230-238, 242-245, 248-250, 254-258,
    # 260-274, 277-282 from the v24 table, plus 283/284 from v25.
    expected = set()
    for a, b in [(1, 65), (78, 79), (82, 86), (91, 215), (230, 238), (242, 245), (248, 250),
                 (254, 258), (260, 274), (277, 284)]:
        expected.update(range(a, b + 1))
    assert len(expected) == 241
    assert expected <= set(MESSAGES_BY_TYPE)


def test_tags_unique():
    assert len({t.tag for t in TAGS}) == len(TAGS)
    assert len({t.name for t in TAGS}) == len(TAGS)
    assert all(1 <= t.tag <= 313 for t in TAGS)


def test_every_confirmation_answers_an_existing_request():
    for m in MESSAGES:
        if m.answers:
            req = MESSAGES_BY_NAME[m.answers]
            assert req.kind == REQUEST, m.name


def test_every_request_with_a_conf_gets_failure_conf():
    assert responses_of("OPEN_REQ") == ("OPEN_CONF", "FAILURE_CONF")
    assert responses_of("MAKE_CALL_REQ") == ("MAKE_CALL_CONF", "FAILURE_CONF", "CONTROL_FAILURE_CONF")
    assert responses_of("EMERGENCY_CALL_REQ")[0] == "EMERGENCY_CALL_CONF"


def test_floating_names_and_enums_resolve():
    for m in MESSAGES:
        for tag_name in m.floating:
            assert tag_name in TAGS_BY_NAME, (m.name, tag_name)
        for f in m.fixed or ():
            assert f.enum is None or f.enum in ENUMS, (m.name, f.name, f.enum)
    for t in TAGS:
        assert t.enum is None or t.enum in ENUMS, (t.name, t.enum)


@pytest.mark.parametrize(
    "name,version,size",
    [
        ("OPEN_REQ", 24, 44),
        ("OPEN_CONF", 18, 26),
        ("OPEN_CONF", 19, 30),
        ("OPEN_CONF", 23, 30),
        ("OPEN_CONF", 24, 32),
        ("AGENT_STATE_EVENT", 13, 58),
        ("AGENT_STATE_EVENT", 18, 58),
        ("AGENT_STATE_EVENT", 19, 62),
        ("FAILURE_CONF", 24, 8),
        ("FAILURE_EVENT", 24, 4),
        ("CONTROL_FAILURE_CONF", 24, 10),
        ("HEARTBEAT_REQ", 24, 4),
        ("CLOSE_REQ", 24, 8),
        ("SYSTEM_EVENT", 24, 26),
        ("CALL_DELIVERED_EVENT", 24, 54),
        ("CALL_ESTABLISHED_EVENT", 24, 50),
        ("CALL_HELD_EVENT", 24, 22),
        ("CALL_CLEARED_EVENT", 24, 20),
        ("CALL_CONNECTION_CLEARED_EVENT", 24, 22),
        ("CALL_ORIGINATED_EVENT", 24, 46),
        ("CALL_FAILED_EVENT", 24, 24),
        ("CALL_CONFERENCED_EVENT", 24, 46),
        ("CALL_TRANSFERRED_EVENT", 24, 46),
        ("CALL_DIVERTED_EVENT", 24, 32),
        ("CALL_SERVICE_INITIATED_EVENT", 24, 44),
        ("BEGIN_CALL_EVENT", 24, 26),
        ("END_CALL_EVENT", 24, 16),
        ("CALL_DATA_UPDATE_EVENT", 24, 40),
        ("SET_CALL_DATA_REQ", 24, 30),
        ("RELEASE_CALL_REQ", 24, 14),
        ("QUERY_AGENT_STATE_REQ", 24, 16),
        ("QUERY_AGENT_STATE_CONF", 18, 30),
        ("QUERY_AGENT_STATE_CONF", 19, 34),
        ("SET_AGENT_STATE_REQ", 24, 21),
        ("ANSWER_CALL_REQ", 24, 14),
        ("CLEAR_CALL_REQ", 24, 14),
        ("CLEAR_CONNECTION_REQ", 24, 16),
        ("CLEAR_CONNECTION_REQ", 13, 14),
        ("CONFERENCE_CALL_REQ", 24, 40),
        ("CONSULTATION_CALL_REQ", 24, 36),
        ("MAKE_CALL_REQ", 24, 32),
        ("MAKE_CALL_REQ", 13, 28),
        ("MAKE_CALL_CONF", 24, 14),
        ("MAKE_PREDICTIVE_CALL_REQ", 24, 42),
        ("TRANSFER_CALL_REQ", 24, 40),
        ("SEND_DTMF_SIGNAL_REQ", 24, 20),
        ("MONITOR_START_REQ", 24, 24),
        ("SUPERVISOR_ASSIST_REQ", 24, 14),
        ("SUPERVISOR_ASSIST_CONF", 24, 14),
        ("EMERGENCY_CALL_REQ", 24, 14),
        ("EMERGENCY_CALL_CONF", 24, 14),
        ("EMERGENCY_CALL_EVENT", 24, 14),
        ("SUPERVISE_CALL_REQ", 24, 22),
        ("SUPERVISE_CALL_CONF", 24, 10),
        ("AGENT_TEAM_CONFIG_EVENT", 18, 12),
        ("AGENT_TEAM_CONFIG_EVENT", 19, 16),
        ("LIST_AGENT_TEAM_REQ", 24, 8),
        ("LIST_AGENT_TEAM_CONF", 24, 10),
        ("BAD_CALL_REQ", 24, 14),
        ("CLIENT_SESSION_OPENED_EVENT", 24, 24),
        ("CLIENT_SESSION_CLOSED_EVENT", 24, 16),
        ("AGENT_DESK_SETTINGS_CONF", 24, 64),
        ("SET_DEVICE_ATTRIBUTES_REQ", 24, 30),
    ],
)
def test_fixed_sizes_match_the_reference(name, version, size):
    assert MESSAGES_BY_NAME[name].fixed_size(version) == size


def test_sensitive_tags_declared():
    for name in ("CLIENT_PASSWORD", "AGENT_PASSWORD", "ANI", "DNIS", "CED", "NAMED_VARIABLE", "NAMED_ARRAY",
                 *(f"CALL_VAR_{i}" for i in range(1, 11))):
        assert TAGS_BY_NAME[name].sensitive, name
    for name in ("CLIENT_ID", "CONNECTION_DEVID", "AGENT_ID"):
        assert not TAGS_BY_NAME[name].sensitive, name


def test_layout_counts():
    full = [m for m in MESSAGES if m.fixed is not None]
    assert len(MESSAGES) >= 241
    assert len(full) >= 100


def test_snake_case():
    assert snake_case("ConnectionCallID") == "connection_call_id"
    assert snake_case("InvokeID") == "invoke_id"
    assert snake_case("CLIENT_ID") == "client_id"
    assert snake_case("PGStatus") == "pg_status"
