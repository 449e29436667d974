"""A translation never does more than the docker command it stands for.

The strength of a command line is defined in one place (ctrtool/translate/effects.py); this test
walks every entry of every table (ctrtool/translate/data/<tool>.yaml): every docker command, every
variant, every flag with sample values and every value and key the table's rules name, and pairs
of flags for the commands that change things. No hand-picked list of cases.
"""

from __future__ import annotations

import itertools

import pytest

from ctrtool.translate import Ids, translate
from ctrtool.translate.effects import Effect, docker_effect, signal, stop, stronger, target_effect, translation_stronger
from ctrtool.translate.grammar import CommandSpec
from ctrtool.translate.tables import TARGETS, Rule, grammar, table

FIXED = Ids(name=lambda: "ctrtool-test", exec_id=lambda: "ctrtool-exec-test", uid=lambda: "00000000-uid")
IMAGE_ID = "10da968d4b97b257d0a6d346712cd6d3bc4cb63b2b5032eabab3e008e4fb5e7a"
# sample values per flag type: for an int, also 0 and a negative number (docker stop -t -1 waits for ever)
SAMPLES = {
    "bool": [None],
    "int": ["5", "0", "-1"],
    "decimal": ["1.5"],
    "bytes": ["64m"],
    "swapbytes": ["-1", "128m"],
    "string": ["xy", "HUP", "KILL"],
    "list": ["xy", "until=24h", "label=a=b"],
}
ARGS = {
    "container": [["web"], ["web", "db"]],
    "image": [["busybox"], [IMAGE_ID], ["busybox", "localhost/x:1"]],
    "object": [["web"]],
    "command": [["sh"]],
    "ps-option": [["-ef"]],
    "path": [["web:/etc/hosts", "."]],
}


def _rule_values(rule: Rule | None) -> set[str]:
    """Every value a rule names (values: and keys:), so that each branch is exercised."""
    out: set[str] = set()
    stack = [rule]
    while stack:
        r = stack.pop()
        if r is None:
            continue
        for v, sub in (r.values or {}).items():
            out.add(v)
            stack.append(sub)
        for k, sub in (r.keys or {}).items():
            out.update({f"{k}=x", f"{k}", f"{k}=true"})
            stack.append(sub)
        stack.extend([r.otherwise, r.absent])
    return out


def _values(name: str, spec: CommandSpec, flag) -> list[str | None]:
    if flag.type == "bool":
        return ["false"] if flag.default else [None]
    values = set(SAMPLES[flag.type])
    for tool in TARGETS:
        entry = table(tool).commands[name]
        for e in [entry, *entry.variants.values()]:
            values |= _rule_values(e.flags.get(flag.long))
        if entry.dispatch and entry.dispatch["flag"] == flag.long:
            values |= set(entry.dispatch["values"])
    return sorted(values)


def _tokens(flag, value) -> list[str]:
    if value is None:
        return [flag.long]
    if flag.type == "bool":
        return [f"{flag.long}={value}"]
    return [flag.long, value]


def _base_args(spec: CommandSpec) -> list[list[str]]:
    required = [a for a in spec.args if not a.optional]
    if not required:
        return [[]] + ([ARGS[spec.args[0].kind][0]] if spec.args else [])
    if len(required) == 1:
        return ARGS[required[0].kind]
    return [
        [x for a in required for x in ARGS[a.kind][0]][: len(required)]
        if required[0].kind != "path"
        else ARGS["path"][0]
    ]


def command_lines():
    """Every docker command line the walk tries: (command, argv)."""
    for name, spec in grammar().commands.items():
        flags = [f for f in spec.flags if not f.alias_of]
        uses = [_tokens(f, v) for f in flags for v in _values(name, spec, f)]
        for args in _base_args(spec):
            yield name, [*name.split(), *args]
            for tokens in uses:
                yield name, [*name.split(), *tokens, *args]
        probe = grammar().parse([*name.split(), *_base_args(spec)[0]])
        if docker_effect(probe).family != "other":  # pairs where a change is made
            for a, b in itertools.combinations(uses, 2):
                if a[0] != b[0]:
                    for args in _base_args(spec):
                        yield name, [*name.split(), *a, *b, *args]


@pytest.mark.parametrize("tool", TARGETS)
def test_no_translation_does_more_than_the_docker_command(tool):
    from ctrtool.translate.errors import DockerUsageError

    tried, refused, stronger_ones = 0, 0, []
    for name, argv in command_lines():
        try:
            tr = translate(argv, tool, ids=FIXED)
        except DockerUsageError:
            continue  # not a valid docker command line (e.g. a bad value): docker refuses it too
        tried += 1
        if tr.argv is None:
            refused += 1
            continue
        why = translation_stronger(tr)
        if why:
            stronger_ones.append(f"docker {' '.join(argv)}: {why}")
    assert tried > 1500, f"the walk tried only {tried} command lines"
    assert refused > 0
    assert not stronger_ones, f"{tool}: translations that do more than docker:\n" + "\n".join(
        sorted(set(stronger_ones))
    )


def test_the_walk_reaches_every_entry_and_variant():
    reached = {(tool, name) for name, _ in command_lines() for tool in TARGETS}
    for tool in TARGETS:
        for name in table(tool).commands:
            assert (tool, name) in reached


# -- the cases found in use, and the model itself ----------------------------------------------------


@pytest.mark.parametrize(
    "docker, tool",
    [
        ("kill -s HUP x", "crictl"),
        ("kill -s term x", "crictl"),
        ("image prune -a --filter until=24h", "crictl"),
        ("image prune -a --filter until=24h", "nerdctl"),
        ("stop -t -1 x", "crictl"),
        ("stop -t -1 x", "nerdctl"),
        ("restart -t -1 x", "nerdctl"),
        ("system prune --volumes", "nerdctl"),
        ("system prune --filter until=1h", "nerdctl"),
    ],
)
def test_what_would_do_more_has_no_equivalent(docker, tool):
    tr = translate(docker.split(), tool, ids=FIXED)
    assert tr.argv is None and tr.reason, tr.command


def test_stronger_compares_within_a_family_and_never_lets_a_read_become_a_change():
    assert stronger(signal("KILL"), signal("HUP"))
    assert not stronger(signal("HUP"), stop(10))
    assert stronger(stop(5), stop(10)) and not stronger(stop(10), stop(5))
    assert stronger(stop(0), stop(10)) and not stronger(stop(0), signal("KILL"))
    assert stronger(stop(1), stop(-1))
    assert stronger(Effect("remove-container", (2, 1)), Effect("remove-container", (1, 1)))
    assert stronger(Effect("end", (3,)), Effect("other"))
    assert not stronger(Effect("other"), Effect("end", (3,)))


@pytest.mark.parametrize(
    "tool, argv, family, level",
    [
        ("crictl", ["crictl", "stop", "web"], "end", (3,)),  # crictl's own default timeout is 0
        ("crictl", ["crictl", "stop", "--timeout", "10", "web"], "end", (2 + 1 / 11,)),
        ("crictl", ["crictl", "rm", "web"], "remove-container", (1, 1)),
        ("crictl", ["crictl", "rm", "--force", "web"], "remove-container", (2, 1)),
        ("crictl", ["crictl", "rmi", "--prune"], "prune-images", (2, 2)),
        ("ctr", ["ctr", "-n", "k8s.io", "tasks", "kill", "web"], "end", (1,)),  # ctr sends SIGTERM unless told
        ("ctr", ["ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", "web"], "end", (3,)),
        ("ctr", ["ctr", "-n", "k8s.io", "containers", "rm", "web"], "remove-container", (1, 1)),
        ("nerdctl", ["nerdctl", "--namespace", "k8s.io", "kill", "web"], "end", (3,)),
        ("nerdctl", ["nerdctl", "--namespace", "k8s.io", "image", "prune", "--all"], "prune-images", (2, 2)),
    ],
)
def test_target_effects(tool, argv, family, level):
    got = target_effect(tool, argv)
    assert (got.family, got.level) == (family, level)


def test_docker_effects_read_docker_defaults():
    assert docker_effect(grammar().parse(["kill", "x"])).level == (3,)
    assert docker_effect(grammar().parse(["kill", "-s", "sighup", "x"])).level == (1,)
    assert docker_effect(grammar().parse(["stop", "x"])) == stop(10)
    assert docker_effect(grammar().parse(["stop", "-s", "KILL", "x"])).level == (3,)
    assert docker_effect(grammar().parse(["rmi", IMAGE_ID[:12]])).level == (2,)
    assert docker_effect(grammar().parse(["rmi", "busybox"])).level == (1,)
    assert docker_effect(grammar().parse(["ps", "-a"])).family == "other"


def test_crictl_rmi_of_a_name_is_stronger_unless_run_checks_the_other_names():
    tr = translate(["rmi", "busybox"], "crictl", ids=FIXED)
    assert translation_stronger(tr, guarded=False)
    assert translation_stronger(tr) is None
    assert any("ALL its tags" in n for n in tr.notes)


def test_run_refuses_a_translation_that_does_more(monkeypatch):
    """--run checks the rule itself, whatever a table says."""
    from ctrtool.translate import run as run_mod
    from ctrtool.translate.errors import NoEquivalent

    tr = translate(["stop", "web"], "crictl", ids=FIXED)
    tr.argv = ["crictl", "stop", "web"]  # as a table without the --timeout would give
    with pytest.raises(NoEquivalent) as info:
        run_mod.check_runnable(tr, ignore_unsupported=False)
    assert "does more than" in info.value.message and info.value.exit_code == 4
