"""Every table at 80 and 120 columns, in a real terminal (tmux): it fits the width, leaves columns
out by priority and says which, and never splits or shortens an identifier (a reference, a name,
an id); a path that must be shortened keeps its head and tail around "…"."""

from __future__ import annotations

import os
import re
import shlex
import sys

import pytest
from helpers import ctrtool_json, lab_exports, wait_for_screen

pytestmark = pytest.mark.lab

DEMO = "localhost/ctrtool/demo:1.0"
LONG = "localhost/ctrtool/long-name-for-narrow-terminals:1"  # fits at 80 beside BACKEND and NAMESPACE
END = "__ctrtool_done__"


@pytest.fixture(scope="module")
def scene(lab, lab_env):
    """A long reference in two stores, a running docker container with a long name, a pod with a
    CRI container."""
    from workloads import Native

    native = Native(lab, lab_env)
    native.docker("tag", DEMO, LONG)
    native.ctr("default", "images", "tag", DEMO, LONG)
    native.docker_run("ctl-term-a-container-with-a-long-name")
    pod = native.pod("ctl-term-pod")
    native.cri_container(pod, "ctl-term-pod", "ctl-term-box")
    yield
    native.cleanup()
    native.docker("image", "rm", LONG, check=False)
    native.ctr("default", "images", "rm", LONG, check=False)


def _screen(tmux, lab_env, width: int, args: list[str], session: str) -> list[str]:
    env = lab_exports(lab_env, "PATH", "XDG_CONFIG_HOME")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = (
        f"cd {shlex.quote(repo)} && env -u COLUMNS -u LINES NO_COLOR=1 {env} {shlex.quote(sys.executable)} "
        f"-m ctrtool {shlex.join(args)}; echo {END}; sleep 600"
    )
    import subprocess

    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", str(width), "-y", "200", command], check=True)
    try:
        wait_for_screen(tmux, session, END, seconds=60)
        got = subprocess.run(
            [*tmux, "capture-pane", "-p", "-J", "-t", session], capture_output=True, text=True, check=True
        ).stdout
    finally:
        subprocess.run([*tmux, "kill-session", "-t", session], capture_output=True)
    lines = got.splitlines()
    return lines[: lines.index(END)]


def _table(lines: list[str], width: int | None) -> list[str]:
    """The table's lines (header to last row); its rule, as wide as the table, fits the terminal
    (``width``; None: -o wide, which shows everything whole however wide)."""
    rule = next(i for i, line in enumerate(lines) if line and set(line) == {"─"})
    if width is not None:
        assert len(lines[rule]) <= width, f"the table is {len(lines[rule])} wide at {width}:\n" + "\n".join(lines)
    end = rule + 1
    while end < len(lines) and lines[end].startswith(("", " ")) and not lines[end].startswith(("[", "(")):
        end += 1
    return lines[rule - 1 : end]


def _whole(lines: list[str], words: set[str]) -> None:
    text = "\n".join(lines)
    for word in words:
        assert any(word in line for line in lines), f"{word!r} split or shortened:\n{text}"


# command, how to read the identifiers it must keep whole from its JSON
TABLES = {
    "images": (["images", "-A"], lambda j: {r["ref"] for r in j if r["ref"] and not r["ref"].startswith("sha256:")}),
    "images-wide": (
        ["images", "-A", "-o", "wide"],
        lambda j: {r["ref"] for r in j if r["ref"] and not r["ref"].startswith("sha256:")},
    ),
    "ps": (["ps", "-a", "-A"], lambda j: {r["name"] for r in j if r["name"]}),
    "pods": (["pods"], lambda j: {r["name"] for r in j}),
    "df": (["df", "-A"], lambda j: set()),
    "df-wide": (["df", "-A", "-o", "wide"], lambda j: set()),
    "df-plan": (["df", "--plan", "-A"], lambda j: {s["image"] for s in j["steps"]}),
    "layers": (["layers", "-A", DEMO], lambda j: set()),
    "layers-wide": (["layers", "-A", "-o", "wide", DEMO], lambda j: set()),
}


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_table_fits_the_terminal_and_keeps_identifiers_whole(scene, lab_env, tmux, table, width):
    args, ids = TABLES[table]
    data, _ = ctrtool_json(*[a for a in args if a not in ("-o", "wide")], env=lab_env)
    lines = _screen(tmux, lab_env, width, args, f"{table}-{width}")
    wide = "wide" in args
    rows = _table(lines, None if wide else width)
    _whole(rows, ids(data))
    left_out = [line for line in lines if line.startswith("(left out at ")]
    if wide:
        # kubectl's -o wide: every column, every cell whole, lines past the edge if need be
        # (the CRI's id-names, sha256:<id>, are always shown short, as the id column has them)
        cut = [t for line in rows[2:] for t in line.split() if "…" in t and not t.startswith("sha256:")]
        assert left_out == [] and cut == []
        return
    if left_out:
        assert left_out == [left_out[0]] and f"(left out at {width} columns: " in left_out[0]
        header = rows[0]
        for name in left_out[0].split(": ", 1)[1].split(";")[0].split(", "):
            assert f"  {name}  " not in f"  {header}  ", (name, header)
    # a caption line about a column (a store's [n] footnote, the K8S legend, df's PATH note) is
    # there only with its column
    header = f"  {rows[0]}  "
    for column, about in (("STORE", r"\[\d+\] "), ("K8S", "K8S: "), ("PATH", "PATH: ")):
        if f"  {column}  " not in header:
            assert not [line for line in lines if re.match(about, line)], (column, "\n".join(lines))
    if table == "df":
        # the number that matters when a disk is full stays; a PATH cut short is given whole
        assert "  DUPLICATED  " in header, "\n".join(lines)
        shortened = [line for line in lines if line.startswith("(shortened at ")]
        cut = any("…" in line for line in rows[2:])
        assert bool(shortened) == cut, "\n".join(lines)
        if cut:
            assert shortened == [f"(shortened at {width} columns: PATH; -o wide shows every path whole)"]
            whole = lines[lines.index("PATH whole:") + 1 :][: len(data["stores"])]
            assert [w.split(": ", 1)[0].strip() for w in whole] == [s["store"] for s in data["stores"]]
            import subprocess

            for w, store in zip(whole, data["stores"]):
                path = w.split(": ", 1)[1]
                assert "…" not in path and path.startswith(store["path"]), (path, store["path"])
                # pasted into du as the caption says, it measures the row
                du = subprocess.run(["bash", "-c", f"du -scb --apparent-size {path}"], capture_output=True, text=True)
                assert du.returncode == 0 and du.stderr == "", (path, du.stderr)
    if table in ("df", "layers"):
        # a path cut short is said to be, and -o wide shows it whole (df-wide, layers-wide)
        cut = any(t.startswith("/") and "…" in t for line in rows[2:] for t in line.split())
        said = [line for line in lines if line.startswith(f"(shortened at {width} columns: PATH; ")]
        assert bool(said) == cut, "\n".join(lines)
        # paths: whole, or their head and tail around one "…"
        stores = data["stores"] if table == "df" else [c for layer in data for c in layer["copies"]]
        real = [s["path"] for s in stores]
        for line in rows[2:]:
            token = line.split()[-1] if line.split() else ""
            if "…" in token:
                head = token.split("…")[0]
                assert any(p.startswith(head) for p in real), (token, real)


@pytest.mark.parametrize("width", [80, 120])
def test_info_keeps_every_path_whole_at_any_width(scene, lab_env, tmux, width):
    data, _ = ctrtool_json("info", "-A", env=lab_env)
    lines = _screen(tmux, lab_env, width, ["info", "-A"], f"info-{width}")
    paths = {b[k] for b in data for k in ("root", "store", "content_store") if b.get(k)}
    assert paths
    _whole(lines, paths)


def _fits(lines: list[str], width: int, whole: tuple[str, ...] = ()) -> None:
    """Every line fits ``width``, but for one that is a single word (a path, an id: never split)
    or starts with one of ``whole`` (a command, kept on one line to paste)."""
    for line in lines:
        line = line.rstrip()
        if len(line) <= width or line.lstrip().startswith(whole):
            continue
        assert len(line.lstrip(" -").split()) == 1, f"{len(line)} > {width}: {line!r}\n" + "\n".join(lines)


@pytest.mark.parametrize("width", [80, 120])
def test_doctor_is_one_line_per_check_and_the_fixes_evidence_with_v(scene, lab_env, tmux, width):
    """A FAIL (LONG is in docker and ctr's default, not in k8s.io): one line per check, wrapped
    at the width with the rest indented, and the fix with its command; no evidence without -v
    (ctr images ls's 200-column header was quoted there), the evidence as before with -v."""
    results, _ = ctrtool_json("doctor", "--image", LONG, env=lab_env, expect=1)
    failed = next(r for r in results if r["check"] == "image")
    assert failed["status"] == "fail" and failed["evidence"] and failed["fixes"]
    lines = _screen(tmux, lab_env, width, ["doctor", "--image", LONG], f"doctor-{width}")
    heads = [line for line in lines if line.startswith("[")]
    marks = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skipped": "skipped"}
    assert [h.split("]")[0][1:] for h in heads] == [marks[r["status"]] for r in results], "\n".join(lines)
    assert all(line.startswith(("[", "    ")) for line in lines[: lines.index(heads[-1]) + 1]), "\n".join(lines)
    text = "\n".join(lines)
    assert "evidence (" not in text and "      | " not in text, text
    for fix in failed["fixes"]:
        for command in fix["commands"]:
            assert f"      $ {command}" in lines, text
    problems = [r for r in results if r["status"] in ("warn", "fail")]
    assert sum(line.startswith("    fix: ") for line in lines) == sum(len(r["fixes"]) for r in problems)
    assert lines[-1] == "(-v shows the details and the evidence of each problem)", text
    _fits(lines, width, whole=("$ ",))

    for args in (["-v"], ["-o", "wide"]):
        verbose = _screen(tmux, lab_env, width, ["doctor", *args, "--image", LONG], f"doctor-{args[-1]}-{width}")
        for e in failed["evidence"]:
            verb = {"file": "read", "command": "ran", "system": "measured"}[e["kind"]]
            assert f"    evidence ({verb}): {e['source']}" in verbose, "\n".join(verbose)


@pytest.mark.parametrize("width", [80, 120])
def test_explain_wraps_between_words_and_keeps_paths_whole(scene, lab_env, tmux, width):
    data, _ = ctrtool_json("explain", "-A", DEMO, env=lab_env)
    lines = _screen(tmux, lab_env, width, ["explain", "-A", DEMO], f"explain-{width}")
    text = "\n".join(lines)
    commands = data["recommendation"]["commands"]
    _fits(lines, width, whole=tuple(commands))
    for command in commands:
        assert f"  {command}" in lines, text
    # a sentence's continuation lines are indented: only a sentence starts at the left edge
    starts = ("recommended: ", "evidence:", "not in: ", f"{DEMO} is stored ")
    assert all(line.startswith((" ", *starts)) for line in lines if line), text
    assert any(line.startswith("      ") for line in lines), text  # the evidence's sentences are longer
    # every path whole: a word of a line (the comma or semicolon after it aside)
    words = {w.rstrip(",;") for line in lines for w in line.split()}
    paths = {p for place in data["places"] for p in place["paths"]} | set(data["blobs"]["paths"])
    assert paths and paths <= words, sorted(paths - words)
