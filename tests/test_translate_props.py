"""Property tests for `ctrtool translate`: arbitrary docker argument lists never crash it, the
printed command always splits back into argv, and arguments are never reinterpreted: spaces,
quotes, `;`, `$(...)`, newlines and leading dashes come out exactly as they went in.
"""

from __future__ import annotations

import shlex

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ctrtool.cli import app
from ctrtool.errors import CtrtoolError
from ctrtool.translate import Ids, translate, translate_all
from ctrtool.translate.render import text_lines
from ctrtool.translate.tables import TARGETS, grammar

FIXED = Ids(name=lambda: "ctrtool-prop", exec_id=lambda: "ctrtool-exec-prop", uid=lambda: "uid-prop")
G = grammar()

TRICKY = st.sampled_from(
    [
        "a b",
        "it's",
        '"quoted"',
        "a;b",
        "$(reboot)",
        "`id`",
        "x\ny",
        "\t",
        "-",
        "--",
        "-rf",
        "--all",
        "-it",
        "*",
        "~",
        "#comment",
        "a#b",
        "$HOME",
        "\\",
        "'",
        '"',
        "!!",
        "&&",
        "|",
        ">out",
        "<in",
        "\x00",
        "é",
        "\u2028",
        "",
        " ",
        "=",
        "a=b",
        "name=x",
        "--filter=x",
        "{key}",
        "{value}",
        "{name}",
        "{uid}",
        "{image}",
        "{namespace}",
        "{flags}",
        "{args}",
        "$POD_ID",
        "NAMESPACE",
    ]
)
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
ARG = st.one_of(TRICKY, ANY_TEXT, st.from_regex(r"[a-z0-9][a-z0-9._-]{1,10}", fullmatch=True))

_WORDS = sorted(
    {w for c in G.commands for w in c.split()}
    | {w for a in G.aliases for w in a.split()}
    | set(G.top_level)
    | {"docker"}
)
_FLAGS = sorted(
    {f.long for spec in G.commands.values() for f in spec.flags}
    | {f.short for spec in G.commands.values() for f in spec.flags if f.short}
    | {"--", "-h", "--help", "-aq", "-it", "-an5"}
)
VOCAB = st.one_of(st.sampled_from(_WORDS), st.sampled_from(_FLAGS), ARG)


def _ok_or_expected_error(argv):
    try:
        return translate_all(argv, TARGETS, ids=FIXED)
    except CtrtoolError as exc:
        assert exc.exit_code == 2, exc.message  # only "bad docker command line" errors
        assert exc.message
        return []


def _check(translations):
    for tr in translations:
        if tr.argv is None:
            assert tr.command is None and tr.reason
            continue
        assert all(isinstance(a, str) for a in tr.argv)
        assert shlex.split(tr.command) == tr.argv
        for step in tr.before:
            assert shlex.split(step.command) == step.argv
        if not tr.files and not tr.before:
            # the whole text answer is a shell snippet: its comments never leak a token
            assert shlex.split("\n".join(text_lines(tr)), comments=True) == tr.argv


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(VOCAB, max_size=8))
def test_arbitrary_argument_lists_never_crash(argv):
    _check(_ok_or_expected_error(argv))


def _command_line(draw, name):
    spec = G.commands[name]
    words = name.split()
    if draw(st.booleans()):
        alias = [a for a, target in G.aliases.items() if target == name]
        if alias:
            words = draw(st.sampled_from(alias)).split()
    flags = []
    for _ in range(draw(st.integers(0, 4))):
        flag = draw(st.sampled_from(spec.flags)) if spec.flags else None
        if flag is None:
            break
        spelled = draw(st.sampled_from([flag.long] + ([flag.short] if flag.short else [])))
        if flag.takes_value:
            value = draw(
                st.one_of(
                    ARG,
                    st.sampled_from(
                        [
                            "json",
                            "table",
                            "5",
                            "64m",
                            "1.5",
                            "host",
                            "name=x",
                            "status=exited",
                            "label=a=b",
                            "SIGKILL",
                            "all",
                        ]
                    ),
                )
            )
            flags += [f"{spelled}={value}"] if draw(st.booleans()) and spelled.startswith("--") else [spelled, value]
        else:
            flags.append(spelled)
    args = draw(st.lists(ARG, max_size=4))
    sep = ["--"] if draw(st.booleans()) else []
    return ["docker", *words, *flags, *sep, *args]


@st.composite
def docker_lines(draw):
    return _command_line(draw, draw(st.sampled_from(sorted(G.commands))))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docker_lines())
def test_well_formed_docker_lines_translate_and_split_back(argv):
    _check(_ok_or_expected_error(argv))


# -- tricky arguments come out exactly as they went in ---------------------------------------------

TRICKY_LIST = st.lists(st.one_of(TRICKY, ANY_TEXT), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(TRICKY_LIST, st.sampled_from(["crictl", "ctr", "nerdctl", "podman"]))
def test_the_command_run_in_a_container_is_passed_on_unchanged(command, tool):
    tr = translate(["exec", "web", *command], tool, ids=FIXED)
    assert tr.argv[-len(command) :] == command
    assert shlex.split(tr.command) == tr.argv


@settings(max_examples=300, deadline=None)
@given(TRICKY_LIST, st.sampled_from(["rm", "stop", "kill", "start", "inspect", "container inspect"]))
def test_container_names_are_passed_on_unchanged(names, command):
    tr = translate([*command.split(), "--", *names], "crictl", ids=FIXED)
    tail = tr.argv[-len(names) :]
    assert tail == names
    if names[0].startswith("-") and names[0] != "-":
        # the tool must not take it for a flag
        assert tr.argv[-len(names) - 1] == "--"
    assert shlex.split(tr.command) == tr.argv


@settings(max_examples=300, deadline=None)
@given(st.one_of(TRICKY, ANY_TEXT), st.sampled_from(["crictl", "ctr", "nerdctl", "podman"]))
def test_flag_values_are_passed_on_unchanged(value, tool):
    for docker, target_flag in (
        (["logs", "--since", value, "web"], {"crictl": "--since", "nerdctl": "--since", "podman": "--since"}),
        (["exec", "-u", value, "web", "id"], {"ctr": "--user", "nerdctl": "--user", "podman": "--user"}),
        (["exec", "-w", value, "web", "pwd"], {"ctr": "--cwd", "nerdctl": "--workdir", "podman": "--workdir"}),
        (
            ["run", "-d", "--name", "box", "-e", f"A={value}", "busybox"],
            {"ctr": "--env", "nerdctl": "--env", "podman": "--env"},
        ),
    ):
        if tool not in target_flag:
            continue
        tr = translate(docker, tool, ids=FIXED)
        i = tr.argv.index(target_flag[tool])
        expected = f"A={value}" if docker[-3:-1] == ["-e", f"A={value}"] else value
        assert tr.argv[i + 1] == expected
        assert shlex.split(tr.command) == tr.argv


@settings(max_examples=200, deadline=None)
@given(st.one_of(TRICKY, ANY_TEXT))
def test_values_in_crictl_configs_are_kept_exactly(value):
    import json

    tr = translate(
        ["run", "--name", "box", "-e", f"A={value}", "-l", f"k={value}", "-w", value or "/", "busybox", "echo", value],
        "crictl",
        ids=FIXED,
    )
    container = json.loads(tr.files["box-container.json"])
    assert container["envs"] == [{"key": "A", "value": value}]
    assert container["labels"] == {"k": value}
    assert container["args"] == ["echo", value]
    text = "\n".join(text_lines(tr))
    assert "\nEOF\n" in text and text.count("\nEOF\n") == 2, "exactly the two here-documents end where they should"


runner = CliRunner()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(VOCAB, max_size=6),
    st.sampled_from(["crictl", "ctr", "nerdctl", "podman", "all"]),
    st.sampled_from(["text", "json"]),
)
def test_the_cli_answers_with_a_documented_exit_code(argv, to, fmt):
    result = runner.invoke(
        app,
        ["translate", "--to", to, "-o", fmt, "--", *argv],
        env={"XDG_CONFIG_HOME": "/nonexistent-ctrtool-test", "NO_COLOR": "1"},
    )
    assert result.exit_code in (0, 2, 4), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
