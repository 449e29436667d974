"""docs/translate.md, generated from the tables (scripts/gen_translate_docs.py writes it;
tests/test_translate_docs.py fails when the file and the data disagree)."""

from __future__ import annotations

from .grammar import CommandSpec, FlagSpec
from .tables import STREAMS, TARGETS, ConfigOp, Entry, Rule, grammar, table

NS = "k8s.io"


def _code(tokens: list[str]) -> str:
    text = " ".join(t.replace("{value}", "VALUE").replace("{key}", "KEY") for t in tokens)
    return f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _ops(ops: list[ConfigOp]) -> str:
    parts = []
    for op in ops:
        what = {"set": "", "append": " (one per flag)", "merge": " (KEY=VALUE)", "set_list": ""}[op.op]
        value = f" = {op.value}" if op.has_value else ""
        conv = f" ({op.convert})" if op.convert else ""
        parts.append(f"{op.doc} `{op.path}`{value}{what}{conv}")
    return "config: " + ", ".join(parts)


def describe(rule: Rule | None, flag: FlagSpec | None = None) -> str:
    """One flag rule in words and commands."""
    if rule is None:
        return "—"
    parts: list[str] = []
    if rule.same and flag is not None:
        parts.append(f"`{flag.long}` (same)" if flag.type == "bool" else f"`{flag.long} VALUE` (same)")
    elif rule.same:
        parts.append("same")
    if rule.unsupported is not None:
        parts.append(f"✗ {rule.unsupported}")
    if rule.none is not None:
        parts.append(f"✗✗ no equivalent at all: {rule.none.replace('{value}', 'VALUE')}")
    if rule.values is not None:
        sub = [f"{k or '(empty)'} → {describe(v)}" for k, v in rule.values.items()]
        if rule.otherwise is not None:
            sub.append(f"other values → {describe(rule.otherwise)}")
        parts.append("; ".join(sub))
    if rule.keys is not None:
        sub = [f"{k}= → {describe(v)}" for k, v in rule.keys.items()]
        if rule.otherwise is not None:
            sub.append(f"other keys → {describe(rule.otherwise)}")
        if rule.once:
            sub.append(f"a key given twice → ✗ {rule.once}")
        parts.append("; ".join(sub))
    if rule.emit is not None:
        parts.append(_code(rule.emit) if rule.emit else "nothing (the target's default)")
    if rule.slot:
        parts.append(f"VALUE becomes the {rule.slot.replace('_', ' ')} argument")
    if rule.config:
        parts.append(_ops(rule.config))
    if rule.convert:
        parts.append(f"(value converted: {rule.convert})")
    if rule.conflicts:
        parts.append("; ".join(f"with {k} → ✗ {v}" for k, v in rule.conflicts.items()))
    if rule.stream:
        parts.append(f"(it {STREAMS[rule.stream]})")
    if rule.strict:
        parts.append("(a value it cannot convert: no equivalent at all)")
    if rule.note:
        parts.append(f"— {rule.note.replace('{value}', 'VALUE')}")
    if rule.absent is not None:
        parts.append(f"<br>without it: {describe(rule.absent)}")
    return " ".join(parts) if parts else "—"


def _label(flag: str, value: str) -> str:
    return f"with {flag}" if value == "true" else f"{flag} {value}"


def _command(tool: str, entry: Entry, prefix: list[str], spec: CommandSpec) -> str:
    if entry.none:
        return f"✗ {entry.none}"
    if entry.dispatch:
        d = entry.dispatch
        parts = []
        for value, name in d["values"].items():
            parts.append(f"{_label(d['flag'], value)}: {_command(tool, entry.variants[name], prefix, spec)}")
        parts.append(f"without {d['flag']}: {_command(tool, entry.variants[d['absent']], prefix, spec)}")
        if d.get("otherwise"):
            parts.append(f"other {d['flag']} values: {_command(tool, entry.variants[d['otherwise']], prefix, spec)}")
        return "<br>".join(parts)
    words = [tool, *[p.replace("{namespace}", NS) for p in prefix]]
    for tok in entry.argv:
        if tok in ("{flags}", "{args}", "{rest}", "{arg0}"):
            words.append({"{flags}": "[FLAGS]", "{args}": "ARGS", "{rest}": "[COMMAND...]", "{arg0}": "IMAGE"}[tok])
        elif tok.startswith("{slot:"):
            words.append(tok[6:-1].upper().replace("-", "_"))
        elif tok.startswith("{capture:"):
            words.append("$" + tok[9:-1])
        elif tok.startswith("{file:"):
            words.append(tok[6:-1].upper() + ".json")
        else:
            words.append(tok)
    if not any(t in entry.argv for t in ("{flags}", "{args}", "{arg0}", "{rest}")):
        words += ["[FLAGS]"] + (["ARGS"] if spec.args else [])
    text = f"`{' '.join(words)}`"
    extra = []
    if entry.before:
        extra.append("after " + ", ".join(f"`{tool} {' '.join(s.argv)}`" for s in entry.before))
    if entry.destructive:
        extra.append(f"destructive: {entry.destructive}")
    if entry.stream:
        extra.append(f"it {STREAMS[entry.stream]}")
    if entry.args.get("max") is not None:
        extra.append(f"at most {entry.args['max']} argument(s): {entry.args['max_reason']}")
    if entry.args.get("min") is not None:
        extra.append(f"needs {entry.args['min']} argument(s): {entry.args['min_reason']}")
    if entry.args.get("images"):
        extra.append(
            {
                "all": "image references written in full",
                "first": "the image reference written in full",
                "ctr-filter": "REPOSITORY[:TAG] becomes a `name==`/`name~=` filter",
            }[entry.args["images"]]
        )
    for imp in entry.implicit:
        what = _code(imp.emit) if imp.emit else _ops(imp.config or [])
        extra.append(f"adds {what} unless {', '.join(imp.unless)}")
    return text + (" (" + "; ".join(extra) + ")" if extra else "")


def _flag_cell(entry: Entry, flag: FlagSpec) -> str:
    if entry.none:
        return "✗"
    if entry.dispatch:
        if flag.long == entry.dispatch["flag"]:
            return "chooses the command (above)"
        names = list(
            dict.fromkeys(
                [
                    *entry.dispatch["values"].values(),
                    entry.dispatch["absent"],
                    *([entry.dispatch["otherwise"]] if entry.dispatch.get("otherwise") else []),
                ]
            )
        )
        names = [n for n in names if not entry.variants[n].none]
        cells = {name: _flag_cell(entry.variants[name], flag) for name in names}
        if len(set(cells.values())) == 1:
            return next(iter(cells.values()))
        return "<br>".join(f"({name}) {cell}" for name, cell in cells.items())
    rule = entry.flags.get(flag.long)
    if rule is None:
        return describe(entry.default) + (" (default rule)" if entry.default else "")
    return describe(rule, flag)


def _notes(entry: Entry) -> list[str]:
    notes = list(entry.notes)
    for name, variant in entry.variants.items():
        notes += [f"({name}) {n}" for n in variant.notes]
    return notes


def _section(name: str, spec: CommandSpec) -> list[str]:
    tables = {tool: table(tool) for tool in TARGETS}
    aliases = sorted(a for a, target in grammar().aliases.items() if target == name)
    lines = [f"### docker {name}", "", f"`{spec.usage}`: {spec.summary}.", ""]
    if aliases:
        lines += ["Also: " + ", ".join(f"`docker {a}`" for a in aliases) + ".", ""]
    lines += ["| docker | " + " | ".join(TARGETS) + " |", "|---|" + "---|" * len(TARGETS)]
    lines.append(
        f"| `docker {name}` | "
        + " | ".join(_cell(_command(tool, tables[tool].commands[name], tables[tool].prefix, spec)) for tool in TARGETS)
        + " |"
    )
    for flag in spec.visible_flags():
        label = f"`{flag.short}, {flag.long}`" if flag.short else f"`{flag.long}`"
        if flag.takes_value:
            label += f" {flag.type.upper()}"
        lines.append(
            f"| {label} | "
            + " | ".join(_cell(_flag_cell(tables[tool].commands[name], flag)) for tool in TARGETS)
            + " |"
        )
    notes = [(tool, n) for tool in TARGETS for n in _notes(tables[tool].commands[name])]
    if notes:
        lines += [""] + [f"* {tool}: {n}" for tool, n in notes]
    lines.append("")
    return lines


HEADER = """\
# docker → crictl, ctr, nerdctl, podman

<!-- Generated by scripts/gen_translate_docs.py from ctrtool/translate/data/*.yaml. Do not edit:
     edit the data and run the script; tests/test_translate_docs.py fails when they disagree. -->

`ctrtool translate` answers "what is `docker X` here?" flag by flag (see
[reference.md](reference.md#ctrtool-translate)). These tables are its data, rendered: for every
docker command and flag, what crictl, ctr, nerdctl and podman do with it. ✗ marks what has no equivalent,
with the reason: the flag is left out, and the rest still does what docker does or less; ✗✗ marks
a flag (or value) that leaves no equivalent at all, since leaving it out would do more than docker
(exit 4). "nothing (the target's default)" means the target already behaves so.
ctr and nerdctl are shown in namespace `k8s.io` (`--namespace` changes it); podman has no
namespaces: it works in its store (run as root /var/lib/containers/storage, which is CRI-O's when
they share the graph root). `--to all` translates for all four; `--run` runs crictl and ctr
translations only (nerdctl's and podman's are printed, to run yourself).

Sources: {sources}.
Every crictl and ctr flag below is checked against the installed tool's `--help`
(tests/test_translate_flags.py), nerdctl's against its command reference, podman's against
podman 4.3.1's `--help` (transcribed by scripts/transcribe_podman_help.py into
tests/fixtures/podman-translate/, and the installed podman's when there is one); docker's own
flags against `docker <command> --help`.
"""

FORMAT = """\
## The tables

`ctrtool/translate/data/docker.yaml` is docker's grammar: `commands` (usage, arguments with their
kind, flags with `long`, `short`, `type`), `aliases` (management forms such as `container ls`),
`top_level` and `management` (every docker command, to tell "not covered" from "unknown").

`ctrtool/translate/data/<tool>.yaml` has `tool`, `source`, `prefix` (words after the tool's name,
e.g. ctr's `-n {namespace}`) and one entry per docker command under `commands`:

* `none: REASON` (and `notes`): no equivalent;
* `argv: [words, {flags}, {args}]`: the target command; placeholders `{flags}` (the translated
  flags), `{args}`, `{arg0}`, `{rest}` (docker's arguments), `{slot:NAME}` (a value set by a flag
  or `slots`), `{file:pod}`/`{file:container}` (generated CRI configs), `{capture:NAME}` (the
  output of a `before` step). Without placeholders: `{flags} {args}` at the end;
* `flags: {--docker-flag: RULE}`, `default: {unsupported: REASON}` for the flags not listed (every
  docker flag needs one or the other); `args` (`max`, `min` with reasons; `images: all|first|
  ctr-filter`; `kind: container|image`, what docker's NAME|ID is here), `slots`, `implicit`
  (flags added unless some docker flags are given), `before`, `config` (base CRI documents),
  `destructive` (consent before --run), `stream` (tty, stdin, output, attached, attach: how
  --run connects it);
* `dispatch: {flag, values, absent, otherwise}` with `variants`: a docker flag that picks the
  target command (`inspect --type image` → `crictl inspecti`).

A RULE is a list of tokens to emit (`[--tail, "{value}"]`), `same` (docker's own flag and value),
or a mapping: `emit`, `unsupported: REASON` (the flag is left out: only where that does less than
docker), `none: REASON` (no equivalent with this flag or value: leaving it out would do more),
`values: {VALUE: RULE}` / `keys: {KEY: RULE}` (for
`KEY=VALUE` flags such as --filter) with `otherwise`, `absent: RULE` (what to emit when the flag is
not given), `slot`, `convert` (bytes, cpus_quota, cap_prefixed, ...; `strict`: a value it cannot convert
means no equivalent, not a left-out flag), `config` (a CRI config
field), `note`, `stream`, `conflicts`, `once`, `repeat`, `separators`, `ignore_case`. A table is validated when loaded: an error names the
file and the entry (`translation table .../crictl.yaml: commands.ps.flags.--all: ...`).
"""


def _literal(entry: Entry) -> str:
    words = []
    for tok in entry.argv:
        if "{" in tok:
            break
        words.append(tok)
    return f"`{' '.join(words)}`"


def _summary(entry: Entry) -> str:
    if entry.none:
        return "✗"
    if not entry.dispatch:
        return _literal(entry)
    d = entry.dispatch
    parts = [_summary(entry.variants[d["absent"]])]
    for value, name in d["values"].items():
        if name != d["absent"]:
            parts.append(f"{_label(d['flag'], value)}: {_summary(entry.variants[name])}")
    return "; ".join(parts)


TEMPLATES = """\
## docker inspect --format

crictl runs a Go template too (`crictl inspect -o go-template --template T`, `crictl inspecti`),
over its own JSON: `status` (the CRI's container or image status) and `info` (containerd's verbose
info: the PID, the sandbox, the CRI config, the OCI spec; for an image its OCI config). `ctrtool
translate` rewrites docker's field paths in the template as below and keeps the rest (text,
`if`/`else`/`range`/`with`, `index`, `printf`, `json`, `eq`, ...). A field marked ✗ makes the
whole `--format` not translated, with the reason (crictl then prints all of the JSON); so do
docker's own functions crictl lacks (`join`, `split`, `truncate`, `pad`, `table`) and template
variables. With several containers crictl runs the template once on the list of them: ctrtool
wraps it in `range`, one line per object as docker prints. The values are the CRI's: states
`CONTAINER_RUNNING`..., names without docker's leading `/`, a missing field is an error (docker
prints `<no value>`). ctr has no templates: `ctr containers info` prints containerd's record
(ID, Labels, Image, Runtime, Snapshotter, CreatedAt, Spec) as JSON; the PID and status are in
`ctr tasks ls`. The data: `ctrtool/translate/data/templates.yaml`; each CRI path is checked
against `crictl inspect`/`inspecti` output recorded in the lab.
"""


def _templates() -> list[str]:
    from .templates import elements, fields

    lines = TEMPLATES.splitlines()
    for kind, command in (("container", "crictl inspect"), ("image", "crictl inspecti")):
        lines += ["", f"{kind.capitalize()}s (`{command}`):", "", "| docker | crictl |", "|---|---|"]
        for name, m in fields(kind).items():
            cell = f"✗ {m.none}" if m.none else f"`{m.path}`" + (f" — {m.note}" if m.note else "")
            lines.append(f"| `.{name}` | {_cell(cell)} |")
            for sub, sm in elements(kind).get(name, {}).items():
                cell = f"✗ {sm.none}" if sm.none else f"`{sm.path}`" + (f" — {sm.note}" if sm.note else "")
                lines.append(f"| `range .{name}`: `.{sub}` | {_cell(cell)} |")
    return lines + [""]


def render_markdown() -> str:
    g = grammar()
    sources = ["docker: " + g.source] + [f"{tool}: {table(tool).source}" for tool in TARGETS]
    lines = HEADER.format(sources="; ".join(sources)).splitlines() + [""]
    lines += ["## Summary", "", "| docker | " + " | ".join(TARGETS) + " |", "|---|" + "---|" * len(TARGETS)]
    for name in g.commands:
        cells = []
        for tool in TARGETS:
            entry = table(tool).commands[name]
            cells.append(_summary(entry))
        lines.append(f"| [`{name}`](#docker-{name.replace(' ', '-')}) | " + " | ".join(cells) + " |")
    lines += ["", "## Commands", ""]
    for name, spec in g.commands.items():
        lines += _section(name, spec)
    lines += _templates()
    lines += FORMAT.splitlines()
    return "\n".join(lines).rstrip("\n") + "\n"
