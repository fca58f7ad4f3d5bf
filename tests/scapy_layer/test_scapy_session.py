"""scapy machinery: port bindings, ``sniff(offline=..., session=TCPSession)`` and
``PcapReader`` on pcaps with several messages per segment and messages spanning segments,
version learnt from OPEN_REQ, request/answer matching by InvokeID."""

from __future__ import annotations

import pytest
from scapy.layers.inet import TCP
from scapy.packet import Raw
from scapy.plist import PacketList
from scapy.sendrecv import sniff
from scapy.sessions import TCPSession
from scapy.utils import PcapReader, rdpcap
from scapy_testlib import assert_agree, field_values, floating_items, layout_messages, write_tcp_pcap

from ctidissect.scapy_layer import (
    CTI,
    DEFAULT_PORTS,
    MESSAGE_CLASSES,
    SESSION_VERSION_KEY,
    CTIStream,
    bind_cti_ports,
    bound_ports,
    cti_messages,
    default_version,
    message,
)
from ctidissect.wire import decode_buffer, encode_message

V = 19  # a narrow-format session, so that a wrong version would show


def _conversation(version: int = V):
    c2s = [encode_message("OPEN_REQ", {"InvokeID": 1, "VersionNumber": version}, [("CLIENT_ID", "me")], version)]
    s2c = [encode_message("OPEN_CONF", {"InvokeID": 1, "PGStatus": 0}, [("AGENT_ID", "1001")], version)]
    for i in range(2, 12):
        c2s.append(encode_message("QUERY_AGENT_STATE_REQ", {"InvokeID": i}, [("AGENT_INSTRUMENT", "1001")], version))
        s2c.append(encode_message("QUERY_AGENT_STATE_CONF", {"InvokeID": i, "AgentState": 3}, [], version))
        s2c.append(encode_message("AGENT_STATE_EVENT", {"AgentState": 4}, [("AGENT_ID", "1001")], version))
    for m in layout_messages()[:40]:  # a spread of types and floating fields
        s2c.append(encode_message(m.name, field_values(m, version), floating_items(m, version), version))
    return c2s, s2c


def _segments(c2s, s2c):
    """Client stream: OPEN_REQ alone, then 3 requests per segment with one split in two.
    Server stream: cut at odd sizes (several whole messages + a partial one per segment)."""
    segs = [("c2s", c2s[0])]
    server = b"".join(s2c)
    cuts = [0]
    pos = 0
    for size in (37, 5, 200, 1, 333, 90, 7, 1500, 64):
        pos += size
        cuts.append(pos)
    cuts.append(len(server))
    server_parts = [server[a:b] for a, b in zip(cuts, cuts[1:]) if a < b]
    client_parts = []
    for i in range(0, len(c2s) - 1, 3):
        client_parts.append(b"".join(c2s[1 + i : 4 + i]))
    half = len(client_parts[0]) // 2 + 3
    client_parts[0:1] = [client_parts[0][:half], client_parts[0][half:]]
    while server_parts or client_parts:
        if server_parts:
            segs.append(("s2c", server_parts.pop(0)))
        if client_parts:
            segs.append(("c2s", client_parts.pop(0)))
    return segs


@pytest.fixture()
def pcap(tmp_path):
    c2s, s2c = _conversation()
    path = tmp_path / "conv.pcap"
    write_tcp_pcap(path, _segments(c2s, s2c))
    return path, b"".join(c2s), b"".join(s2c)


def _by_direction(pkts):
    out = {"c2s": [], "s2c": []}
    for pkt in pkts:
        if TCP not in pkt:
            continue
        direction = "c2s" if pkt[TCP].dport in DEFAULT_PORTS else "s2c"
        out[direction].extend(cti_messages(pkt))
    return out


def test_default_ports_bound():
    assert bound_ports() == DEFAULT_PORTS
    assert TCP(dport=42027).guess_payload_class(b"x" * 12) is CTIStream
    assert TCP(sport=43027).guess_payload_class(b"x" * 12) is CTIStream
    assert TCP(sport=1, dport=2).guess_payload_class(b"x" * 12) is Raw


def test_tcpsession_reassembles_and_learns_version(pcap):
    path, client, server = pcap
    pkts = sniff(offline=str(path), session=TCPSession)
    got = _by_direction(pkts)
    # Decoded at v19, learnt from OPEN_REQ (the module default is 24).
    assert all(m.version == V for d in got.values() for m in d)
    assert_agree(decode_buffer(client, V), got["c2s"])
    assert_agree(decode_buffer(server, V), got["s2c"])
    assert all(m.anomalies == [] for d in got.values() for m in d)
    # Several messages came out of one segment, and a container's bytes are its messages.
    streams = [p[CTIStream] for p in pkts if CTIStream in p]
    assert max(len(s.messages) for s in streams) >= 3
    for s in streams:
        assert bytes(s) == b"".join(bytes(m) for m in s.messages)


def test_tcpsession_agrees_with_capture_reader(pcap):
    from ctidissect.capture import read_capture
    from ctidissect.wire import Message

    path, _client, _server = pcap
    fast = [m for m in read_capture(path) if isinstance(m, Message) and m.type is not None]
    got = _by_direction(sniff(offline=str(path), session=TCPSession))
    for direction in ("c2s", "s2c"):
        assert_agree([m for m in fast if m.direction == direction], got[direction])


def test_pcapreader_per_segment(pcap):
    path, client, server = pcap
    # No session, so no OPEN_REQ to learn from: the module default gives the version.
    with default_version(V), PcapReader(str(path)) as reader:
        pkts = list(reader)
        got = _by_direction(pkts)
    # Without reassembly each segment stands alone: whole messages decode, a message split
    # across segments shows as frame.truncated (or a garbled tail), never an exception.
    whole = [m for m in got["c2s"] if not m.anomalies]
    assert [m.to_message().fields for m in whole][:1] == [decode_buffer(client, V)[0].fields]
    assert any("frame.truncated" in [a.code for a in m.anomalies] for m in got["s2c"])
    assert rdpcap(str(path))[3].haslayer(CTIStream)


def test_bind_cti_ports_one_call(tmp_path):
    data = encode_message("HEARTBEAT_REQ", {"InvokeID": 9})
    path = tmp_path / "other_port.pcap"
    write_tcp_pcap(path, [("c2s", data)], server=("10.0.0.1", 45123))
    previous = bind_cti_ports([45123])
    try:
        assert previous == DEFAULT_PORTS and bound_ports() == (45123,)
        msgs = cti_messages(sniff(offline=str(path), session=TCPSession))
        assert [m.summary() for m in msgs] == ["CTI HEARTBEAT_REQ InvokeID=9"]
        assert TCP(dport=42027).guess_payload_class(data) is Raw
        assert (TCP() / CTI()).dport == 45123
    finally:
        bind_cti_ports(previous)
    assert bound_ports() == DEFAULT_PORTS
    assert cti_messages(sniff(offline=str(path), session=TCPSession)) == []


def test_tcp_reassemble_container_pattern():
    a = encode_message("HEARTBEAT_REQ", {"InvokeID": 1})
    b = encode_message("HEARTBEAT_REQ", {"InvokeID": 2})
    meta: dict = {}
    session: dict = {}
    # Two whole messages plus a partial one: one container with both, the tail as padding.
    pkt = CTIStream.tcp_reassemble(a + b + b[:5], meta, session)
    assert [m.InvokeID for m in pkt.messages] == [1, 2]
    assert pkt.getlayer("Padding").load == b[:5]
    # Incomplete first message: nothing yet, but TCPSession is told how long to wait.
    assert CTIStream.tcp_reassemble(b[:9], meta, session) is None
    assert meta["tcp_min_len"] == len(b)
    assert CTIStream.tcp_reassemble(b[:5], {}, session) is None
    # The version is learnt per connection from OPEN_REQ.
    open_req = encode_message("OPEN_REQ", {"InvokeID": 1, "VersionNumber": 17}, [("CLIENT_ID", "x")], 17)
    pkt = CTIStream.tcp_reassemble(open_req + a, {}, session)
    assert session[SESSION_VERSION_KEY] == 17 and pkt.messages[0].version == 17
    assert pkt.messages[0].payload.get("CLIENT_ID") == "x"


def test_tcp_reassemble_resyncs_after_garbage():
    good = encode_message("HEARTBEAT_REQ", {"InvokeID": 1})
    garbage = bytes.fromhex("7fffffff 00000005") + b"\x01\x02"
    pkt = CTIStream.tcp_reassemble(garbage + good + good, {}, {})
    assert [a.code for a in pkt.anomalies] == ["stream.resync"]
    assert pkt.getlayer(Raw).load == garbage
    rest = pkt.getlayer("Padding").load
    nxt = CTIStream.tcp_reassemble(rest, {}, {})
    assert [m.summary() for m in nxt.messages] == ["CTI HEARTBEAT_REQ InvokeID=1"] * 2


def test_tcpsession_on_garbage_then_messages(tmp_path):
    good = encode_message("HEARTBEAT_REQ", {"InvokeID": 3})
    path = tmp_path / "garbage.pcap"
    write_tcp_pcap(path, [("c2s", bytes.fromhex("7fffffff 00000005 0102")), ("c2s", good + good)])
    msgs = cti_messages(sniff(offline=str(path), session=TCPSession))
    assert [m.summary() for m in msgs] == ["CTI HEARTBEAT_REQ InvokeID=3"] * 2


# ---------------------------------------------------------------------------------------
# Request/answer matching


def _req(name, invoke, **kw):
    return CTI(bytes(message(name, InvokeID=invoke, **kw)))


def test_answers_pairs_request_with_its_responses():
    req = _req("QUERY_AGENT_STATE_REQ", 5)
    conf_ = _req("QUERY_AGENT_STATE_CONF", 5)
    fail = _req("FAILURE_CONF", 5)
    other = _req("QUERY_AGENT_STATE_CONF", 6)
    assert conf_.answers(req) and fail.answers(req)
    assert not other.answers(req)
    assert not req.answers(conf_)
    assert req.hashret() == conf_.hashret() == fail.hashret() != other.hashret()
    # CONTROL_FAILURE_CONF only answers client-control requests.
    control = next(
        n
        for n, c in MESSAGE_CLASSES.items()
        if getattr(c, "cti_message", None)
        and c.cti_message.control
        and c.cti_message.fixed
        and c.cti_message.has_invoke_id
    )
    cfail = _req("CONTROL_FAILURE_CONF", 7)
    assert cfail.answers(_req(control, 7))
    assert not cfail.answers(_req("HEARTBEAT_REQ", 7))  # not a client-control request
    # Events answer nothing; unrelated confirmations do not answer.
    assert not _req("HEARTBEAT_CONF", 5).answers(req)
    assert not CTI(encode_message("AGENT_STATE_EVENT", {})).answers(req)


def test_packetlist_sr_matches_by_invoke_id():
    pkts = PacketList(
        [
            _req("HEARTBEAT_REQ", 1),
            _req("QUERY_AGENT_STATE_REQ", 2),
            CTI(encode_message("AGENT_STATE_EVENT", {})),
            _req("FAILURE_CONF", 2),
            _req("HEARTBEAT_CONF", 1),
        ]
    )
    answered, unanswered = pkts.sr()
    pairs = [(q.payload.name, a.payload.name) for q, a in answered]
    assert pairs == [("HEARTBEAT_REQ", "HEARTBEAT_CONF"), ("QUERY_AGENT_STATE_REQ", "FAILURE_CONF")]
    assert [p.payload.name for p in unanswered] == ["AGENT_STATE_EVENT"]


def test_sniffed_messages_pair_up(pcap):
    path, _client, _server = pcap
    msgs = cti_messages(sniff(offline=str(path), session=TCPSession))
    answered, _ = PacketList(msgs).sr()
    pairs = {(q.payload.InvokeID, q.payload.name, a.payload.name) for q, a in answered}
    for i in range(2, 12):
        assert (i, "QUERY_AGENT_STATE_REQ", "QUERY_AGENT_STATE_CONF") in pairs
    assert (1, "OPEN_REQ", "OPEN_CONF") in pairs
