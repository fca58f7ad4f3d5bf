"""``ctidissect wireshark``: generate and install the Wireshark Lua dissector."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import EXIT_USAGE, CliError

EXAMPLES = """\
examples:
  # write the dissector generated from the catalogue
  ctidissect wireshark lua -o ctidissect.lua
  # refresh the copy committed in the tree after a catalogue change
  ctidissect wireshark lua -o ctidissect/wireshark/ctidissect.lua
  # install it for Wireshark and tshark (personal Lua plugin folder)
  ctidissect wireshark install
  ctidissect wireshark install --dir /tmp/plugins
  # use it once without installing
  tshark -X lua_script:$(ctidissect wireshark path) -o tcp.reassemble_out_of_order:TRUE -r capture.pcapng
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "wireshark",
        help="generate or install the Wireshark Lua dissector",
        description="The Wireshark/tshark dissector for GED-188, generated from the catalogue "
        "(data tables plus one generic walker). See docs/wireshark.md for preferences and filter fields.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="wireshark_action", metavar="ACTION", parser_class=type(p))

    lua = actions.add_parser(
        "lua",
        help="write the generated ctidissect.lua",
        description="Generate the Lua dissector from the catalogue.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lua.add_argument("-o", "--output", metavar="FILE", default="-", help="output file (default: stdout)")
    lua.set_defaults(func=run_lua)

    install = actions.add_parser(
        "install",
        help="copy the dissector into the personal Wireshark Lua plugin folder",
        description="Write the generated ctidissect.lua into the personal Lua plugin folder "
        f"(default {default_plugin_dir()}) and print its path. Wireshark and tshark load it at start "
        "(in Wireshark also Analyze > Reload Lua Plugins).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    install.add_argument("--dir", metavar="DIR", default=None, help="plugin folder to write into (created if missing)")
    install.set_defaults(func=run_install)

    path = actions.add_parser(
        "path",
        help="print the path of the ctidissect.lua shipped with the package",
        description="Print the path of the committed ctidissect.lua, e.g. for tshark -X lua_script:PATH.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    path.set_defaults(func=run_path)
    p.set_defaults(func=_missing_action(p))


def _missing_action(parser: argparse.ArgumentParser):
    def run(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        raise CliError("missing ACTION (lua, install or path)", EXIT_USAGE)

    return run


def default_plugin_dir() -> Path:
    """Wireshark's personal Lua plugin folder: ``%APPDATA%\\Wireshark\\plugins`` on Windows,
    ``~/.local/lib/wireshark/plugins`` elsewhere (Linux and macOS)."""
    if os.name == "nt" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "Wireshark" / "plugins"
    return Path.home() / ".local" / "lib" / "wireshark" / "plugins"


def run_lua(args: argparse.Namespace) -> int:
    from ..wireshark.luagen import generate_lua

    text = generate_lua()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="ascii")
    return 0


def run_install(args: argparse.Namespace) -> int:
    from ..wireshark import LUA_FILENAME
    from ..wireshark.luagen import generate_lua

    folder = Path(args.dir).expanduser() if args.dir else default_plugin_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / LUA_FILENAME
    target.write_text(generate_lua(), encoding="ascii")
    print(target)
    return 0


def run_path(args: argparse.Namespace) -> int:
    from ..wireshark import lua_path

    print(lua_path())
    return 0
