"""cli.main runs the app with only the command the line names (typer builds every command it has
before it parses anything): the answers, help and usage errors included, are the whole app's."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from ctrtool import cli
from ctrtool.index import command_word

CLEAN_ENV = {"XDG_CONFIG_HOME": "/nonexistent-ctrtool-test", "CTRTOOL_CONFIG": "", "NO_COLOR": "1", "COLUMNS": "100"}

LINES = [
    ["images", "--help"],
    ["images", "-o", "xml"],
    ["images", "--bogus"],
    ["images", "--backend", "nerdctl"],
    ["-t", "0", "images"],
    ["--timeout=abc", "df"],
    ["-H", "unix:///nonexistent.sock", "images", "-b", "ctr", "-b", "docker", "--help"],
    ["rmi"],
    ["rmi", "--help"],
    ["where", "--help"],
    ["info", "-o", "csv"],
    ["translate", "--help"],
    ["translate", "--", "docker", "ps", "-a"],
    ["exec", "--help"],
    ["copy", "--help"],
    ["lab"],
    ["lab", "--help"],
    ["lab", "up", "--help"],
    ["lab", "bogus"],
    ["nodes", "images", "--help"],
    ["completion", "tcsh"],
    ["completion", "fish"],
    ["--version", "images"],
]


@pytest.mark.parametrize("args", LINES, ids=" ".join)
def test_the_narrowed_app_answers_as_the_whole_app(args):
    word = command_word(args)
    assert word is not None
    narrowed = cli._narrowed(args)
    assert narrowed is not cli.app
    assert len(typer.main.get_command(narrowed).commands) == 1  # type: ignore[attr-defined]
    runner = CliRunner()
    whole = runner.invoke(cli.app, args, env=CLEAN_ENV)
    only = runner.invoke(narrowed, args, env=CLEAN_ENV)
    assert (only.exit_code, only.output) == (whole.exit_code, whole.output)


@pytest.mark.parametrize(
    "args",
    [[], ["--help"], ["-h", "images"], ["bogus"], ["stats"], ["--", "images"], ["-x", "images"], ["-t3", "images"]],
    ids=" ".join,
)
def test_a_line_that_names_no_command_for_sure_gets_the_whole_app(args):
    assert cli._narrowed(args) is cli.app
