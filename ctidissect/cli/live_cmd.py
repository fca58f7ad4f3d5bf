"""``ctidissect live``: decode CTI traffic from a network interface as it arrives."""

from __future__ import annotations

import argparse
import logging
import sys

from . import EXIT_USAGE, CliError
from .decode_cmd import RecordFilter, RecordPrinter, add_capture_options, capture_settings

EXAMPLES = """\
examples:
  # CTI on the default ports 42027/43027 of eth0 (Ctrl-C stops and prints the summary)
  sudo ctidissect live --iface eth0
  # a test server on a high port of the loopback, as JSON, saving the frames too
  sudo ctidissect live --iface lo --port 42099 --json --write cti.pcap
  # stop after 100 messages or 30 seconds, whichever comes first
  sudo ctidissect live --iface eth0 --count 100 --duration 30

Needs root (or CAP_NET_RAW).  Frames go through the same TCP reassembly as 'decode';
loopback frames that the kernel delivers twice are counted once.
exit codes: 0 stopped (Ctrl-C, --count or --duration), 2 usage error,
            3 cannot capture (not root, no such interface).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live",
        help="decode CTI traffic live from a network interface",
        description="Capture on a network interface with scapy and print CTI messages as they "
        "complete, with the same reassembly and version detection as 'decode'.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--iface", required=True, metavar="IF", help="interface to capture on (e.g. eth0, lo)")
    add_capture_options(p)
    p.add_argument("--write", metavar="FILE", help="also write the captured frames to this pcap file")
    p.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..capture.live import LiveCapture, LiveCaptureError

    settings = capture_settings(args)
    if args.count is not None and args.count < 1:
        raise CliError(f"--count {args.count} must be at least 1", EXIT_USAGE)
    if args.duration is not None and args.duration <= 0:
        raise CliError(f"--duration {args.duration} must be positive", EXIT_USAGE)
    keep = RecordFilter(args.filter)
    # scapy warns once per interface it cannot name the link layer of (e.g. Linux "lo",
    # whose frames are Ethernet-shaped, which is what the decoder assumes): not news here.
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    try:
        capture = LiveCapture(args.iface, count=args.count, timeout=args.duration, write=args.write, **settings)
        printer = RecordPrinter(sys.stdout, args.json, capture.stats)
        capture.start()
        print(f"ctidissect: capturing on {args.iface} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        try:
            for rec in capture:
                if keep(rec):
                    printer.write(rec)
                    sys.stdout.flush()
        except KeyboardInterrupt:
            # Ctrl-C is the normal way to stop: decode what is queued and report.
            pass
        for rec in capture.finish():
            if keep(rec):
                printer.write(rec)
    except LiveCaptureError as exc:
        raise CliError(str(exc)) from None
    sys.stdout.flush()
    extra = f", {capture.duplicates} duplicate frame(s) dropped" if capture.duplicates else ""
    print(f"ctidissect: {capture.stats.summary()}{extra}", file=sys.stderr)
    return 0
