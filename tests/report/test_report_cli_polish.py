"""CLI polish across every subcommand: ``--help`` with examples and the exit codes, and a
missing capture file gives a one-line error with exit code 3."""

from __future__ import annotations

import argparse

import pytest

from ctidissect.cli import build_parser, main


def _subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = (*prefix, name)
                out.append((path, sub))
                out.extend(_subcommands(sub, path))
    return out


COMMANDS = _subcommands(build_parser())
CAPTURE_WORDS = ("capture", "pcap")


def _capture_positional(parser: argparse.ArgumentParser) -> argparse.Action | None:
    for action in parser._actions:
        if action.option_strings or isinstance(action, argparse._SubParsersAction):
            continue
        label = f"{action.dest} {action.metavar or ''}".lower()
        if any(word in label for word in CAPTURE_WORDS):
            return action
    return None


def test_every_command_is_found():
    top = {path[0] for path, _ in COMMANDS}
    assert {"hex", "catalogue", "latency", "compliance", "report"} <= top


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_has_examples(path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert "example" in out.lower(), f"'ctidissect {' '.join(path)} --help' shows no example"


def _missing_capture_argv(path: tuple[str, ...], parser: argparse.ArgumentParser, tmp_path) -> list[str] | None:
    capture = _capture_positional(parser)
    if capture is None:
        return None
    argv = list(path)
    for action in parser._actions:
        if action.option_strings and action.required:
            if action.dest == "output":
                argv += [action.option_strings[0], str(tmp_path / "out.html")]
            else:
                return None  # a required option this generic test cannot fill
    for action in parser._actions:
        if action.option_strings or action is capture or isinstance(action, argparse._SubParsersAction):
            continue
        if action.nargs in ("?", "*") or action.default is not None:
            continue
        return None  # another required positional: not a plain "CAPTURE" command
    return [*argv, str(tmp_path / "does-not-exist.pcap")]


CAPTURE_COMMANDS = [(p, s) for p, s in COMMANDS if _capture_positional(s) is not None]


def test_capture_commands_are_found():
    names = {" ".join(p) for p, _ in CAPTURE_COMMANDS}
    assert {"latency", "compliance", "report"} <= names


@pytest.mark.parametrize("path", [p for p, _ in CAPTURE_COMMANDS], ids=[" ".join(p) for p, _ in CAPTURE_COMMANDS])
def test_missing_capture_is_a_one_line_input_error(path, tmp_path, capsys):
    parser = dict(CAPTURE_COMMANDS)[path]
    argv = _missing_capture_argv(path, parser, tmp_path)
    if argv is None:
        pytest.skip("needs arguments besides the capture")
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 3, (argv, captured.err)
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("ctidissect: error:")
    assert "does-not-exist.pcap" in captured.err
    assert "Traceback" not in captured.err
