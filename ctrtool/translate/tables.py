"""Load and validate the translation tables (data/<tool>.yaml) against the docker grammar.

A table that cannot be used raises :class:`TableError` naming the file and the entry
(``commands.ps.flags.--all``) and what is wrong with it. Validation is complete: every docker
command of the grammar has an entry in every table, every docker flag of a command has a rule
(or the entry has a ``default``), every placeholder and converter exists.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import TableError
from .grammar import CommandSpec, Grammar

DATA_DIR = os.path.join(os.path.dirname(__file__), "data")
TARGETS = ("crictl", "ctr", "nerdctl", "podman")

CONVERTERS = (
    "bytes",
    "swap_bytes",
    "cpus_quota",
    "cap_prefixed",
    "cap_bare",
    "env_explicit",
    "nonempty",
    "int",
    "grace",
    "gid",
    "key_value",
    "cri_env",
    "cri_mount",
    "cri_port",
    "cri_device",
    "cri_user",
    "ctr_device",
    "ctr_volume",
    "ctr_mount",
    "cri_container_template",
    "cri_image_template",
)
CONFIG_OPS = ("set", "append", "merge", "set_list")
IMAGE_MODES = ("all", "first", "ctr-filter")
GENERATORS = ("name", "exec-id")
# what a translation needs besides arguments, for --run (and the docs)
STREAMS = {
    "tty": "allocates a terminal",
    "stdin": "reads its standard input",
    "output": "streams its output until it ends or is interrupted",
    "attached": "stays attached to the container until it exits",
    "attach": "attaches to a running container",
    "process": "passes the command's output and exit status through",
}
_RULE_KEYS = {
    "emit",
    "unsupported",
    "none",
    "note",
    "values",
    "keys",
    "otherwise",
    "ignore_case",
    "absent",
    "slot",
    "convert",
    "stream",
    "config",
    "once",
    "repeat",
    "separators",
    "conflicts",
    "strict",
}
# unsupported: the flag is left out and the rest runs (only for what leaving it out makes weaker);
# none: with this flag (value) the target has no equivalent at all, since leaving it out would do
# more than docker (a SIGKILL for SIGHUP, a prune without its filter)
_ACTIONS = ("emit", "unsupported", "none", "values", "keys", "slot", "config")
_ENTRY_KEYS = {
    "none",
    "notes",
    "argv",
    "flags",
    "default",
    "args",
    "slots",
    "destructive",
    "stream",
    "dispatch",
    "variants",
    "before",
    "config",
    "implicit",
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass
class ConfigOp:
    doc: str
    path: str
    op: str = "set"
    convert: str | None = None
    value: Any = None
    has_value: bool = False


@dataclass
class Rule:
    emit: list[str] | None = None
    unsupported: str | None = None
    none: str | None = None  # no equivalent with this flag ({value}: the docker value)
    note: str | None = None
    values: dict[str, Rule] | None = None
    keys: dict[str, Rule] | None = None
    otherwise: Rule | None = None
    ignore_case: bool = False
    absent: Rule | None = None
    slot: str | None = None
    convert: str | None = None
    stream: str | None = None
    config: list[ConfigOp] | None = None
    once: str | None = None
    repeat: bool = False
    separators: str = "="
    conflicts: dict[str, str] | None = None
    strict: bool = False  # a value the converter cannot take: no equivalent (not a dropped flag)
    same: bool = False


@dataclass
class Implicit:
    emit: list[str] | None = None
    config: list[ConfigOp] | None = None
    unless: list[str] = field(default_factory=list)
    note: str | None = None


@dataclass
class Step:
    argv: list[str]
    capture: str | None = None
    note: str | None = None


@dataclass
class Entry:
    command: str  # the docker command
    none: str | None = None
    notes: list[str] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)
    flags: dict[str, Rule] = field(default_factory=dict)
    default: Rule | None = None
    args: dict[str, Any] = field(default_factory=dict)
    slots: dict[str, dict[str, str]] = field(default_factory=dict)
    destructive: str | None = None
    stream: str | None = None
    dispatch: dict[str, Any] | None = None
    variants: dict[str, Entry] = field(default_factory=dict)
    before: list[Step] = field(default_factory=list)
    config: dict[str, Any] | None = None
    implicit: list[Implicit] = field(default_factory=list)

    def words(self) -> list[str]:
        """The target's command words: the template's literals before the first flag or placeholder."""
        out = []
        for tok in self.argv:
            if tok.startswith("-") or "{" in tok:
                break
            out.append(tok)
        return out


@dataclass
class Table:
    tool: str
    path: str
    source: str
    about: str
    prefix: list[str]
    commands: dict[str, Entry]


class _Checker:
    """Validation context for one table file."""

    def __init__(self, path: str, grammar: Grammar):
        self.path = path
        self.grammar = grammar

    def fail(self, entry: str, problem: str) -> TableError:
        return TableError(self.path, entry, problem)

    # -- rules ---------------------------------------------------------------------------------
    def rule(self, raw: Any, where: str, spec: CommandSpec, in_keys: bool = False) -> Rule:
        if raw == "same":
            return Rule(same=True)
        if isinstance(raw, list):
            raw = {"emit": raw}
        if not isinstance(raw, dict):
            raise self.fail(where, f"a rule must be a list of tokens, `same` or a mapping, not {raw!r}")
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise self.fail(
                where, f"unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(_RULE_KEYS))})"
            )
        actions = [k for k in _ACTIONS if k in raw]
        if len(actions) > 1:
            raise self.fail(where, f"a rule takes one of {', '.join(_ACTIONS)}, not {' and '.join(actions)}")
        if not actions and "absent" not in raw:
            raise self.fail(where, f"a rule needs one of {', '.join(_ACTIONS)}")
        rule = Rule()
        if "emit" in raw:
            rule.emit = self.tokens(raw["emit"], f"{where}.emit", allowed={"value", "key"})
        for key in ("unsupported", "none", "note", "slot", "stream", "once", "separators"):
            if key in raw:
                if not isinstance(raw[key], str) or (key != "separators" and not raw[key].strip()):
                    raise self.fail(f"{where}.{key}", "must be a non-empty string")
                if key == "stream" and raw[key] not in STREAMS:
                    raise self.fail(f"{where}.stream", f"must be one of {', '.join(STREAMS)}")
                setattr(rule, key, raw[key])
        for key in ("ignore_case", "repeat", "strict"):
            if key in raw:
                if not isinstance(raw[key], bool):
                    raise self.fail(f"{where}.{key}", "must be true or false")
                setattr(rule, key, raw[key])
        if rule.strict and "convert" not in raw:
            raise self.fail(f"{where}.strict", "only goes with convert")
        if "convert" in raw:
            if raw["convert"] not in CONVERTERS:
                raise self.fail(
                    f"{where}.convert", f"unknown converter {raw['convert']!r} (known: {', '.join(CONVERTERS)})"
                )
            rule.convert = raw["convert"]
        for key in ("values", "keys"):
            if key in raw:
                sub = raw[key]
                if not isinstance(sub, dict) or not sub:
                    raise self.fail(f"{where}.{key}", "must be a mapping of values to rules")
                rules = {
                    str(k): self.rule(v, f"{where}.{key}.{k}", spec, in_keys or key == "keys") for k, v in sub.items()
                }
                setattr(rule, key, rules)
        if "otherwise" in raw:
            if rule.values is None and rule.keys is None:
                raise self.fail(f"{where}.otherwise", "only goes with values or keys")
            rule.otherwise = self.rule(raw["otherwise"], f"{where}.otherwise", spec, in_keys)
        if "absent" in raw:
            rule.absent = self.rule(raw["absent"], f"{where}.absent", spec)
        if "config" in raw:
            rule.config = self.config_ops(raw["config"], f"{where}.config")
        if "conflicts" in raw:
            conflicts = raw["conflicts"]
            if not isinstance(conflicts, dict) or not all(isinstance(v, str) for v in conflicts.values()):
                raise self.fail(f"{where}.conflicts", "must map docker flags to reasons")
            for flag in conflicts:
                if flag not in spec.by_long:
                    raise self.fail(f"{where}.conflicts", f"{flag} is not a flag of `docker {spec.name}`")
            rule.conflicts = dict(conflicts)
        return rule

    def tokens(self, raw: Any, where: str, allowed: set[str]) -> list[str]:
        if not isinstance(raw, list) or not all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in raw):
            raise self.fail(where, "must be a list of strings")
        out = [str(t) for t in raw]
        for tok in out:
            for name in _PLACEHOLDER.findall(tok):
                head = name.split(":", 1)[0] if ":" in name else name
                if name not in allowed and head not in allowed:
                    raise self.fail(where, f"unknown placeholder {{{name}}} in {tok!r}")
        return out

    def config_ops(self, raw: Any, where: str) -> list[ConfigOp]:
        items = raw if isinstance(raw, list) else [raw]
        ops = []
        for i, item in enumerate(items):
            w = f"{where}[{i}]" if isinstance(raw, list) else where
            if (
                not isinstance(item, dict)
                or item.get("doc") not in ("pod", "container")
                or not isinstance(item.get("path"), str)
            ):
                raise self.fail(w, "needs doc (pod or container) and path")
            unknown = set(item) - {"doc", "path", "op", "convert", "value"}
            if unknown:
                raise self.fail(w, f"unknown key(s) {', '.join(sorted(unknown))}")
            op = item.get("op", "set")
            if op not in CONFIG_OPS:
                raise self.fail(w, f"op {op!r} is not one of {', '.join(CONFIG_OPS)}")
            if item.get("convert") is not None and item["convert"] not in CONVERTERS:
                raise self.fail(w, f"unknown converter {item['convert']!r}")
            ops.append(ConfigOp(item["doc"], item["path"], op, item.get("convert"), item.get("value"), "value" in item))
        return ops

    # -- entries -------------------------------------------------------------------------------
    def entry(self, raw: Any, where: str, spec: CommandSpec, consumed: str | None = None) -> Entry:
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a mapping")
        unknown = set(raw) - _ENTRY_KEYS
        if unknown:
            raise self.fail(
                where, f"unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(_ENTRY_KEYS))})"
            )
        entry = Entry(spec.name)
        notes = raw.get("notes") or []
        if not isinstance(notes, list) or not all(isinstance(n, str) and n.strip() for n in notes):
            raise self.fail(f"{where}.notes", "must be a list of sentences")
        entry.notes = list(notes)
        if "none" in raw:
            if not isinstance(raw["none"], str) or not raw["none"].strip():
                raise self.fail(f"{where}.none", "must say why there is no equivalent")
            extra = set(raw) - {"none", "notes"}
            if extra:
                raise self.fail(where, f"an entry with `none` takes only notes (not {', '.join(sorted(extra))})")
            entry.none = raw["none"]
            return entry
        if "dispatch" in raw:
            return self.dispatch(raw, where, spec, entry)
        if "argv" not in raw:
            raise self.fail(where, "needs argv (the target command), none (no equivalent) or dispatch")
        for key in ("destructive", "stream"):
            if key in raw:
                if not isinstance(raw[key], str) or not raw[key].strip():
                    raise self.fail(f"{where}.{key}", "must be a non-empty string")
                if key == "stream" and raw[key] not in STREAMS:
                    raise self.fail(f"{where}.stream", f"must be one of {', '.join(STREAMS)}")
                setattr(entry, key, raw[key])
        slots = raw.get("slots") or {}
        if not isinstance(slots, dict):
            raise self.fail(f"{where}.slots", "must be a mapping")
        for name, slot in slots.items():
            if (
                not isinstance(slot, dict)
                or set(slot) - {"default", "generate"}
                or ("generate" in slot and slot["generate"] not in GENERATORS)
            ):
                raise self.fail(f"{where}.slots.{name}", f"takes default: VALUE or generate: {'|'.join(GENERATORS)}")
            entry.slots[str(name)] = {k: str(v) for k, v in slot.items()}
        entry.config = self.config_doc(raw.get("config"), f"{where}.config") if "config" in raw else None
        if "before" in raw:
            if not isinstance(raw["before"], list):
                raise self.fail(f"{where}.before", "must be a list of steps")
            for i, step in enumerate(raw["before"]):
                if not isinstance(step, dict) or set(step) - {"argv", "capture", "note"}:
                    raise self.fail(f"{where}.before[{i}]", "takes argv, capture and note")
                entry.before.append(
                    Step(
                        self.tokens(step.get("argv"), f"{where}.before[{i}].argv", {"file"}),
                        step.get("capture"),
                        step.get("note"),
                    )
                )
        captures = {s.capture for s in entry.before if s.capture}
        files = set((entry.config or {}).get("files", {}))
        flag_rules = raw.get("flags") or {}
        if not isinstance(flag_rules, dict):
            raise self.fail(f"{where}.flags", "must map docker flags to rules")
        for flag, rule_raw in flag_rules.items():
            if flag not in spec.by_long or spec.by_long[flag].alias_of:
                raise self.fail(f"{where}.flags.{flag}", f"not a flag of `docker {spec.name}` (docker.yaml)")
            entry.flags[flag] = self.rule(rule_raw, f"{where}.flags.{flag}", spec)
        if "default" in raw:
            entry.default = self.rule(raw["default"], f"{where}.default", spec)
            if entry.default.unsupported is None:
                raise self.fail(f"{where}.default", "a default rule must be {unsupported: REASON}")
        for f in spec.flags:
            if f.alias_of or f.long in entry.flags or f.long == consumed or entry.default:
                continue
            raise self.fail(
                f"{where}.flags", f"docker flag {f.long} of `docker {spec.name}` has no rule (add one, or a default)"
            )
        slot_names = set(entry.slots) | {r.slot for r in _all_rules(entry.flags.values()) if r.slot}
        entry.argv = self.tokens(
            raw["argv"], f"{where}.argv", {"flags", "args", "arg0", "rest", "slot", "capture", "file"}
        )
        for tok in entry.argv:
            for name in _PLACEHOLDER.findall(tok):
                kind, _, arg = name.partition(":")
                if kind == "slot" and arg not in slot_names:
                    raise self.fail(f"{where}.argv", f"{{{name}}}: no slot {arg!r} (slots or a flag's slot:)")
                if kind == "capture" and arg not in captures:
                    raise self.fail(f"{where}.argv", f"{{{name}}}: no `before` step captures {arg!r}")
                if kind == "file" and arg not in files:
                    raise self.fail(f"{where}.argv", f"{{{name}}}: config.files has no {arg!r}")
        if entry.config is not None and "{file:" not in " ".join(entry.argv):
            raise self.fail(f"{where}.argv", "an entry with config must use its {file:...} placeholders")
        args = raw.get("args") or {}
        if not isinstance(args, dict) or set(args) - {"max", "max_reason", "min", "min_reason", "images", "kind"}:
            raise self.fail(f"{where}.args", "takes max, max_reason, min, min_reason, images and kind")
        if "kind" in args and args["kind"] not in ("container", "image"):
            raise self.fail(f"{where}.args.kind", "must be container or image (what docker's NAME|ID is here)")
        for bound in ("max", "min"):
            if bound in args:
                if not isinstance(args[bound], int) or args[bound] < 0:
                    raise self.fail(f"{where}.args.{bound}", "must be a number")
                if not isinstance(args.get(f"{bound}_reason"), str):
                    raise self.fail(f"{where}.args", f"{bound} needs a {bound}_reason")
        if "images" in args and args["images"] not in IMAGE_MODES:
            raise self.fail(f"{where}.args.images", f"must be one of {', '.join(IMAGE_MODES)}")
        entry.args = dict(args)
        implicit = raw.get("implicit") or []
        if not isinstance(implicit, list):
            raise self.fail(f"{where}.implicit", "must be a list")
        for i, item in enumerate(implicit):
            w = f"{where}.implicit[{i}]"
            if (
                not isinstance(item, dict)
                or set(item) - {"emit", "config", "unless", "note"}
                or ("emit" in item) == ("config" in item)
            ):
                raise self.fail(w, "takes emit or config, and unless, note")
            unless = item.get("unless") or []
            for cond in unless:
                flag = str(cond).split("=", 1)[0]
                if flag not in spec.by_long:
                    raise self.fail(w, f"unless: {flag} is not a flag of `docker {spec.name}`")
            entry.implicit.append(
                Implicit(
                    self.tokens(item["emit"], f"{w}.emit", set()) if "emit" in item else None,
                    self.config_ops(item["config"], f"{w}.config") if "config" in item else None,
                    [str(c) for c in unless],
                    item.get("note"),
                )
            )
        return entry

    def dispatch(self, raw: dict, where: str, spec: CommandSpec, entry: Entry) -> Entry:
        extra = set(raw) - {"dispatch", "variants", "notes"}
        if extra:
            raise self.fail(
                where, f"a dispatching entry takes dispatch, variants and notes (not {', '.join(sorted(extra))})"
            )
        d = raw["dispatch"]
        variants = raw.get("variants")
        if not isinstance(d, dict) or not isinstance(variants, dict) or not variants:
            raise self.fail(where, "dispatch needs flag/values/absent and variants")
        flag = d.get("flag")
        if flag not in spec.by_long:
            raise self.fail(f"{where}.dispatch.flag", f"{flag!r} is not a flag of `docker {spec.name}`")
        names = set(variants)
        for key in ("absent", "otherwise"):
            if key in d and d[key] not in names:
                raise self.fail(f"{where}.dispatch.{key}", f"no variant {d[key]!r}")
        if "absent" not in d:
            raise self.fail(f"{where}.dispatch", "needs absent: the variant used without the flag")
        values = d.get("values") or {}
        for value, name in values.items():
            if name not in names:
                raise self.fail(f"{where}.dispatch.values.{value}", f"no variant {name!r}")
        entry.dispatch = {
            "flag": flag,
            "values": {str(k): v for k, v in values.items()},
            "absent": d["absent"],
            "otherwise": d.get("otherwise"),
        }
        for name, body in variants.items():
            entry.variants[str(name)] = self.entry(body, f"{where}.variants.{name}", spec, consumed=flag)
        return entry

    def config_doc(self, raw: Any, where: str) -> dict[str, Any]:
        if not isinstance(raw, dict) or set(raw) - {"files", "pod", "container", "image", "command"}:
            raise self.fail(where, "takes files, pod, container, image and command")
        files = raw.get("files")
        if not isinstance(files, dict) or set(files) != {"pod", "container"}:
            raise self.fail(f"{where}.files", "must name the pod and container files")
        for key in ("pod", "container"):
            if not isinstance(raw.get(key), dict):
                raise self.fail(f"{where}.{key}", "must be the base document (a mapping)")
        for key in ("image", "command"):
            loc = raw.get(key)
            if not (
                isinstance(loc, list) and len(loc) == 2 and loc[0] in ("pod", "container") and isinstance(loc[1], str)
            ):
                raise self.fail(f"{where}.{key}", "must be [pod|container, dotted.path]")
        return raw


def _all_rules(rules) -> list[Rule]:
    out: list[Rule] = []
    stack = list(rules)
    while stack:
        r = stack.pop()
        if r is None:
            continue
        out.append(r)
        stack.extend((r.values or {}).values())
        stack.extend((r.keys or {}).values())
        stack.extend([r.otherwise, r.absent])
    return out


def _read_yaml(path: str) -> Any:
    """The YAML document in ``path``; TableError when it cannot be read (yaml.YAMLError when it is not YAML)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=yaml_loader(yaml))
    except OSError as exc:
        raise TableError(path, None, f"cannot read it: {exc.strerror}") from None


def load_table(path: str, grammar: Grammar) -> Table:
    import yaml

    try:
        data = _read_yaml(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else None
        raise TableError(path, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return check_table(data, path, grammar)


def check_table(data: Any, path: str, grammar: Grammar) -> Table:
    checker = _Checker(path, grammar)
    if not isinstance(data, dict):
        raise checker.fail(None, "must be a mapping with tool, source and commands")  # type: ignore[arg-type]
    unknown = set(data) - {"tool", "source", "about", "prefix", "commands"}
    if unknown:
        raise checker.fail("", f"unknown top-level key(s) {', '.join(sorted(unknown))}")
    tool = data.get("tool")
    if tool not in TARGETS:
        raise checker.fail("tool", f"must be one of {', '.join(TARGETS)}")
    prefix = checker.tokens(data.get("prefix") or [], "prefix", {"namespace"})
    commands = data.get("commands")
    if not isinstance(commands, dict):
        raise checker.fail("commands", "must map docker commands to entries")
    entries: dict[str, Entry] = {}
    for name, body in commands.items():
        spec = grammar.commands.get(str(name))
        if spec is None:
            raise checker.fail(f"commands.{name}", "not a docker command of docker.yaml")
        entries[str(name)] = checker.entry(body, f"commands.{name}", spec)
    missing = [c for c in grammar.commands if c not in entries]
    if missing:
        raise checker.fail("commands", f"no entry for docker command(s): {', '.join(missing)}")
    return Table(tool, path, str(data.get("source") or ""), str(data.get("about") or ""), prefix, entries)


def yaml_loader(yaml):
    """libyaml's safe loader when PyYAML has it (several times faster), else the pure one."""
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def data_path(name: str) -> str:
    return os.path.join(DATA_DIR, name)


@functools.cache
def grammar() -> Grammar:
    import yaml

    path = data_path("docker.yaml")
    try:
        data = _read_yaml(path)
    except yaml.YAMLError as exc:
        raise TableError(path, None, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TableError(path, None, "must be a mapping")
    return Grammar(data, path)


@functools.cache
def table(tool: str) -> Table:
    return load_table(data_path(f"{tool}.yaml"), grammar())


def _flag_like(token: str) -> bool:
    return token.startswith("-") and token not in ("-", "--") and "{" not in token and not re.fullmatch(r"-\d+", token)


def target_flags(tbl: Table):
    """Every flag the table makes the target tool see: (where, target command words, flag).

    ``where`` names the docker command (and variant); the words are the target's subcommand
    (``("tasks", "kill")``), empty for the tool's global flags (ctr's ``-n``).
    """
    for tok in tbl.prefix:
        if _flag_like(tok):
            yield ("prefix", (), tok)
    for name, entry in tbl.commands.items():
        entries = [(name, entry)] + [(f"{name} [{v}]", e) for v, e in entry.variants.items()]
        for where, e in entries:
            if e.none or e.dispatch:
                continue
            words = tuple(e.words())
            for tok in e.argv[len(words) :]:
                if _flag_like(tok):
                    yield (where, words, tok)
            for flag, rule in e.flags.items():
                for r in _all_rules([rule]):
                    if r.same:
                        yield (f"{where} {flag}", words, flag)
                    for tok in r.emit or []:
                        if _flag_like(tok):
                            yield (f"{where} {flag}", words, tok)
            for imp in e.implicit:
                for tok in imp.emit or []:
                    if _flag_like(tok):
                        yield (f"{where} (implicit)", words, tok)
            for step in e.before:
                step_words = []
                for tok in step.argv:
                    if tok.startswith("-") or "{" in tok:
                        break
                    step_words.append(tok)
                for tok in step.argv[len(step_words) :]:
                    if _flag_like(tok):
                        yield (f"{where} (before)", tuple(step_words), tok)
