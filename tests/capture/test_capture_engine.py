"""The engine fed frame by frame (as live capture does): records leave as soon as they are
final, and waiting decisions are bounded in time."""

from __future__ import annotations

from pcapgen import Conversation, heartbeat_conf, heartbeat_req, open_req, with_link

from ctidissect.capture import CaptureDecoder


def feed_all(decoder, packets, times):
    """Feed packets; returns, per packet, the (name or anomaly code) of the records released."""
    released = []
    for i, (pkt, ts) in enumerate(zip(packets, times), start=1):
        out = decoder.feed(i, ts, 1, bytes(with_link(pkt, "ether")))
        released.append([r.name or r.anomalies[0].code for r in out])
    return released


def test_records_leave_with_the_packet_that_completes_them():
    cv = Conversation()
    p = cv.handshake() + [cv.seg("c2s", open_req(1) + heartbeat_req(2)[:5]), cv.seg("c2s", heartbeat_req(2)[5:])]
    released = feed_all(CaptureDecoder(), p, [0.0, 0.1, 0.2, 0.3, 0.4])
    assert released == [[], [], [], ["OPEN_REQ"], ["HEARTBEAT_REQ"]]


def test_unknown_version_waits_at_most_the_decision_timeout():
    cv = Conversation()
    p = [cv.seg("c2s", heartbeat_req(1)), cv.seg("s2c", heartbeat_conf(1)), cv.seg("c2s", heartbeat_req(2))]
    released = feed_all(CaptureDecoder(), p, [100.0, 100.5, 107.0])
    # Heartbeats say nothing about the version: held until 5 s have passed, then assumed.
    assert released == [
        ["tcp.midstream"],
        [],
        ["version.assumed", "HEARTBEAT_REQ", "HEARTBEAT_CONF", "HEARTBEAT_REQ"],
    ]


def test_a_silent_detect_candidate_does_not_hold_other_records():
    cti = Conversation()
    scan = Conversation(client=("10.0.0.9", 40000), server=("10.0.0.8", 9999))
    p = [scan.handshake()[0]] + cti.handshake() + [cti.seg("c2s", open_req(1))]
    released = feed_all(CaptureDecoder(detect=True), p, [0.0, 0.1, 0.2, 0.3, 0.4])
    assert released[-1] == ["OPEN_REQ"]


def test_a_detect_candidate_with_data_is_settled_by_the_timeout():
    cti = Conversation()
    other = Conversation(client=("10.0.0.9", 40000), server=("10.0.0.8", 9999))
    p = cti.handshake() + [other.seg("c2s", b"\x00\x01hello"), cti.seg("c2s", open_req(1)), cti.seg("c2s", heartbeat_req(2))]
    released = feed_all(CaptureDecoder(detect=True), p, [0.0, 0.1, 0.2, 0.3, 0.4, 6.0])
    assert released[4] == []  # behind the undecided candidate
    assert released[5] == ["OPEN_REQ", "HEARTBEAT_REQ"]
