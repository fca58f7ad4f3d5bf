"""Decode throughput and memory: ctidissect against scapy, tshark (+ our Lua dissector) and
pyshark, over the same synthetic capture, in one run.

    python benchmarks/bench_decode.py                 # 1,000,000 messages (a few minutes)
    python benchmarks/bench_decode.py --quick         # 100,000 messages
    python benchmarks/bench_decode.py --messages 3000000 --skip pyshark

Every path runs in its own process; throughput is messages divided by the CPU time (user +
system) that process - and, for pyshark, the tshark it drives - spent decoding, so a busy
machine skews the figures less than wall time would.  Peak memory is the largest resident
set of the process (``ru_maxrss``).  scapy and pyshark are too slow for the whole file:
they decode its first packets and their rate is scaled from that (the output says so).
tshark decodes the whole file; its start-up (loading the Lua dissector, measured on a
one-packet file) is subtracted.  ctidissect runs on two file sizes to show that its memory
does not grow with the file, on the same capture rewritten as pcapng and with Linux cooked
headers, and once more with its C accelerator switched off (the pure-Python fallback of an
install without a compiler).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = ROOT / "ctidissect" / "wireshark" / "ctidissect.lua"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

TSHARK_OPTIONS = ["-o", "tcp.reassemble_out_of_order:TRUE", "--disable-heuristic", "smpp_tcp"]


# -- children (each measured path runs as ``bench_decode.py --child NAME FILE [N]``) -----
def _usage() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_self": me.ru_utime + me.ru_stime,
        "cpu_children": kids.ru_utime + kids.ru_stime,
        "rss_self_kib": me.ru_maxrss,
        "rss_children_kib": kids.ru_maxrss,
    }


def child_ctidissect(path: str, _limit: int) -> dict:
    from ctidissect.capture import CaptureStats, read_capture

    stats = CaptureStats()
    start = time.process_time()
    messages = floating = 0
    for rec in read_capture(path, stats=stats):
        if rec.type is not None:
            messages += 1
            floating += len(rec.floating)  # decoded already: touching it costs nothing more
    cpu = time.process_time() - start
    return {"messages": messages, "floating": floating, "cpu": cpu, "packets": stats.packets, "anomalies": stats.anomaly_records}


def child_scapy(path: str, limit: int) -> dict:
    from scapy.utils import PcapReader

    import ctidissect.scapy_layer as layer

    start = time.process_time()
    packets = messages = 0
    with PcapReader(path) as reader:
        for pkt in reader:
            packets += 1
            messages += len(layer.cti_messages(pkt))
            if packets >= limit:
                break
    return {"messages": messages, "cpu": time.process_time() - start, "packets": packets}


def child_pyshark(path: str, limit: int) -> dict:
    import pyshark

    start_usage = _usage()
    start = time.monotonic()
    cap = pyshark.FileCapture(
        path,
        keep_packets=False,
        disable_protocol="smpp",
        custom_parameters=["-X", f"lua_script:{LUA}", "-c", str(limit), "-o", "tcp.reassemble_out_of_order:TRUE"],
    )
    packets = messages = 0
    for pkt in cap:
        packets += 1
        messages += len(pkt.get_multiple_layers("cti"))
    cap.close()
    end_usage = _usage()
    cpu = (end_usage["cpu_self"] - start_usage["cpu_self"]) + (end_usage["cpu_children"] - start_usage["cpu_children"])
    return {"messages": messages, "cpu": cpu, "packets": packets, "wall": time.monotonic() - start}


def child_tshark(path: str, limit: int) -> dict:
    cmd = ["tshark", "-n", "-r", path, "-X", f"lua_script:{LUA}", *TSHARK_OPTIONS, "-T", "fields", "-e", "cti.type"]
    if limit:
        cmd[3:3] = ["-c", str(limit)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    messages = packets = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line:
            packets += 1
            messages += line.count(",") + 1  # several CTI messages in a frame: comma-joined
    proc.wait()
    usage = _usage()
    return {"messages": messages, "cpu": usage["cpu_children"], "packets": packets, "rss_tool_kib": usage["rss_children_kib"]}


CHILDREN = {"ctidissect": child_ctidissect, "scapy": child_scapy, "pyshark": child_pyshark, "tshark": child_tshark}


def run_child(name: str, path: Path, limit: int = 0, env: dict[str, str] | None = None) -> dict:
    """Run one measured path in a fresh interpreter (with ``env`` added to its
    environment); returns its report plus wall time and the peak RSS of the process (and of
    the tool it drove)."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", name, str(path), str(limit)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed: {proc.stderr.strip()[-400:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["wall_total"] = wall
    return report


# -- driver -----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages in the large capture (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="100,000 messages and smaller samples")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="where the captures go (default benchmarks/out)")
    parser.add_argument("--skip", default="", help="comma-separated paths to skip: scapy, tshark, pyshark")
    parser.add_argument("--sample-packets", type=int, default=None, help="packets decoded by scapy and pyshark")
    parser.add_argument("--child", nargs=3, metavar=("NAME", "FILE", "LIMIT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        name, path, limit = args.child
        report = CHILDREN[name](path, int(limit))
        report.update({k: v for k, v in _usage().items() if k.startswith("rss")})
        print(json.dumps(report))
        return 0

    from synthetic_capture import generate, to_linux_cooked, to_pcapng

    from ctidissect.wire import fastframes

    n_big = 100_000 if args.quick else args.messages
    n_small = max(n_big // 4, 10_000)
    sample = args.sample_packets or (2_000 if args.quick else 5_000)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    args.out.mkdir(parents=True, exist_ok=True)
    big, small = args.out / f"synthetic-{n_big}.pcap", args.out / f"synthetic-{n_small}.pcap"

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    t = time.monotonic()
    info = generate(str(big), n_big)
    generate(str(small), n_small, seed=2)
    big_ng = big.with_suffix(".pcapng")
    to_pcapng(str(big), str(big_ng))
    big_sll = big.with_name(big.stem + "-sll2.pcap")
    to_linux_cooked(str(big), str(big_sll))
    print(
        f"capture: {info['messages']:,} messages in {info['packets']:,} packets, {big.stat().st_size / 2**20:.1f} MiB, "
        f"16 connections, {info['bytes_per_message']:.0f} bytes and {info['floating_per_message']:.1f} floating "
        f"fields per message on average (generated in {time.monotonic() - t:.1f} s)"
    )

    rows = []
    ours = run_child("ctidissect", big)
    ours_small = run_child("ctidissect", small)
    rate = ours["messages"] / ours["cpu"]
    accel = "C accelerator" if fastframes.UNAVAILABLE_REASON is None else f"pure Python: {fastframes.UNAVAILABLE_REASON}"
    rows.append(("ctidissect read_capture (full decode)", ours["messages"], ours["cpu"], rate, ours["rss_self_kib"],
                 f"whole file; {accel}"))
    ng = run_child("ctidissect", big_ng)
    rows.append(("ctidissect, the same capture as pcapng", ng["messages"], ng["cpu"], ng["messages"] / ng["cpu"],
                 ng["rss_self_kib"], "whole file"))
    sll = run_child("ctidissect", big_sll)
    rows.append(("ctidissect, the same capture as Linux cooked", sll["messages"], sll["cpu"], sll["messages"] / sll["cpu"],
                 sll["rss_self_kib"], "whole file, SLL2 headers (tcpdump -i any)"))
    pure = run_child("ctidissect", big, env={fastframes.PURE_PYTHON_ENV: "1"})
    rows.append(("ctidissect, pure Python (accelerator off)", pure["messages"], pure["cpu"], pure["messages"] / pure["cpu"],
                 pure["rss_self_kib"], f"whole file, {fastframes.PURE_PYTHON_ENV}=1: the fallback without a C compiler"))

    if "tshark" not in skip and shutil.which("tshark") and LUA.exists():
        warm = run_child("tshark", big, 1)
        ts = run_child("tshark", big)
        cpu = max(ts["cpu"] - warm["cpu"], 1e-9)
        rows.append(("tshark -T fields + ctidissect.lua", ts["messages"], cpu, ts["messages"] / cpu, ts["rss_tool_kib"],
                     f"whole file, {warm['cpu']:.2f} s start-up subtracted"))
    if "scapy" not in skip:
        sc = run_child("scapy", big, sample)
        rows.append(("scapy PcapReader + ctidissect.scapy_layer", sc["messages"], sc["cpu"], sc["messages"] / sc["cpu"],
                     sc["rss_self_kib"], f"first {sc['packets']:,} packets, per segment (no reassembly), scaled"))
    if "pyshark" not in skip and shutil.which("tshark") and LUA.exists():
        py_warm = run_child("pyshark", big, 1)
        py = run_child("pyshark", big, sample // 5)
        cpu = max(py["cpu"] - py_warm["cpu"], 1e-9)
        rows.append(("pyshark FileCapture (PDML) + ctidissect.lua", py["messages"], cpu, py["messages"] / cpu,
                     max(py["rss_self_kib"], py["rss_children_kib"]),
                     f"first {py['packets']:,} packets, scaled; python + tshark CPU, {py_warm['cpu']:.2f} s start-up subtracted"))

    print()
    print(f"{'path':46} {'messages':>10} {'CPU s':>8} {'msg/s':>10} {'peak RSS':>9} {'ctidissect x':>12}  notes")
    for name, msgs, cpu, r, rss, note in rows:
        ratio = f"{rate / r:.1f}"
        print(f"{name:46} {msgs:>10,} {cpu:>8.2f} {r:>10,.0f} {rss / 1024:>7.0f} MiB {ratio:>12}  {note}")
    print()
    print(
        f"memory vs file size: ctidissect peak RSS {ours_small['rss_self_kib'] / 1024:.0f} MiB for {ours_small['messages']:,} messages "
        f"({small.stat().st_size / 2**20:.0f} MiB file), {ours['rss_self_kib'] / 1024:.0f} MiB for {ours['messages']:,} messages "
        f"({big.stat().st_size / 2**20:.0f} MiB file)"
    )
    print(f"ctidissect wall time (process start to end, imports included): {ours['wall_total']:.1f} s; "
          f"anomaly records: {ours['anomalies']}")
    targets = [("fully decoded msg/s >= 300,000", rate >= 300_000)]
    for name, _m, _c, r, _rss, _n in rows[4:]:
        want = 5 if name.startswith("tshark") else 30 if name.startswith("scapy") else None
        if want:
            targets.append((f"{want}x {name.split()[0]}", rate / r >= want))
    print("targets: " + "; ".join(f"{t} {'met' if ok else 'NOT met'}" for t, ok in targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
