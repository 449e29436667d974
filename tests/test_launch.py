"""The entry point's fast path (ctrtool.launch): what it answers without typer, click or rich is
what the app itself answers, byte for byte, and its index is the app's own declarations."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ctrtool import cliindex, launch

HEAVY = ("typer", "click", "rich", "yaml", "ctrtool.cli", "ctrtool.core", "ctrtool.runner", "ctrtool.output")


def test_the_index_is_the_apps_own():
    with open(cliindex.INDEX, encoding="utf-8") as f:
        assert f.read() == cliindex.render(cliindex.build()), "stale: run `python -m ctrtool.cliindex`"


# lines the fast path answers (command and option names) and lines it leaves to the app
FAST = [
    "ctrtool ",
    "ctrtool ima",
    "ctrtool i",
    "ctrtool zzz",
    "ctrtool -",
    "ctrtool --",
    "ctrtool --ver",
    "ctrtool -t 3 ",
    "ctrtool -t 3 --via tools ima",
    "ctrtool --timeout=3 d",
    "ctrtool -H unix:///x.sock images --all-b",
    "ctrtool images -",
    "ctrtool images -b docker -",
    "ctrtool images -b docker -b ctr --",
    "ctrtool images --all-backends -",
    "ctrtool images -o json --",
    "ctrtool rmi demo:1 --",
    "ctrtool lab ",
    "ctrtool lab u",
    "ctrtool lab up --",
    "ctrtool lab up --profile kube --n",
    "ctrtool nodes ",
    "ctrtool nodes images -",
    "ctrtool translate --",
    "ctrtool exec -",
]
SLOW = [
    "ctrtool images -o ",
    "ctrtool images -o ya",
    "ctrtool rmi -b ctr -n ",
    "ctrtool inspect box ",
    "ctrtool tag demo:1 ",
    "ctrtool -t 3 rmi ",
    "ctrtool nodes images ",
    "ctrtool -t ",
    "ctrtool --timeout=",
    "ctrtool images --output=j",
    "ctrtool exec box -",
    "ctrtool translate -- docker ",
    "ctrtool translate -- docker run --",
    "ctrtool images -Aq -",
    "ctrtool images --bogus -",
    "ctrtool 'ima",
    "ctrtool lab bogus -",
    "ctrtool copy x --from cri",
]


def _env(shell: str, line: str, action: str = "get-args") -> dict[str, str]:
    if shell == "bash":
        words = line.split()
        cword = len(words) if line.endswith(" ") else len(words) - 1
        return {"_CTRTOOL_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(cword)}
    env = {"_CTRTOOL_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": line}
    if shell == "fish":
        env["_TYPER_COMPLETE_FISH_ACTION"] = action
    return env


def _full(env: dict[str, str], monkeypatch, capsys) -> tuple[str, int]:
    """The app's answer, as ctrtool.cli.main gives it (typer's shell_complete, after prepare)."""
    import typer

    from ctrtool import completion
    from ctrtool.cli import app

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    completion.prepare()
    capsys.readouterr()
    try:
        code = typer.completion.shell_complete(
            typer.main.get_command(app), {}, "ctrtool", "_CTRTOOL_COMPLETE", env["_CTRTOOL_COMPLETE"]
        )
    except SystemExit as exc:
        code = exc.code
    return capsys.readouterr().out, code


CASES = [("bash", "get-args"), ("zsh", "get-args"), ("fish", "get-args"), ("fish", "is-args")]


@pytest.mark.parametrize("shell, action", CASES)
@pytest.mark.parametrize("line", FAST)
def test_command_and_option_names_are_the_apps_answer(shell, action, line, monkeypatch, capsys):
    env = _env(shell, line, action)
    fast = launch.fast([], env)
    assert fast is not None, "the fast path should answer this line"
    text, code = _full(env, monkeypatch, capsys)
    assert fast[1] == code
    # the same lines in the same order; click builds the help option's names (-h, --help) from a
    # set, so typer gives those two in the order of the process's string hashes
    assert sorted(_lines(fast[0])) == sorted(_lines(text))
    assert _without_help(fast[0]) == _without_help(text)


def _lines(text: str) -> list[str]:
    """One candidate a line (zsh's come inside `_arguments '*: :((...))'`)."""
    head, tail = "_arguments '*: :((", "))'\n"
    if text.startswith(head) and text.endswith(tail):
        return ["zsh:", *text[len(head) : -len(tail)].splitlines()]
    return text.splitlines()


def _without_help(text: str) -> list[str]:
    return [ln for ln in _lines(text) if not ln.lstrip('"').startswith(("-h", "--help"))]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize("line", SLOW)
def test_values_and_odd_lines_go_to_the_app(shell, line):
    assert launch.fast([], _env(shell, line)) is None


def test_the_answers_are_not_empty():
    got = launch.fast([], _env("bash", "ctrtool images --all-b"))
    assert got == ("--all-backends\n", 0)
    got = launch.fast([], _env("bash", "ctrtool ima"))
    assert got == ("images\n", 0)
    assert launch.fast(["--version"], {}) == ("ctrtool 0.1.0\n", 0)
    assert launch.fast(["--version", "images"], {}) is None


def _imported(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """The modules `python -X importtime -m ctrtool ARGS` imported (its stderr lists each)."""
    import os

    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ctrtool", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)}


def test_version_imports_neither_typer_nor_rich():
    modules = _imported(["--version"])
    assert "ctrtool.launch" in modules
    assert not _heavy(modules), _heavy(modules)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completing_a_command_or_option_imports_neither_typer_nor_rich(shell):
    for line in ("ctrtool ima", "ctrtool images --all-b", "ctrtool lab up --"):
        modules = _imported([], _env(shell, line))
        assert "ctrtool.launch" in modules
        assert not _heavy(modules), (line, _heavy(modules))


def test_an_option_value_still_goes_to_the_app():
    """The check above can fail: a value's completion loads the app (and typer)."""
    modules = _imported([], _env("bash", "ctrtool images -o ya"))
    assert {"typer", "ctrtool.cli"} <= modules
    # and rich's help renderer (markdown, 0.1 s) only for a candidate with a help to render
    assert "typer.rich_utils" not in modules and "markdown_it" not in modules


# -- image and container names, from the listing, without the app ---------------------------------

NAMES = [
    "ctrtool rmi ",
    "ctrtool rmi -b ctr -n default localhost/ctrtool/de",
    "ctrtool rmi a b ",
    "ctrtool -H unix:///x.sock --config /nonexistent rmi -b docker ",
    "ctrtool rmi -n bad!ns ",
    "ctrtool layers -b ctr -b docker -n default -n k8s.io loc",
    "ctrtool tag ",
    "ctrtool stop -b docker ctl-",
    "ctrtool inspect ",
    "ctrtool exec ",
]
ROWS = ["localhost/ctrtool/demo:1.0", "reg.io/a$b:1", "q'uote`d:2", "sha256:0123", "ctl-box", "ctl-*"]


@pytest.fixture
def listing(monkeypatch, tmp_path):
    """The listings answer with ROWS and record what they were asked (no tool is run)."""
    from types import SimpleNamespace

    from ctrtool.core import listing, query

    asked: list = []

    def list_rows(conf, backends, spaces):
        asked.append((backends, spaces, conf.timeout))
        return SimpleNamespace(rows=[SimpleNamespace(ref=r, name=r, kind="container") for r in ROWS])

    monkeypatch.setattr(listing, "list_images", list_rows)
    monkeypatch.setattr(listing, "list_containers", list_rows)
    monkeypatch.setattr(query, "select_backends", lambda conf, chosen, all_: chosen)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("CTRTOOL_CONFIG", raising=False)
    yield asked
    # the fast path ends every tool after its listing (its process exits then); this one goes on
    from ctrtool import runner

    runner._stopping.clear()
    runner._stop_signal.clear()


@pytest.mark.parametrize("shell, action", CASES)
@pytest.mark.parametrize("line", NAMES)
def test_names_are_the_apps_answer_from_the_same_listing(shell, action, line, listing, monkeypatch, capsys):
    env = _env(shell, line, action)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    fast = launch.fast([], env)
    assert fast is not None, "the fast path should answer this line"
    fast_asked = list(listing)
    listing.clear()
    assert fast == _full(env, monkeypatch, capsys)
    assert fast_asked == listing, "the same listing, with the same backends, namespaces and deadline"


def test_completing_a_name_imports_neither_typer_nor_rich(tmp_path):
    """The listing runs (here against sockets that do not exist), the app does not load."""
    offline = {
        "CONTAINERD_ADDRESS": str(tmp_path / "none.sock"),
        "DOCKER_HOST": f"unix://{tmp_path}/none.sock",
        "CONTAINER_RUNTIME_ENDPOINT": f"unix://{tmp_path}/none.sock",
        "XDG_CONFIG_HOME": str(tmp_path),
        "CTRTOOL_CONFIG": "",
    }
    modules = _imported([], {**offline, **_env("bash", "ctrtool rmi -b ctr -n default loc")})
    assert "ctrtool.names" in modules and "ctrtool.core" in modules
    assert not {m for m in modules if m.split(".")[0] in ("typer", "click", "rich")}
