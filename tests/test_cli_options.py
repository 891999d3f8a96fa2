"""Every command spells, documents and defaults its options the same way.

A user who learned one command should not trip over another: ``--debug`` is
everywhere, a file written is ``-o/--output``, an option with a default
shows it as ``[default: ...]``, and an option two commands share has one
help text (except where listed below, each with its reason).
"""
from __future__ import annotations

import click
import pytest

from acecost.cli import main

#: option -> why its help may differ between commands
DIFFERENT_HELP = {
    "--format": "each command offers its own formats",
    "--depth": "analyze groups table rows, plot --breakdown groups bar segments",
    "--by": "analyze groups table rows by layer, primitive or bits; plot --y groups a sweep's points into lines",
    "--resolution": "zoo list says that another value analyses every model now",
    "--batch": "zoo list says that another value analyses every model now",
    "--quiet": "what is hidden differs: analyze's warnings panel, sweep's table",
    "--strict": "check fails on an approximate report, analyze on any fallback",
    "--x": "plot's cost axis; with --breakdown, the metric the bars split",
    "--output": "each command writes its own kind of file: a report, a figure, a table",
}


def _commands(group: click.Group = main, prefix: str = "acecost") -> list[tuple[str, click.Command]]:
    found = []
    ctx = click.Context(group, info_name=prefix)
    for name in sorted(group.list_commands(ctx)):  # the group imports each command when asked for it
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            found += _commands(cmd, f"{prefix} {name}")
        else:
            found.append((f"{prefix} {name}", cmd))
    return found


COMMANDS = _commands()


def _options(cmd: click.Command) -> list[click.Option]:
    return [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden and p.name != "help"]


def test_the_command_list_is_the_one_users_see():
    assert {name for name, _ in COMMANDS} >= {"acecost analyze", "acecost check", "acecost diff",
                                              "acecost plot", "acecost sweep", "acecost zoo list"}


@pytest.mark.parametrize("name,cmd", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_has_debug_and_help(name, cmd):
    opts = {o for p in _options(cmd) for o in p.opts}
    assert "--debug" in opts, name
    assert all(p.help for p in _options(cmd)), [p.name for p in _options(cmd) if not p.help]


@pytest.mark.parametrize("name,cmd", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_takes_dash_q_quiet(name, cmd):
    from click.testing import CliRunner

    assert any({"-q", "--quiet"} <= set(p.opts) for p in _options(cmd)), name
    args = name.split()[1:]
    for flag in ("-q", "--quiet"):  # accepted where a user puts it: before the other options
        result = CliRunner().invoke(main, [*args, flag, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, (name, flag, result.output)


@pytest.mark.parametrize("name,cmd", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_a_file_written_is_dash_o_output(name, cmd):
    for p in _options(cmd):
        if any(o in ("--out", "--output", "-o") for o in p.opts + p.secondary_opts):
            assert "-o" in p.opts and "--output" in p.opts, (name, p.opts)


@pytest.mark.parametrize("name,cmd", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_an_option_with_a_default_shows_it(name, cmd):
    ctx = click.Context(cmd, info_name=name)
    for p in _options(cmd):
        if p.is_flag and not p.secondary_opts:
            continue  # --strict, --debug: off unless given
        default = p.get_default(ctx, call=False)
        unset = default is None or type(default).__name__ == "Sentinel"  # click >= 8.2: UNSET
        if p.multiple or (unset and not isinstance(p.show_default, str)):
            continue  # nothing to show: repeatable, or no value unless given
        extra = p.get_help_extra(ctx)
        assert extra.get("default"), (name, p.opts)
        assert not extra["default"].startswith("("), (name, p.opts, extra["default"])


def test_a_shared_option_has_one_help_text():
    helps: dict[str, dict[str, str]] = {}
    for name, cmd in COMMANDS:
        for p in _options(cmd):
            helps.setdefault(max(p.opts, key=len), {})[name] = p.help
    for opt, by_command in helps.items():
        if opt in DIFFERENT_HELP or len(by_command) < 2:
            continue
        assert len(set(by_command.values())) == 1, (opt, by_command)


def test_help_renders_the_defaults_in_brackets():
    from click.testing import CliRunner

    out = CliRunner().invoke(main, ["analyze", "--help"], terminal_width=200).output
    assert "[default: 224]" in out and "[default: acecost_model]" in out and "(224)" not in out
    assert "searched, not anchored" in out


def test_a_misspelt_command_gets_a_suggestion():
    """The commands are imported on use; a name that is none of them still gets click's suggestion."""
    from click.testing import CliRunner

    r = CliRunner().invoke(main, ["swep", "model.py"])
    assert r.exit_code == 2
    assert "No such command 'swep'" in r.output and "Did you mean 'sweep'?" in r.output, r.output
