"""Map a parsed docker command onto one target tool by its table. Pure: no tool is run and no
file is written; generated config files come back as text in :attr:`Translation.files`.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import shlex
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .convert import convert, ctr_image_filter, looks_like_id, normalize_ref
from .errors import Unsupported
from .grammar import DockerCall
from .tables import ConfigOp, Entry, Rule, Table

DEFAULT_NAMESPACE = "k8s.io"
_DOCKER_NAME = re.compile(r"^/?([a-zA-Z0-9][a-zA-Z0-9_.-]+)$")


class Placeholder(str):
    """An argv token that stands for a value captured from an earlier step (``$POD_ID``): quoted
    so that the shell expands it, while ``shlex.split`` still gives back the same token."""


_FIELD = re.compile(r"\{(\w+)\}")


def fill(template: str, values: dict[str, str]) -> str:
    """Put values into a table's template in one pass: a value that itself contains `{key}` stays
    as it is (it is the user's, not the table's)."""
    return _FIELD.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), template)


def quote(token: str) -> str:
    if isinstance(token, Placeholder):
        return f'"{token}"'
    return shlex.quote(token)


def join(argv: list[str]) -> str:
    return " ".join(quote(t) for t in argv)


@dataclass
class Ids:
    """Where made-up names come from (tests pass fixed ones)."""

    name: Callable[[], str] = lambda: "ctrtool-" + secrets.token_hex(3)
    exec_id: Callable[[], str] = lambda: "ctrtool-exec-" + secrets.token_hex(4)
    uid: Callable[[], str] = lambda: str(uuid.uuid4())


@dataclass
class Before:
    argv: list[str]
    capture: str | None
    note: str | None

    @property
    def command(self) -> str:
        return join(self.argv)

    def to_dict(self) -> dict[str, Any]:
        return {"argv": list(map(str, self.argv)), "command": self.command, "capture": self.capture}


@dataclass
class Translation:
    tool: str
    argv: list[str] | None
    reason: str | None = None  # why there is no equivalent (argv is None)
    unsupported: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    before: list[Before] = field(default_factory=list)
    # for --run
    stream: list[str] = field(default_factory=list)
    destructive: str | None = None
    containers: list[int] = field(default_factory=list)  # argv indexes holding docker container names
    images: list[int] = field(default_factory=list)  # argv indexes holding image references
    docker: DockerCall | None = None
    help: bool = False

    @property
    def command(self) -> str | None:
        return None if self.argv is None else join(self.argv)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "argv": None if self.argv is None else [str(t) for t in self.argv],
            "command": self.command,
            "reason": self.reason,
            "unsupported": self.unsupported,
            "notes": self.notes,
            "files": self.files,
            "before": [b.to_dict() for b in self.before],
        }


class _State:
    def __init__(self, call: DockerCall, entry: Entry, table: Table, ids: Ids):
        self.call = call
        self.entry = entry
        self.table = table
        self.ids = ids
        self.flags_out: list[str] = []
        self.unsupported: list[dict[str, str]] = []
        self.notes: list[str] = []
        self.stream: list[str] = []
        self.slots: dict[str, str] = {}
        self.config_ops: list[tuple[ConfigOp, Any]] = []
        self.keys_seen: dict[str, set[str]] = {}
        self.refused: list[str] = []  # why there is no equivalent with the flags given

    def note(self, text: str | None) -> None:
        if text and text not in self.notes:
            self.notes.append(text)

    def drop(self, shown: str, reason: str) -> None:
        self.unsupported.append({"arg": shown, "reason": reason})

    def refuse(self, reason: str) -> None:
        if reason not in self.refused:
            self.refused.append(reason)


def effective(call: DockerCall) -> dict[str, str]:
    """Flag -> value of the flags that count: a bool at its default value counts as not given."""
    spec = call.spec
    out: dict[str, str] = {}
    for use in call.flags:
        flag = spec.by_long.get(use.flag) if spec else None
        if flag is not None and flag.type == "bool":
            default = "true" if flag.default else "false"
            if use.value == default:
                out.pop(use.flag, None)
                continue
        out[use.flag] = use.value
    return out


def translate_call(
    call: DockerCall, table: Table, namespace: str = DEFAULT_NAMESPACE, ids: Ids | None = None
) -> Translation:
    ids = ids or Ids()
    entry = table.commands[call.command]
    given = effective(call)
    if entry.dispatch:
        d = entry.dispatch
        value = given.get(d["flag"])
        if value is None:
            name = d["absent"]
        elif value in d["values"]:
            name = d["values"][value]
        else:
            name = d["otherwise"] or d["absent"]
        consumed = d["flag"]
        notes = list(entry.notes)
        entry = entry.variants[name]
        entry_notes = notes + entry.notes
    else:
        consumed = None
        entry_notes = list(entry.notes)
    prefix = [fill(t, {"namespace": namespace}) for t in table.prefix]
    tr = Translation(table.tool, None, docker=call)
    for use in call.global_flags:
        tr.unsupported.append(
            {"arg": use.shown, "reason": "ctrtool's own options choose the endpoint (-H, -a, -r; see `ctrtool info`)"}
        )
    if entry.none:
        tr.reason = entry.none
        tr.notes = [n.replace("NAMESPACE", namespace) for n in entry_notes]
        return tr
    if call.help:
        tr.argv = [table.tool, *prefix, *entry.words(), "--help"]
        tr.help = True
        tr.notes = [f"`{call.typed} --help` -> the help of `{table.tool} {' '.join(entry.words())}`."]
        return tr

    st = _State(call, entry, table, ids)
    last = {use.flag: i for i, use in enumerate(call.flags)}
    assert call.spec is not None  # a call that reached the engine was parsed against its command's spec
    for i, use in enumerate(call.flags):
        spec = call.spec.by_long[use.flag]
        if use.flag not in given:
            continue  # a bool at its default value (docker ignores it too)
        if spec.type != "list" and last[use.flag] != i:
            continue  # docker keeps the last value of a flag that is not a list
        if use.flag == consumed and use.flag not in entry.flags:
            continue
        rule = entry.flags.get(use.flag) or entry.default
        assert rule is not None  # tables.py refuses a table with a flag that has no rule and no default
        _apply(st, rule, use.flag, use.value, use.shown, given)
    for flag, rule in entry.flags.items():
        if rule.absent is not None and flag not in given:
            _apply(st, rule.absent, flag, "", "", given)
    for implicit in entry.implicit:
        if any(_condition(c, call, given) for c in implicit.unless):
            continue
        if implicit.emit:
            st.flags_out.extend(implicit.emit)
        for op in implicit.config or []:
            st.config_ops.append((op, op.value))
        st.note(implicit.note)
    if st.refused:
        # a flag the target cannot honour, and leaving it out would do more than docker
        tr.reason = "; ".join(st.refused)
        tr.unsupported = tr.unsupported + st.unsupported
        tr.notes = st.notes + [n.replace("NAMESPACE", namespace) for n in entry_notes]
        return tr

    args = list(call.args)
    kinds = list(call.kinds)
    if entry.args.get("kind"):  # docker's NAME|ID is a container or an image, as this variant reads it
        kinds = [entry.args["kind"] if k == "object" else k for k in kinds]
    # argument count limits of the target
    low, high = entry.args.get("min"), entry.args.get("max")
    if low is not None and len(args) < low:
        tr.reason = entry.args["min_reason"]
        tr.unsupported = st.unsupported
        tr.notes = st.notes + entry_notes
        return tr
    if high is not None and len(args) > high:
        for extra in args[high:]:
            st.drop(shlex.quote(extra), entry.args["max_reason"])
        args, kinds = args[:high], kinds[:high]
    # image references as the target wants them
    mode = entry.args.get("images")
    normalized: list[str] = []
    for i, (arg, kind) in enumerate(zip(args, kinds)):
        if kind != "image" or mode is None or (mode == "first" and i > 0):
            continue
        if mode == "ctr-filter":
            try:
                args[i] = ctr_image_filter(arg)
            except Unsupported as exc:
                st.drop(shlex.quote(arg), str(exc))
                args[i] = None  # type: ignore[call-overload]
            continue
        full = normalize_ref(arg)
        if full is None:
            if looks_like_id(arg):
                st.note(
                    f"{arg}: {table.tool} takes image names, not IDs (in k8s.io the CRI also names each "
                    "image sha256:<full ID>)."
                )
            else:
                st.note(f"{arg!r} is not a docker image reference: passed on as it is.")
        elif full != arg:
            args[i] = full
            normalized.append(f"{arg} -> {full}")
    kept = [(a, k) for a, k in zip(args, kinds) if a is not None]
    args, kinds = [a for a, _ in kept], [k for _, k in kept]
    if normalized:
        st.note(f"{table.tool} takes full image references: " + ", ".join(normalized) + ".")

    files: dict[str, str] = {}
    file_names: dict[str, str] = {}
    if entry.config is not None:
        files, file_names = _config_files(st, entry, args)
        args = []  # the image and command went into the container config
        kinds = []
    for name, slot in entry.slots.items():
        if name not in st.slots:
            if "default" in slot:
                st.slots[name] = slot["default"]
            elif slot.get("generate") == "name":
                st.slots[name] = ids.name()
            elif slot.get("generate") == "exec-id":
                st.slots[name] = ids.exec_id()

    argv, containers, images = _render(entry, st, args, kinds, file_names)
    tr.argv = [table.tool, *prefix, *argv]
    offset = 1 + len(prefix)
    tr.containers = [i + offset for i in containers]
    tr.images = [i + offset for i in images]
    tr.before = [
        Before([table.tool, *prefix, *_render_step(step.argv, file_names)], step.capture, step.note)
        for step in entry.before
    ]
    for step in entry.before:
        if step.note:
            st.note(f"{step.capture}: {step.note}." if step.capture else step.note)
    tr.unsupported = tr.unsupported + st.unsupported
    tr.notes = st.notes + [n.replace("NAMESPACE", namespace) for n in entry_notes]
    tr.files = files
    tr.stream = st.stream + ([entry.stream] if entry.stream else [])
    tr.destructive = entry.destructive
    return tr


def _condition(cond: str, call: DockerCall, given: dict[str, str]) -> bool:
    flag, eq, value = cond.partition("=")
    if not eq:
        return flag in given
    return any(u.flag == flag and u.value == value for u in call.flags)


def _apply(
    st: _State,
    rule: Rule,
    flag: str,
    value: str,
    shown: str,
    given: dict[str, str],
    key: str | None = None,
    full_value: str | None = None,
) -> None:
    if rule.conflicts:
        for other, reason in rule.conflicts.items():
            if other in given:
                st.drop(shown, reason)
                return
    if rule.same:
        assert st.call.spec is not None
        spec = st.call.spec.by_long[flag]
        if spec.type == "bool":
            st.flags_out.append(flag)
        else:
            st.flags_out.extend([flag, full_value if full_value is not None else value])
        return
    if rule.unsupported is not None:
        st.drop(shown, rule.unsupported)
        return
    if rule.none is not None:
        st.refuse(fill(rule.none, {"value": value}))
        if rule.note:
            st.note(fill(rule.note, {"value": value}))
        return
    if rule.values is not None:
        probe = value.lower() if rule.ignore_case else value
        table = {(k.lower() if rule.ignore_case else k): r for k, r in rule.values.items()}
        sub = table.get(probe, rule.otherwise)
        st.note(rule.note)
        if sub is None:
            st.drop(shown, f"no equivalent for the value {value!r}")
            return
        _apply(st, sub, flag, value, shown, given, key, full_value)
        return
    if rule.keys is not None:
        k, v = _split_key(value, rule.separators)
        sub = rule.keys.get(k, rule.otherwise)
        st.note(rule.note)
        seen = st.keys_seen.setdefault(flag, set())
        if sub is None:
            st.drop(shown, f"no equivalent for {k!r}")
            return
        if k in seen and rule.once and not sub.repeat and k in rule.keys:
            st.drop(shown, rule.once)
            return
        seen.add(k)
        _apply(st, sub, flag, v, shown, given, k, value)
        return
    try:
        converted: Any = convert(rule.convert, value, len(st.call.args)) if rule.convert else value
    except Unsupported as exc:
        if rule.strict:
            st.refuse(f"{shown}: {exc}")
            st.note(rule.note)
        else:
            st.drop(shown, str(exc))
        return
    for text in getattr(converted, "notes", None) or []:
        st.note(text)
    if rule.emit is not None:
        st.flags_out.extend(fill(t, {"value": str(converted), "key": key or ""}) for t in rule.emit)
    if rule.slot:
        st.slots[rule.slot] = str(converted)
    for op in rule.config or []:
        try:
            got = convert(op.convert, value) if op.convert else (op.value if op.has_value else converted)
        except Unsupported as exc:
            st.drop(shown, str(exc))
            return
        st.config_ops.append((op, got))
    st.note(rule.note)
    if rule.stream:
        st.stream.append(rule.stream)


def _split_key(value: str, separators: str) -> tuple[str, str]:
    cut = min((value.index(s) for s in separators if s in value), default=-1)
    if cut < 0:
        return value, ""
    return value[:cut], value[cut + 1 :]


def _render(
    entry: Entry, st: _State, args: list[str], kinds: list[str], file_names: dict[str, str]
) -> tuple[list[str], list[int], list[int]]:
    template = list(entry.argv)
    if not any(t in ("{flags}", "{args}", "{arg0}", "{rest}") for t in template):
        template += ["{flags}", "{args}"]
    out: list[str] = []
    first_positional: int | None = None
    containers: list[int] = []
    images: list[int] = []

    def positional(values: list[str], start_kind: int) -> None:
        nonlocal first_positional
        for j, v in enumerate(values):
            if first_positional is None:
                first_positional = len(out)
            kind = kinds[start_kind + j] if start_kind + j < len(kinds) else None
            if kind in ("container", "object"):
                containers.append(len(out))
            elif kind == "image":
                images.append(len(out))
            out.append(v)

    for index, tok in enumerate(template):
        if tok == "{flags}":
            out.extend(st.flags_out)
        elif tok == "{args}":
            positional(args, 0)
        elif tok == "{arg0}":
            positional(args[:1], 0)
        elif tok == "{rest}":
            positional(args[1:], 1)
        elif tok.startswith("{slot:"):
            value = st.slots.get(tok[6:-1])
            if value is None:
                continue
            flag_value = index > 0 and template[index - 1].startswith("-")  # e.g. --exec-id {slot:exec_id}
            if not flag_value and first_positional is None:
                first_positional = len(out)
            out.append(value)
        elif tok.startswith("{capture:"):
            if first_positional is None:
                first_positional = len(out)
            out.append(Placeholder("$" + tok[9:-1]))
        elif tok.startswith("{file:"):
            if first_positional is None:
                first_positional = len(out)
            out.append(file_names[tok[6:-1]])
        else:
            out.append(tok)
    if first_positional is not None:
        first = out[first_positional]
        if first.startswith("-") and first != "-" and not isinstance(first, Placeholder):
            out.insert(first_positional, "--")
            containers = [i + 1 if i >= first_positional else i for i in containers]
            images = [i + 1 if i >= first_positional else i for i in images]
    return out, containers, images


def _render_step(argv: list[str], file_names: dict[str, str]) -> list[str]:
    return [file_names[t[6:-1]] if t.startswith("{file:") else t for t in argv]


def _config_files(st: _State, entry: Entry, args: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The CRI pod and container configs for crictl run/create, from the base documents in the
    table and the flags' config operations."""
    conf = entry.config or {}
    name = st.slots.get("name")
    if name is not None:
        m = _DOCKER_NAME.match(name)
        if not m:
            from .errors import DockerUsageError

            raise DockerUsageError(
                f"invalid container name {name!r}: docker allows [a-zA-Z0-9][a-zA-Z0-9_.-] "
                "only, two characters or more",
                "choose another --name",
            )
        name = m.group(1)
    if name is None:
        name = st.ids.name()
        st.note(f"no --name: ctrtool named the container and its pod {name}.")
    uid = st.ids.uid()
    image = args[0] if args else ""
    values = {"name": name, "uid": uid, "image": image}
    docs = {
        "pod": _fill(copy.deepcopy(conf["pod"]), values),
        "container": _fill(copy.deepcopy(conf["container"]), values),
    }
    if len(args) > 1:
        doc, path = conf["command"]
        _set(docs[doc], path, list(args[1:]))
    for op, value in st.config_ops:
        target = docs[op.doc]
        if op.op == "set":
            _set(target, op.path, value)
        elif op.op == "set_list":
            _set(target, op.path, [value])
        elif op.op == "append":
            _get(target, op.path, []).append(value)
        elif op.op == "merge":
            _get(target, op.path, {}).update(value)
    names = {k: fill(v, {"name": name}) for k, v in conf["files"].items()}
    files = {names[k]: json.dumps(docs[k], indent=2) + "\n" for k in ("pod", "container")}
    return files, names


def _fill(obj: Any, values: dict[str, str]) -> Any:
    if isinstance(obj, str):
        return fill(obj, values)
    if isinstance(obj, dict):
        return {k: _fill(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, values) for v in obj]
    return obj


def _get(doc: dict[str, Any], path: str, empty: Any) -> Any:
    *parents, last = path.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    return doc.setdefault(last, empty)


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    doc[last] = value
