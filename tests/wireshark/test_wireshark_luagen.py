"""The Lua generator and the committed ctidissect.lua (no tshark needed)."""

from __future__ import annotations

import re

import pytest

from ctidissect.catalogue import MESSAGES, TAGS, responses_of, snake_case
from ctidissect.wire.anomalies import VOCABULARY
from ctidissect.wireshark import lua_path
from ctidissect.wireshark.luagen import DECODER_CODE_PREFIXES, WALKER, fingerprint, generate_lua, lua_str


@pytest.fixture(scope="module")
def lua() -> str:
    return generate_lua()


def test_committed_lua_is_not_stale(lua):
    committed = lua_path().read_text(encoding="ascii")
    assert committed == lua, (
        "ctidissect/wireshark/ctidissect.lua is stale: regenerate it with "
        "`ctidissect wireshark lua -o ctidissect/wireshark/ctidissect.lua`"
    )


def test_generation_is_deterministic_and_ascii(lua):
    assert generate_lua() == lua
    lua.encode("ascii")
    assert "GENERATED FILE - DO NOT EDIT" in lua
    assert "ctidissect wireshark lua -o ctidissect/wireshark/ctidissect.lua" in lua
    assert f'local FINGERPRINT = "{fingerprint()}"' in lua


def test_every_tag_has_a_typed_filter_field(lua):
    for tag in TAGS:
        abbr = f"cti.float.{snake_case(tag.name)}"
        line = next((ln for ln in lua.splitlines() if ln.startswith(f"TAG[{tag.tag}] = ")), None)
        assert line is not None, tag.name
        assert f'"{abbr}"' in line and f'wire = "{tag.wire}"' in line
        expected = {"STRING": "string", "NAMEDVAR": "string", "NAMEDARRAY": "string", "UNSPEC": "bytes", "RAW": "bytes"}
        if tag.wire in expected:
            assert f"ProtoField.{expected[tag.wire]}(" in line
    assert '"cti.float.client_id"' in lua and '"cti.float.connection_devid"' in lua


def test_every_fixed_field_has_a_filter_field(lua):
    names = {f.name for m in MESSAGES for f in (m.fixed or ())}
    for name in names:
        abbr = "cti.invoke_id" if name == "InvokeID" else f"cti.field.{snake_case(name)}"
        assert f"field({lua_str(name)}, " in lua and f'"{abbr}"' in lua, name
    assert '"cti.field.connection_call_id"' in lua and '"cti.field.peripheral_id"' in lua


def block(lua: str, start: str) -> str:
    """The generated statement starting with ``start`` (up to the next comment line)."""
    begin = lua.index("\n" + start) + 1
    end = lua.find("\n--", begin)
    return lua[begin:end]


def test_every_message_type_and_layout_is_in_the_tables(lua):
    for m in MESSAGES:
        line = block(lua, f"MSG[{m.type}] = ")
        assert f'name = "{m.name}"' in line and f'kind = "{m.kind}"' in line
        if m.fixed is None:
            assert "fixed = false" in line
        else:
            for f in m.fixed:
                assert f'"{f.name}", "{f.wire}"' in line
            versioned = [f for f in m.fixed if f.since or f.until is not None]
            for f in versioned:
                assert re.search(rf'"{f.name}", "{f.wire}", {f.since}\b', line), (m.name, f.name)


def test_request_response_table_matches_responses_of(lua):
    by_name = {m.name: m.type for m in MESSAGES}
    for m in MESSAGES:
        if m.kind != "request":
            continue
        line = next(ln for ln in lua.splitlines() if ln.startswith(f"ANSWERED_BY[{m.type}] = "))
        listed = {int(n) for n in re.findall(r"\[(\d+)\] = true", line)}
        assert listed == {by_name[r] for r in responses_of(m.name)}, m.name


def test_expert_info_mirrors_the_decoder_vocabulary(lua):
    codes = [c for c in VOCABULARY if c.startswith(DECODER_CODE_PREFIXES)]
    assert "float.overrun" in codes and "fixed.short" in codes and "frame.too_long" in codes
    for code in codes:
        assert f'EXPERT["{code}"] = ProtoExpert.new("cti.expert.{code}"' in lua
    # every code the walker raises is declared
    raised = set(re.findall(r'anomaly\([^,]+, "([a-z_.]+)"', WALKER))
    assert raised <= set(codes)
    assert raised == set(codes)


def test_one_generic_walker_not_a_function_per_message(lua):
    functions = re.findall(r"^\s*(?:local\s+)?function\b", lua, re.M)
    assert len(functions) < 40
    assert lua.count("dissect_tcp_pdus(") == 1


def test_lua_string_escaping():
    assert lua_str('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert lua_str("Zoë") == '"Zo\\195\\171"'
    assert lua_str(None) == "nil"
