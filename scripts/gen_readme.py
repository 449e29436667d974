#!/usr/bin/env python3
"""Generate README.md's examples from a real run on fresh labs, so that they cannot drift.

README.md marks each example block:

    <!-- example: NAME -->
    ```
    $ ctrtool ...
    ...output...
    ```
    <!-- /example -->

EXAMPLES below says, for each NAME, the lab profile and the command lines (run with bash, as a
user would type them, with `ctrtool lab env`'s variables, NO_COLOR=1 and COLUMNS=100; stdout and
stderr in the order they were written). The labs are fresh ones in the generator's own directories
(/var/tmp/ctrtool-gen for debian, /var/tmp/ctrtool-gen-PROFILE for the others), never the default
ones a user's `ctrtool lab up` takes (/var/tmp/ctrtool-lab, /var/tmp/ctrtool-lab-PROFILE): a lab a
user left running there is neither shown nor touched. The outputs name the default directories, as a
user's run would: the generator's directory has the same length (so tables lay out the same) and is
written back as the default one, in full paths and in paths shortened in the middle. One run at a
time (a lock, /var/tmp/ctrtool-gen.lock); a lab still running in the generator's directory is one an
interrupted run left, and is purged first. The labs are purged at the end.

    scripts/gen_readme.py            rewrite README.md (atomically)
    scripts/gen_readme.py --check    regenerate and compare, exit 1 on a difference (the test
                                     suite runs this): what varies from run to run (docker's
                                     random directory ids, container ids, ages) is masked
"""

from __future__ import annotations

import argparse
import difflib
import fcntl
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
COLUMNS = "100"
DEMO = "localhost/ctrtool/demo:1.0"
# the directories README's outputs name (`ctrtool lab up`'s defaults) and the generator's own, of
# the same length: lab_dir() is where the labs run, as_readme() writes the outputs back
README_ROOT = "/var/tmp/ctrtool-lab"
RUN_ROOT = "/var/tmp/ctrtool-gen"
LOCK = "/var/tmp/ctrtool-gen.lock"
assert len(README_ROOT) == len(RUN_ROOT)


def lab_dir(profile: str) -> str:
    """Where the generator runs PROFILE's lab (never a directory a user's `lab up` takes)."""
    return RUN_ROOT if profile == "debian" else f"{RUN_ROOT}-{profile}"


def as_readme(text: str) -> str:
    """An output as a run in the default directories prints it: the generator's directory written
    as README_ROOT, whole or as the start of a path shortened in the middle ("/var/tmp/ctrtool-ge…")."""
    text = text.replace(RUN_ROOT, README_ROOT)
    common = len(os.path.commonprefix([RUN_ROOT, README_ROOT]))
    for k in range(len(RUN_ROOT) - 1, common, -1):
        text = text.replace(RUN_ROOT[:k] + "…", README_ROOT[:k] + "…")
    return text


KUBE_LAB = lab_dir("kube")
KUBE_NODE = KUBE_LAB + "/nodes/node-{}"


@dataclass
class Example:
    name: str
    profile: str  # a lab profile, or "" for none
    lines: list[str]
    setup: list[list[str]] = field(default_factory=list)  # argv run before (native tools), quietly
    teardown: list[list[str]] = field(default_factory=list)


EXAMPLES = [
    Example(
        "doctor",
        "debian",
        # the disk check is left out: its figure is the host disk's, which changes from run to run
        [
            "ctrtool doctor --image localhost/app:2 --check endpoints --check cri_plugin --check image "
            '--check versions; echo "exit status $?"'
        ],
        setup=[["ctr", "-n", "default", "images", "tag", DEMO, "localhost/app:2"]],
        # --sync: containerd collects what the removal leaves before the next example reads the
        # store (without it, its collector ran late under load and df --plan showed a blob the
        # collector had not reached yet)
        teardown=[["ctr", "-n", "default", "images", "rm", "--sync", "localhost/app:2"]],
    ),
    Example("images", "debian", ["ctrtool images --all-backends"]),
    Example("layers", "debian", [f"ctrtool layers {DEMO}"]),
    Example("df", "debian", ["ctrtool df"]),
    Example("df-plan", "debian", ["ctrtool df --plan"]),
    Example("images-modern", "modern", ["ctrtool images --all-backends"]),
    Example("info-docker-modern", "modern", ["ctrtool info -b docker"]),
    Example("info", "debian", ["ctrtool info"]),
    Example("json", "debian", ["ctrtool images -b docker -o json"]),
    Example(
        "partial",
        "debian",
        ['ctrtool -t 2 --docker-host unix:///nonexistent.sock images --all-backends -q; echo "exit status $?"'],
    ),
    Example(
        "containers",
        "debian",
        [
            "ctrtool ps",
            "ctrtool exec web -- sh -c 'echo hello from $(hostname); exit 3'; echo \"exit status $?\"",
            "ctrtool rm --force --dry-run web",
            'ctrtool stop web; echo "exit status $?"',
        ],
        setup=[["docker", "run", "-d", "--name", "web", DEMO, "sleep", "3600"]],
        teardown=[["docker", "rm", "-f", "web"]],
    ),
    Example(
        "nodes-where",
        "kube",
        [
            'ctrtool nodes where localhost/app:3 --all; echo "exit status $?"',
            "ctrtool nodes images localhost/app --all",
        ],
        setup=[
            # node-1: the image in k8s.io; node-2: only in docker (containerd namespace moby), and a
            # pod there that cannot start
            [
                "ctr",
                "-a",
                f"{KUBE_NODE.format(1)}/containerd/containerd.sock",
                "-n",
                "k8s.io",
                "images",
                "tag",
                DEMO,
                "localhost/app:3",
            ],
            [
                "docker",
                "-H",
                f"unix://{KUBE_NODE.format(2)}/docker/docker.sock",
                "load",
                "-i",
                f"{KUBE_LAB}/images/demo.tar",
            ],
            ["docker", "-H", f"unix://{KUBE_NODE.format(2)}/docker/docker.sock", "tag", DEMO, "localhost/app:3"],
            [
                "kubectl",
                "run",
                "app",
                "--image=localhost/app:3",
                "--image-pull-policy=Never",
                '--overrides={"spec": {"nodeName": "node-2"}}',
                "--",
                "sleep",
                "3600",
            ],
            [
                "kubectl",
                "wait",
                "pod/app",
                "--timeout=90s",
                "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=ErrImageNeverPull",
            ],
            # the CRI of node-1 learns of ctr's tag by an event
            [
                "sh",
                "-c",
                f"until crictl -r unix://{KUBE_NODE.format(1)}/containerd/containerd.sock images -q "
                "localhost/app:3 | grep -q .; do sleep 0.2; done",
            ],
        ],
    ),
    Example("not-ctrtool", "", ["ctrtool stats"]),
    Example(
        "translate",
        "",
        ["ctrtool translate --to all -- docker load -i demo.tar", "ctrtool translate -- docker kill -s HUP web"],
    ),
]

MARK = re.compile(r"<!-- example: (?P<name>[\w-]+) -->\n```\n(?P<body>.*?)```\n<!-- /example -->", re.S)


def ctrtool_bin() -> str:
    here = os.path.dirname(sys.executable)
    return here if os.path.exists(os.path.join(here, "ctrtool")) else ""


def ctrtool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ctrtool", *args], capture_output=True, text=True, env=env, cwd=REPO, check=False
    )


def start_lab(profile: str) -> dict[str, str]:
    directory = lab_dir(profile)
    # the generator's own directory (under its lock): whatever is there, an interrupted run left
    if os.path.exists(directory):
        stop_lab(profile)
    up = ctrtool("lab", "up", "--profile", profile, "--dir", directory)
    if up.returncode != 0:
        raise SystemExit(f"gen_readme: lab up --profile {profile} failed:\n{up.stderr}")
    exports = ctrtool("lab", "env", "--dir", directory).stdout
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONTEXT", "CONTAINERD_NAMESPACE", "CTRTOOL_CONFIG")}
    for line in exports.splitlines():
        m = re.match(r"export (\w+)=(.*)$", line)
        if m:
            import shlex

            env[m.group(1)] = shlex.split(m.group(2))[0] if m.group(2) else ""
    return env


def stop_lab(profile: str) -> None:
    ctrtool("lab", "down", "--purge", "--yes", "--dir", lab_dir(profile))


def run_example(example: Example, env: dict[str, str]) -> str:
    env = dict(env, NO_COLOR="1", COLUMNS=COLUMNS, TERM="dumb")
    env.pop("CTRTOOL_DEBUG", None)
    bindir = ctrtool_bin()
    if bindir:
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    for argv in example.setup:
        subprocess.run(argv, env=env, capture_output=True, check=True)
    out = []
    try:
        for line in example.lines:
            got = subprocess.run(
                ["bash", "-c", line],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd="/tmp",
                check=False,
            )
            out.append(f"$ {line}\n{as_readme(got.stdout)}")
    finally:
        for argv in example.teardown:
            subprocess.run(argv, env=env, capture_output=True, check=False)
    return "".join(out)


def generate() -> dict[str, str]:
    """Every example's block, from fresh labs in the generator's directories (one run at a time)."""
    with open(LOCK, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _generate()


def _generate() -> dict[str, str]:
    blocks: dict[str, str] = {}
    profiles = list(dict.fromkeys(e.profile for e in EXAMPLES))
    for profile in profiles:
        env = start_lab(profile) if profile else dict(os.environ)
        try:
            for example in EXAMPLES:
                if example.profile == profile:
                    blocks[example.name] = run_example(example, env)
        finally:
            if profile:
                stop_lab(profile)
    return blocks


_HEX = re.compile(r"(?<=…)[0-9a-f]+|[0-9a-f]+(?=…)|\b[0-9a-f]{12,}\b")
_AGE = re.compile(r"\b(just now|\d+ (second|minute|hour)s? ago|About (a|an) (minute|hour) ago)\b")


# df's byte account: a root's total and its bars hold the tools' databases, whose size depends on
# their write history (bolt files grow in steps), so the figures are masked there, not the words
_ACCOUNT_SIZE = re.compile(r"\d+(?:\.\d+)? (?:B|KiB|MiB|GiB|TiB)")
_BAR = re.compile(r"^  [█▓▒░]+$")


def masked(text: str) -> str:
    """What a rerun on a fresh lab must reproduce: docker's random ids, container ids and ages
    masked, runs of blanks (column widths follow them) made one; the byte account's bars and sizes
    masked (its words kept)."""
    text = _AGE.sub("<age>", _HEX.sub("<hex>", text))
    lines = []
    for line in text.splitlines():
        if _BAR.match(line):
            line = "  <bar>"
        elif line.startswith("  █ needed ") or re.match(r"^/\S+ \((containerd|docker)\): ", line):
            line = _ACCOUNT_SIZE.sub("<size>", line)
        lines.append(re.sub(r"[ ─]+", " ", line).rstrip())
    return "\n".join(lines)


def check_names(readme: str) -> list[str]:
    """Differences between README's marked blocks and EXAMPLES: names, and each block's commands."""
    problems = []
    found = {m.group("name"): m.group("body") for m in MARK.finditer(readme)}
    for example in EXAMPLES:
        body = found.get(example.name)
        if body is None:
            problems.append(f"README.md has no block <!-- example: {example.name} -->")
            continue
        commands = [line[2:] for line in body.splitlines() if line.startswith("$ ")]
        if commands != example.lines:
            problems.append(f"block {example.name}: commands {commands} are not {example.lines}")
    for name in found:
        if name not in {e.name for e in EXAMPLES}:
            problems.append(f"README.md block {name!r} is not an example of scripts/gen_readme.py")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    with open(README, encoding="utf-8") as fh:
        readme = fh.read()
    problems = check_names(readme)
    if problems and args.check:
        print("\n".join(problems), file=sys.stderr)
        return 1
    blocks = generate()
    if args.check:
        diffs = []
        for m in MARK.finditer(readme):
            want, got = masked(m.group("body")), masked(blocks[m.group("name")])
            if want != got:
                diffs += difflib.unified_diff(
                    want.splitlines(), got.splitlines(), f"README {m.group('name')}", "this run", lineterm=""
                )
        if diffs:
            print("README.md's examples differ from a run now (scripts/gen_readme.py rewrites them):", file=sys.stderr)
            print("\n".join(diffs), file=sys.stderr)
            return 1
        print(f"README.md: {len(blocks)} examples match a run now")
        return 0
    new = MARK.sub(
        lambda m: f"<!-- example: {m.group('name')} -->\n```\n{blocks[m.group('name')]}```\n<!-- /example -->", readme
    )
    fd, tmp = tempfile.mkstemp(dir=REPO, prefix=".README.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(new)
    os.chmod(tmp, 0o644)
    os.replace(tmp, README)
    print(f"README.md: {len(blocks)} examples written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
