"""Every command is either read-only or a change, and every change follows the one consent rule:
--dry-run always, --yes where it removes, overwrites or moves something. A new command must be put
in one of the lists below, so that it cannot forget the rule."""

from __future__ import annotations

import typer

from ctrtool.cli import app

READ_ONLY = {
    "images",
    "layers",
    "df",
    "explain",
    "info",
    "where",
    "ps",
    "pods",
    "inspect",
    "logs",
    "completion",
    "doctor",
}
# translate prints, and with --run runs the translation through the same consent rule
TRANSLATES = {"translate"}
# exec runs what the user asked in a container: it is the user's command, not ctrtool's change
RUNS_THE_USERS_COMMAND = {"exec"}
GROUPS = {"lab", "nodes"}  # the lab's own commands (tests/test_lab_daemons.py); nodes: below
# changes that may remove, overwrite or move something: they ask (refused without a terminal
# unless --yes), and say what with --dry-run
ASKS = {"stop", "kill", "rm", "rmi", "prune", "tag", "load", "save", "copy", "reclaim"}
# changes that only add (a new task, a pulled image): --dry-run
ADDS = {"start", "pull"}


def options(command) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


def test_every_command_is_classified_and_every_change_follows_the_rule():
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert set(commands) == READ_ONLY | TRANSLATES | RUNS_THE_USERS_COMMAND | GROUPS | ASKS | ADDS
    for name in ASKS | ADDS | TRANSLATES:
        assert "--dry-run" in options(commands[name]), name
    for name in ASKS | TRANSLATES:
        assert "--yes" in options(commands[name]), name
    for name in ASKS:
        assert {"--yes", "-y"} <= options(commands[name]), f"{name} changes things and cannot be confirmed"
    for name in READ_ONLY:
        assert not {"--yes", "--dry-run"} & options(commands[name]), f"{name} is read-only"


# `ctrtool nodes`: the reports make (and always delete) their own short-lived pods: --dry-run prints
# them; build-image writes a file, which may overwrite one
NODES_REPORTS = {"images", "df", "doctor", "where"}
NODES_READ_ONLY = {"rbac"}
NODES_ASKS = {"build-image"}


def test_every_nodes_command_is_classified_and_follows_the_rule():
    group = typer.main.get_command(app).commands["nodes"]  # type: ignore[attr-defined]
    assert set(group.commands) == NODES_REPORTS | NODES_READ_ONLY | NODES_ASKS
    for name in NODES_REPORTS:
        assert "--dry-run" in options(group.commands[name]) and "--yes" not in options(group.commands[name]), name
    for name in NODES_ASKS:
        assert {"--yes", "-y", "--dry-run"} <= options(group.commands[name]), name
    for name in NODES_READ_ONLY:
        assert not {"--yes", "--dry-run"} & options(group.commands[name]), name
