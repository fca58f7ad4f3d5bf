"""``ctidissect simulate``: the CTI Server simulator and its scripted-client scenarios."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from ..catalogue.versions import DEFAULT_SERVER_PORTS
from . import EXIT_USAGE, CliError

SERVER_EXAMPLES = """\
examples:
  # zero-config server: peripheral 5000, team 5001 with supervisor 9001, agents created at login
  ctidissect simulate server --listen 127.0.0.1:42027 --listen 127.0.0.1:43027
  # a configured server (peripherals, agents, teams, latencies, faults: see docs/simulator.md)
  ctidissect simulate server --config captures/simulator-example.toml
  # the server side of a built-in scenario (its faults, scheduled calls and traffic)
  ctidissect simulate server --scenario failover
"""

SCENARIO_EXAMPLES = """\
examples:
  ctidissect simulate scenario --list
  # deterministic capture on a virtual clock (no root, no network): same seed, same bytes
  ctidissect simulate scenario emergency-supervisor-found --pcap emergency.pcap --seed 11
  # the same scripted clients against a running server, over real sockets
  ctidissect simulate scenario busy-hour --server 127.0.0.1:42027 --server 127.0.0.1:43027
  # 20x faster than real time (server started with the same --time-scale)
  ctidissect simulate scenario heartbeat-loss --server 127.0.0.1:42027 --time-scale 0.05
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="run the CTI Server simulator or a scripted scenario",
        description="A GED-188 CTI Server simulator (side A and side B) and scripted clients "
        "(agent desktop, supervisor, bridge, recording server).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  ctidissect simulate scenario --list\n"
        "  ctidissect simulate scenario emergency-supervisor-found --pcap emergency.pcap --seed 11\n"
        "  ctidissect simulate server --listen 127.0.0.1:42027\n\n"
        "Run 'ctidissect simulate server --help' or 'ctidissect simulate scenario --help'.",
    )
    p.set_defaults(func=lambda _args: (p.print_help(sys.stderr), EXIT_USAGE)[1])
    simsub = p.add_subparsers(dest="simulate_command", metavar="SUBCOMMAND", parser_class=type(p))

    ps = simsub.add_parser(
        "server",
        help="serve the simulated CTI Server over TCP",
        description="Serve a simulated CTI Server until interrupted (Ctrl-C) or --duration. The "
        "first --listen is side A, the second side B. Each client's OPEN_REQ VersionNumber picks "
        "its floating format (1+1 bytes up to v19, 2+2 from v20).",
        epilog=SERVER_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ps.add_argument("--listen", action="append", metavar="HOST:PORT",
                    help="listening address; give twice for side A and side B "
                    "(default 127.0.0.1:42027 and 127.0.0.1:43027)")
    source = ps.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE.toml", help="simulator configuration (docs/simulator.md)")
    source.add_argument("--scenario", metavar="NAME", help="use the [server] part of a scenario (name or file)")
    ps.add_argument("--seed", type=int, default=None, help="random seed for latencies and traffic")
    ps.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                    help="real seconds per protocol second (0.05 = 20x faster; default 1)")
    ps.add_argument("--duration", type=float, default=None, metavar="S",
                    help="stop after S real seconds (default: run until interrupted)")
    ps.add_argument("--json", action="store_true", help="print the final summary as JSON")
    ps.set_defaults(func=run_server)

    pc = simsub.add_parser(
        "scenario",
        help="run a scripted scenario (pcap on a virtual clock, or against a server)",
        description="Run a scenario's scripted clients. With --pcap (or no --server) the scenario "
        "runs on a virtual clock against an in-process server and the capture is written without "
        "root: real TCP handshakes, sequence numbers, segmentation. With --server the clients "
        "connect to a running server over real sockets.",
        epilog=SCENARIO_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pc.add_argument("name", nargs="?", metavar="NAME", help="built-in scenario name or a scenario .toml file")
    pc.add_argument("--list", action="store_true", help="list the built-in scenarios")
    pc.add_argument("--pcap", metavar="OUT.pcap", help="write the capture of a virtual-clock run here")
    pc.add_argument("--expected", metavar="OUT.json",
                    help="write what an analyzer should find in the capture (virtual-clock run)")
    pc.add_argument("--server", action="append", metavar="HOST:PORT",
                    help="run against a running server (first = side A, second = side B)")
    pc.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    pc.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                    help="with --server: real seconds per scenario second (default 1)")
    pc.add_argument("--json", action="store_true", help="print the summary as JSON")
    pc.set_defaults(func=run_scenario_cmd)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); CliError (exit 2) when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CliError(f"{text!r} is not HOST:PORT", EXIT_USAGE)
    return host.strip("[]"), int(port)


def _addresses(values: list[str] | None, default: list[str]) -> dict[str, tuple[str, int]]:
    items = values or default
    if len(items) > 2:
        raise CliError("at most two addresses (side A and side B)", EXIT_USAGE)
    return {side: parse_address(v) for side, v in zip(("A", "B"), items)}


def _check_scale(scale: float) -> None:
    if not scale > 0:
        raise CliError("--time-scale must be > 0", EXIT_USAGE)


def _load_scenario(name: str):
    from ..simulator import ConfigError, load_scenario

    try:
        return load_scenario(name)
    except FileNotFoundError as exc:
        raise CliError(str(exc).strip('"')) from None
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def run_server(args: argparse.Namespace) -> int:
    from ..simulator import ConfigError, CtiServer, SimulatorConfig, SocketServer, load_config

    _check_scale(args.time_scale)
    listen = _addresses(args.listen, [f"127.0.0.1:{port}" for port in DEFAULT_SERVER_PORTS])
    try:
        if args.config:
            config = load_config(args.config)
        elif args.scenario:
            config = _load_scenario(args.scenario).server_config(args.seed)
        else:
            config = SimulatorConfig.default()
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if args.seed is not None:
        config.seed = args.seed
    server = CtiServer(config)
    runner = SocketServer(server, listen, time_scale=args.time_scale)

    async def serve() -> None:
        await runner.start()
        sides = ", ".join(f"side {s} {h}:{p}" for s, (h, p) in sorted(runner.addresses.items()))
        print(f"ctidissect simulate server: listening on {sides} (Ctrl-C stops)", file=sys.stderr, flush=True)
        try:
            if args.duration is not None:
                await asyncio.sleep(args.duration)
            else:
                await asyncio.Event().wait()
        finally:
            await runner.close()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        print("ctidissect simulate server: stopped", file=sys.stderr)
    except OSError as exc:
        raise CliError(f"cannot listen: {exc.strerror or exc}") from None
    summary = server.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"received {sum(summary['received'].values())} messages, sent {sum(summary['sent'].values())}; "
              f"faults applied: {len(summary['faults_applied'])}")
    return 0


def run_scenario_cmd(args: argparse.Namespace) -> int:
    from ..simulator import list_scenarios
    from ..simulator.engine import result_summary, run_scenario

    if args.list:
        for name, description in list_scenarios():
            print(f"{name:28} {description}")
        return 0
    if not args.name:
        raise CliError("a scenario NAME (or --list) is required", EXIT_USAGE)
    _check_scale(args.time_scale)
    scenario = _load_scenario(args.name)
    if args.server:
        if args.pcap or args.expected:
            raise CliError("--pcap/--expected come from a virtual-clock run; drop --server", EXIT_USAGE)
        return _run_live(scenario, _addresses(args.server, []), args)
    if args.pcap:
        Path(args.pcap).parent.mkdir(parents=True, exist_ok=True)
    result = run_scenario(scenario, seed=args.seed, pcap_path=args.pcap)
    summary = result_summary(result)
    if args.expected:
        Path(args.expected).write_text(json.dumps(summary, indent=2) + "\n")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        where = f" -> {args.pcap} ({summary['packets']} packets)" if args.pcap else ""
        print(f"scenario {scenario.name} (seed {summary['seed']}, {scenario.duration:g} s virtual){where}")
        print(f"  messages: {summary['messages']['total']} "
              f"({sum(summary['messages']['c2s'].values())} client->server, "
              f"{sum(summary['messages']['s2c'].values())} server->client)")
        print(f"  unanswered requests: {len(summary['unanswered'])}; faults applied: {len(summary['faults_applied'])}")
    return 0


def _run_live(scenario, addresses: dict[str, tuple[str, int]], args: argparse.Namespace) -> int:
    import random

    from ..simulator import ScriptedClient
    from ..simulator.sockets import run_clients

    if "B" not in addresses:
        addresses["B"] = addresses["A"]  # a single server address serves both sides
    seed = scenario.seed if args.seed is None else args.seed
    clients = [ScriptedClient(spec, random.Random(seed * 1000 + i)) for i, spec in enumerate(scenario.clients)]
    asyncio.run(run_clients(clients, addresses, scenario.duration, time_scale=args.time_scale))
    report = {
        c.spec.id: {
            "received": len(c.received()),
            "sent": sum(1 for e in c.transcript if e.direction == "out"),
            "unanswered": [f"{ex.request}#{ex.invoke_id}" for ex in c.unanswered()],
            "events": c.events,
        }
        for c in clients
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for cid, r in report.items():
            print(f"{cid:20} sent {r['sent']:5}  received {r['received']:5}  unanswered {len(r['unanswered'])}  "
                  f"{' '.join(r['events'])}")
    return 0
