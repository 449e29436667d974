"""docker inspect --format templates as crictl go-templates: docker's field paths become the CRI's
(data/templates.yaml), the rest of the template stays as it is.

Go's template language is kept: text, actions, pipelines, `if`/`else`/`range`/`with`/`end`, string
literals, the builtins. What changes is every field chain (`.State.Pid`, `$.Id`, `.Config.Labels.app`)
and, inside `range .Mounts`, the fields of one mount. A field, function or construct without a CRI
counterpart raises :class:`Unsupported` with the reason: the caller reports `--format` as not
translated (crictl then prints the whole JSON).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import Any

from .errors import Unsupported

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)
# in an action: a string literal, a raw string, a char, a variable with fields, a field chain, a word
_TOKEN = re.compile(
    r'"(?:\\.|[^"\\])*"|`[^`]*`|\'(?:\\.|[^\'\\])*\'|(\$\w*)((?:\.\w+)*)|((?:\.\w+)+)|(\.)(?![\w.])|([A-Za-z_]\w*)'
)
_CONTROL = ("if", "else", "end", "range", "with", "define", "template", "block", "break", "continue")


@dataclass
class Mapping:
    path: str | None = None  # dotted CRI path, or a parenthesised expression
    none: str | None = None
    note: str | None = None


@functools.cache
def _data() -> dict[str, Any]:
    import yaml

    from .errors import TableError
    from .tables import DATA_DIR, yaml_loader

    path = os.path.join(DATA_DIR, "templates.yaml")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=yaml_loader(yaml))
    except (OSError, yaml.YAMLError) as exc:
        raise TableError(path, None, f"cannot read it: {exc}") from None
    out: dict[str, Any] = {"functions": raw.get("functions") or {}}
    for kind in ("container", "image"):
        section = raw.get(kind)
        if not isinstance(section, dict) or not isinstance(section.get("fields"), dict):
            raise TableError(path, kind, "needs fields")
        out[kind] = {
            "fields": {str(k): _mapping(v, path, f"{kind}.fields.{k}") for k, v in section["fields"].items()},
            "elements": {
                str(el): {str(k): _mapping(v, path, f"{kind}.elements.{el}.{k}") for k, v in (fields or {}).items()}
                for el, fields in (section.get("elements") or {}).items()
            },
        }
    return out


def _mapping(raw: Any, path: str, where: str) -> Mapping:
    from .errors import TableError

    if isinstance(raw, str):
        return Mapping(path=raw)
    if isinstance(raw, dict) and set(raw) <= {"path", "none", "note"} and (("path" in raw) != ("none" in raw)):
        return Mapping(raw.get("path"), raw.get("none"), raw.get("note"))
    raise TableError(path, where, "must be a CRI path, or a mapping with path (and note) or none")


def fields(kind: str) -> dict[str, Mapping]:
    return _data()[kind]["fields"]


def elements(kind: str) -> dict[str, dict[str, Mapping]]:
    return _data()[kind]["elements"]


def _lookup(table: dict[str, Mapping], docker_path: str) -> tuple[Mapping, str] | None:
    """The mapping of the longest known prefix of ``docker_path`` and the rest after it."""
    parts = docker_path.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in table:
            return table[key], "".join("." + p for p in parts[n:])
    return None


def _map_field(table: dict[str, Mapping], docker_path: str, notes: list[str], where: str) -> str:
    found = _lookup(table, docker_path)
    if found is None:
        raise Unsupported(f".{docker_path}: no CRI field for it{where}")
    mapping, rest = found
    if mapping.none is not None:
        raise Unsupported(f".{docker_path}: {mapping.none}")
    if mapping.note and mapping.note not in notes:
        notes.append(f".{docker_path}: {mapping.note}")
    assert mapping.path is not None
    if mapping.path.startswith("("):
        if rest:
            raise Unsupported(
                f".{docker_path}: .{docker_path[: len(docker_path) - len(rest)]} is a computed "
                "value in the CRI's terms, with no fields"
            )
        return mapping.path
    return mapping.path + rest


def to_cri(template: str, kind: str, nargs: int = 1) -> tuple[str, list[str]]:
    """docker's template for ``kind`` (container or image) -> crictl's, and notes on the values."""
    functions = _data()["functions"]
    known = set(functions.get("crictl") or [])
    docker_only = set(functions.get("docker_only") or [])
    root_fields = fields(kind)
    element_fields = elements(kind)
    notes: list[str] = []
    # with several objects crictl runs the template once on the list of them: walk it
    root = "$c" if nargs > 1 else "$"
    stack: list[tuple[str, str | None]] = []  # (construct, element kind for range)

    def context() -> str | None:
        for construct, element in reversed(stack):
            if construct in ("range", "with"):
                return element or "?"
        return None  # the root object

    def action(body: str) -> str:
        inner = body
        lead = trail = ""
        if inner.startswith("-") and inner[1:2] in (" ", "\t", "\n"):
            lead, inner = inner[:2], inner[2:]
        if inner.endswith(" -") or inner.endswith("\t-") or inner.endswith("\n-"):
            trail, inner = inner[-2:], inner[:-2]
        stripped = inner.strip()
        if stripped.startswith("/*"):
            return body  # a comment
        word = stripped.split(None, 1)[0] if stripped else ""
        if word in ("define", "template", "block"):
            raise Unsupported(f"`{word}` in a template is not translated")
        if word == "end":
            if not stack:
                raise Unsupported("an `end` without its `if`, `range` or `with`")
            stack.pop()
            return body
        out: list[str] = []
        pos = 0
        first_field: str | None = None
        for m in _TOKEN.finditer(inner):
            out.append(inner[pos : m.start()])
            pos = m.end()
            tok = m.group(0)
            var, var_fields, chain, dot, ident = m.group(1), m.group(2), m.group(3), m.group(4), m.group(5)
            if var is not None:
                if var != "$":
                    raise Unsupported(f"template variables ({var}) are not translated")
                if not var_fields:
                    raise Unsupported("`$` (the whole object) differs between docker and the CRI")
                out.append(root + _map_field(root_fields, var_fields[1:], notes, ""))
                first_field = first_field or var_fields
            elif chain is not None:
                ctx = context()
                if ctx is None:
                    out.append(_map_field(root_fields, chain[1:], notes, ""))
                elif ctx in element_fields:
                    out.append(_map_field(element_fields[ctx], chain[1:], notes, f" in a .{ctx} item"))
                else:
                    raise Unsupported(
                        f"{chain} inside `range`/`with` over something other than "
                        f"{', '.join('.' + e for e in element_fields) or 'a list the CRI has'}"
                    )
                first_field = first_field or chain
            elif dot is not None:
                if context() is None:
                    notes.append("`.` is the CRI's whole object (status and info), not docker's")
                out.append(".")
            elif ident is not None:
                if ident in docker_only:
                    raise Unsupported(f"crictl's templates have no `{ident}` function")
                if ident == "json" and "crictl's json ends its output with a newline (docker's does not)" not in notes:
                    notes.append("crictl's json ends its output with a newline (docker's does not)")
                if ident not in known and ident not in _CONTROL and ident not in ("true", "false", "nil"):
                    raise Unsupported(f"`{ident}` is not a function crictl's templates have")
                out.append(tok)
            else:
                out.append(tok)  # a literal
        out.append(inner[pos:])
        if word in ("if",):
            stack.append(("if", None))
        elif word in ("range", "with"):
            rest = stripped[len(word) :].strip()
            if ":=" in rest:
                raise Unsupported(f"`{word}` with variables is not translated")
            element = None
            if word == "range":
                if re.fullmatch(r"\.\w+", rest) and context() is None and rest[1:] in element_fields:
                    element = rest[1:]
                else:
                    raise Unsupported(
                        f"`range {rest}`: only a range over "
                        f"{', '.join('.' + e for e in element_fields) or 'nothing'} is translated"
                    )
            stack.append((word, element))
            if word == "with":
                # inside `with`, `.` is the value: its own fields would be docker's sub-fields
                stack[-1] = ("with", "?")
        return lead + "".join(out) + trail

    text: list[str] = []
    pos = 0
    for m in _ACTION.finditer(template):
        text.append(template[pos : m.start()])
        text.append("{{" + action(m.group(1)) + "}}")
        pos = m.end()
    text.append(template[pos:])
    if stack:
        raise Unsupported("the template has an `if`, `range` or `with` without its `end`")
    result = "".join(text)
    if "{{" not in result:
        raise Unsupported("no template action: docker prints the text as it is")
    if nargs > 1:
        result = "{{range $c := .}}" + result + "\n{{end}}"
        notes.append(
            "crictl runs the template once on the list of all the objects: ctrtool walks it with "
            "`range`, one line per object as docker prints"
        )
    return result, notes
