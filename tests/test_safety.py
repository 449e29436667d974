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
