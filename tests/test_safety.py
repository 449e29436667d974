"""Consent rules for destructive operations."""

from __future__ import annotations

import pytest

from ctrtool import safety


def test_dry_run_prints_the_exact_commands_and_does_not_approve(capsys):
    cmds = [["docker", "rm", "a b"], ["ctr", "-n", "k8s.io", "images", "rm", "x;y"]]
    assert safety.approve("remove things", cmds, dry_run=True, yes=True) is False
    assert capsys.readouterr().out == "docker rm 'a b'\nctr -n k8s.io images rm 'x;y'\n"


def test_yes_approves_without_asking():
    assert safety.approve("remove", [["docker", "rm", "x"]], yes=True, ask=lambda q: pytest.fail("asked")) is True


def test_without_a_terminal_it_refuses(monkeypatch):
    monkeypatch.setattr(safety, "interactive", lambda: False)
    with pytest.raises(safety.ConsentRefused) as info:
        safety.approve("remove container web", [["docker", "rm", "web"]])
    assert info.value.exit_code == 5 and "--yes" in info.value.hint


@pytest.mark.parametrize("reply, approved", [(True, True), (False, False)])
def test_on_a_terminal_it_asks(monkeypatch, reply, approved):
    monkeypatch.setattr(safety, "interactive", lambda: True)
    questions = []

    def ask(q):
        questions.append(q)
        return reply

    if approved:
        assert safety.approve("remove web", [["docker", "rm", "web"]], ask=ask) is True
    else:
        with pytest.raises(safety.ConsentRefused, match="not confirmed"):
            safety.approve("remove web", [["docker", "rm", "web"]], ask=ask)
    assert "docker rm web" in questions[0]


def test_dry_run_of_a_change_says_what_it_would_do(capsys):
    """--dry-run prints the commands on stdout and, for a change that removes or moves something,
    what it would do on stderr (crictl rmi: every name of the image goes)."""
    from ctrtool.commands.common import carry_out
    from ctrtool.model import Plan
    from ctrtool.output import Output

    plan = Plan(
        "remove image a:1 from the CRI (k8s.io): the CRI removes the whole image, every name of it (a:1, b:2)",
        [["crictl", "rmi", "a:1"]],
        lambda: pytest.fail("ran"),
        destructive=True,
    )
    assert carry_out(Output(), [plan], yes=False, dry_run=True) == []
    got = capsys.readouterr()
    assert got.out == "crictl rmi a:1\n"
    assert "would remove image a:1 from the CRI" in got.err and "(a:1, b:2)" in got.err
