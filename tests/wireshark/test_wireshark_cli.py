"""``ctidissect wireshark lua|install|path``, run as a user would."""

from __future__ import annotations

from pathlib import Path

from ctidissect.cli import main
from ctidissect.cli.wireshark_cmd import default_plugin_dir
from ctidissect.wireshark import lua_path
from ctidissect.wireshark.luagen import generate_lua


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_lua_to_stdout(capsys):
    code, out, _ = run(capsys, "wireshark", "lua")
    assert code == 0
    assert out == generate_lua()


def test_lua_to_file(capsys, tmp_path):
    target = tmp_path / "ctidissect.lua"
    code, out, _ = run(capsys, "wireshark", "lua", "-o", str(target))
    assert code == 0 and out == ""
    assert target.read_text(encoding="ascii") == generate_lua()


def test_install_into_dir_prints_path(capsys, tmp_path):
    folder = tmp_path / "plugins" / "nested"
    code, out, _ = run(capsys, "wireshark", "install", "--dir", str(folder))
    assert code == 0
    target = folder / "ctidissect.lua"
    assert out.strip() == str(target)
    assert target.read_text(encoding="ascii") == generate_lua()


def test_install_default_is_the_personal_lua_plugin_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_plugin_dir() == tmp_path / ".local" / "lib" / "wireshark" / "plugins"
    code, out, _ = run(capsys, "wireshark", "install")
    assert code == 0
    assert Path(out.strip()) == tmp_path / ".local" / "lib" / "wireshark" / "plugins" / "ctidissect.lua"
    assert Path(out.strip()).is_file()


def test_path_prints_the_packaged_file(capsys):
    code, out, _ = run(capsys, "wireshark", "path")
    assert code == 0 and Path(out.strip()) == lua_path() and lua_path().is_file()


def test_missing_action_is_a_usage_error(capsys):
    code, _, err = run(capsys, "wireshark")
    assert code == 2 and "missing ACTION" in err


def test_help_has_examples(capsys):
    for args in (("wireshark", "--help"), ("wireshark", "install", "--help"), ("wireshark", "lua", "--help")):
        try:
            main(list(args))
        except SystemExit as exc:
            assert exc.code == 0
        out, _ = capsys.readouterr()
        assert "examples:" in out and "ctidissect wireshark install" in out


def test_unwritable_output_is_an_input_error(capsys, tmp_path):
    code, _, err = run(capsys, "wireshark", "lua", "-o", str(tmp_path / "missing-dir" / "x.lua"))
    assert code == 3 and err.startswith("ctidissect: error:")
