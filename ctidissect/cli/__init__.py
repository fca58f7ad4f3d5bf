"""The ``ctidissect`` command line.  It only parses arguments and calls the library.

Exit codes (the same for every subcommand):

* 0 - success (anomalies found in the data are reported, not an error);
* 1 - findings over the threshold asked for (e.g. ``compliance --fail-on``);
* 2 - usage error (bad option or argument);
* 3 - input error (file missing, unreadable, not a capture, bad hex);
* 130 - interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_INTERRUPTED = 130

EPILOG = """\
exit codes: 0 success, 1 findings over the threshold, 2 usage error,
            3 input error (missing/unreadable/invalid input), 130 interrupted.
Run 'ctidissect COMMAND --help' for the options and examples of each command."""

# Each module defines register(subparsers); a command's handler returns an exit code.
COMMAND_MODULES = (
    "ctidissect.cli.hex_cmd",
    "ctidissect.cli.catalogue_cmd",
    "ctidissect.cli.decode_cmd",
    "ctidissect.cli.live_cmd",
    "ctidissect.cli.wireshark_cmd",
    "ctidissect.cli.analysis_cmd",
    "ctidissect.cli.report_cmd",
    "ctidissect.cli.simulate_cmd",
    # Added by later work (one line each): decode/live, simulate, sessions/pairs/fanout/calls,
    # latency/compliance/report, wireshark.
)


class CliError(Exception):
    """A one-line error for the user; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


def add_port_option(p: argparse.ArgumentParser) -> None:
    """``--port P`` (repeatable), read with :func:`checked_ports`."""
    from ..catalogue.versions import DEFAULT_SERVER_PORTS

    defaults = " and ".join(str(port) for port in DEFAULT_SERVER_PORTS)
    p.add_argument(
        "--port",
        type=int,
        action="append",
        metavar="P",
        help=f"CTI Server port (repeatable; default {defaults}): the side using it is the server; "
        "the first is side A, the second side B",
    )


def checked_ports(ports: list[int] | None) -> tuple[int, ...]:
    """``--port`` values (default: the catalogue's server ports), each a valid TCP port."""
    from ..catalogue.versions import DEFAULT_SERVER_PORTS

    chosen = tuple(ports) if ports else DEFAULT_SERVER_PORTS
    for port in chosen:
        if not 1 <= port <= 65535:
            raise CliError(f"--port {port} is not a TCP port", EXIT_USAGE)
    return chosen


def checked_version(version: int | None) -> int | None:
    """``--protocol-version`` (None = decide per connection), within 1..255."""
    if version is not None and not 1 <= version <= 255:
        raise CliError(f"--protocol-version {version} is not a GED-188 version", EXIT_USAGE)
    return version


def checked_seconds(option: str, value: float | None) -> float | None:
    """A duration option (seconds): positive and finite when given."""
    if value is not None and (not value > 0 or value == float("inf")):
        raise CliError(f"{option} must be a positive number of seconds, got {value}", EXIT_USAGE)
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ctidissect",
        description="Decode and analyse Cisco CTI Server (GED-188) traffic.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"ctidissect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _add_exit_codes(sub)
    return parser


EXIT_CODES_HELP = (
    "exit codes: 0 success, 1 findings over the threshold asked for, 2 usage error, "
    "3 input error, 130 interrupted"
)


def _add_exit_codes(sub: argparse._SubParsersAction) -> None:
    """Give every subcommand's --help the same exit-code line (unless it documents its own)."""
    for parser in sub.choices.values():
        if "exit code" not in (parser.epilog or ""):
            parser.epilog = f"{parser.epilog}\n\n{EXIT_CODES_HELP}" if parser.epilog else EXIT_CODES_HELP
            parser.formatter_class = argparse.RawDescriptionHelpFormatter
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_exit_codes(action)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"ctidissect: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("ctidissect: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output closed early (e.g. piped into head): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        print(f"ctidissect: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_INPUT
    except Exception as exc:  # noqa: BLE001 - last resort: one line, never a traceback
        if os.environ.get("CTIDISSECT_DEBUG"):
            raise
        print(
            f"ctidissect: internal error: {type(exc).__name__}: {exc} "
            "(set CTIDISSECT_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
