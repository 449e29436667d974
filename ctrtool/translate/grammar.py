"""The docker command grammar (data/docker.yaml) and a parser that reads a docker argv the way
the docker CLI does (cobra/pflag), into a command, its flags and its arguments.

Pure functions: nothing is run, nothing is read but the table.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from .errors import DockerUsageError, NotCovered, TableError

FLAG_TYPES = ("bool", "string", "int", "decimal", "bytes", "swapbytes", "list")
ARG_KINDS = ("container", "image", "object", "command", "ps-option", "path")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
# docker's units.RAMInBytes
_BYTES = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


@dataclass(frozen=True)
class FlagSpec:
    long: str
    short: str | None = None
    type: str = "bool"
    default: bool | None = None  # only for bools that are on by default
    alias_of: str | None = None
    hidden: bool = False

    @property
    def takes_value(self) -> bool:
        return self.type != "bool"

    @property
    def canonical(self) -> str:
        return self.alias_of or self.long

    def label(self) -> str:
        return f"{self.short}, {self.long}" if self.short else self.long


@dataclass(frozen=True)
class ArgSpec:
    name: str
    kind: str
    optional: bool = False
    repeat: bool = False


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    interspersed: bool
    args: tuple[ArgSpec, ...]
    flags: tuple[FlagSpec, ...]

    @property
    def by_long(self) -> dict[str, FlagSpec]:
        return {f.long: f for f in self.flags}

    @property
    def by_short(self) -> dict[str, FlagSpec]:
        return {f.short: f for f in self.flags if f.short}

    @property
    def min_args(self) -> int:
        return sum(1 for a in self.args if not a.optional)

    @property
    def max_args(self) -> int | None:
        return None if any(a.repeat for a in self.args) else len(self.args)

    def kinds(self, n: int) -> list[str]:
        """The kind of each of ``n`` positional arguments."""
        kinds: list[str] = []
        specs = list(self.args)
        for i in range(n):
            if i < len(specs):
                kinds.append(specs[i].kind)
            elif specs:
                kinds.append(specs[-1].kind)  # a repeated last argument
            else:
                kinds.append("extra")
        return kinds

    def visible_flags(self) -> list[FlagSpec]:
        return [f for f in self.flags if not f.hidden]


@dataclass(frozen=True)
class FlagUse:
    """One flag as given: ``flag`` is the canonical long name, ``value`` the value ("true"/"false"
    for a bool), ``tokens`` the argv tokens it came from (for reporting it as typed)."""

    flag: str
    value: str
    tokens: tuple[str, ...]

    @property
    def shown(self) -> str:
        return shlex.join(self.tokens)


@dataclass
class DockerCall:
    """A parsed docker command line."""

    command: str  # the canonical command ("ps", "image prune", ...)
    words: tuple[str, ...]  # the command words as typed ("container", "ls")
    flags: list[FlagUse] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    global_flags: list[FlagUse] = field(default_factory=list)
    help: bool = False
    spec: CommandSpec | None = None

    def last(self, flag: str) -> FlagUse | None:
        uses = [u for u in self.flags if u.flag == flag]
        return uses[-1] if uses else None

    @property
    def typed(self) -> str:
        return "docker " + " ".join(self.words)


class Grammar:
    def __init__(self, data: dict[str, Any], path: str):
        self.path = path
        self.source = _str(data, "source", path, None)
        self.global_flags = _flags(data.get("global_flags") or [], path, "global_flags")
        self.top_level = set(_list_of_str(data.get("top_level"), path, "top_level"))
        self.management: dict[str, set[str]] = {}
        for name, subs in (data.get("management") or {}).items():
            self.management[str(name)] = set(_list_of_str(subs, path, f"management.{name}"))
        raw_commands = data.get("commands")
        if not isinstance(raw_commands, dict) or not raw_commands:
            raise TableError(path, "commands", "must be a mapping of docker commands")
        self.commands: dict[str, CommandSpec] = {}
        for name, body in raw_commands.items():
            self.commands[str(name)] = _command(str(name), body, raw_commands, path)
        self.aliases: dict[str, str] = {}
        for alias, target in (data.get("aliases") or {}).items():
            if target not in self.commands:
                raise TableError(path, f"aliases.{alias}", f"{target!r} is not a command of this table")
            self.aliases[str(alias)] = str(target)
        self.top_level |= set(_list_of_str(data.get("plugins") or [], path, "plugins"))
        self.instead: dict[str, str] = {}
        for words, text in (data.get("instead") or {}).items():
            first, _, sub = str(words).partition(" ")
            known = sub in self.management.get(first, ()) if sub else first in self.top_level
            if not known or str(words) in self.commands or str(words) in self.aliases:
                raise TableError(path, f"instead.{words}", "is not a docker command that is not covered")
            if not isinstance(text, str) or not text.strip():
                raise TableError(path, f"instead.{words}", "must be a non-empty string")
            self.instead[str(words)] = text

    # -- parsing ---------------------------------------------------------------------------
    def parse(self, argv: list[str]) -> DockerCall:
        words = list(argv)
        if words and words[0] == "docker":
            words = words[1:]
        if not words:
            raise DockerUsageError("no docker command given", "e.g. ctrtool translate -- docker ps -a")
        i, global_uses = self._parse_globals(words)
        rest = words[i:]
        if not rest:
            raise DockerUsageError("no docker command after the global flags", "e.g. docker -H URL ps")
        command, n = self._command_words(rest)
        call = DockerCall(command=command, words=tuple(rest[:n]), global_flags=global_uses)
        spec = self.commands[command]
        call.spec = spec
        self._parse_command(spec, rest[n:], call)
        call.kinds = spec.kinds(len(call.args))
        return call

    def _parse_globals(self, words: list[str]) -> tuple[int, list[FlagUse]]:
        spec = CommandSpec("docker", "docker [OPTIONS] COMMAND", "", True, (), self.global_flags)
        uses: list[FlagUse] = []
        i = 0
        while i < len(words) and words[i].startswith("-") and words[i] not in ("-", "--"):
            i = _parse_flag(spec, words, i, uses, "docker")
        if i < len(words) and words[i] == "--":
            raise DockerUsageError("`--` before the docker command", "put the command right after `docker`")
        return i, uses

    def _command_words(self, rest: list[str]) -> tuple[str, int]:
        first = rest[0]
        if len(rest) >= 2:
            two = f"{first} {rest[1]}"
            if two in self.commands:
                return two, 2
            if two in self.aliases:
                return self.aliases[two], 2
        if first in self.management:
            sub = rest[1] if len(rest) >= 2 else None
            if sub is None or sub.startswith("-"):
                raise DockerUsageError(
                    f"`docker {first}` needs a subcommand", f"e.g. docker {first} {sorted(self.management[first])[0]}"
                )
            if sub in self.management[first]:
                raise NotCovered(
                    f"`docker {first} {sub}` is not covered by ctrtool translate",
                    self.instead.get(f"{first} {sub}") or self.instead.get(first) or self.covered_hint(),
                )
            raise DockerUsageError(f"unknown docker command `docker {first} {sub}`", self.covered_hint())
        if first in self.commands and " " not in first:
            return first, 1
        if first in self.aliases:
            return self.aliases[first], 1
        if first in self.top_level:
            raise NotCovered(
                f"`docker {first}` is not covered by ctrtool translate", self.instead.get(first) or self.covered_hint()
            )
        raise DockerUsageError(f"unknown docker command {first!r}", self.covered_hint())

    def covered_hint(self) -> str:
        return "translated: " + ", ".join(sorted(self.commands))

    def _parse_command(self, spec: CommandSpec, rest: list[str], call: DockerCall) -> None:
        i = 0
        while i < len(rest):
            token = rest[i]
            if token == "--":
                call.args.extend(rest[i + 1 :])
                break
            if token.startswith("-") and token != "-":
                if token in ("--help",) or (token == "-h" and "-h" not in spec.by_short):
                    call.help = True
                    i += 1
                    continue
                i = _parse_flag(spec, rest, i, call.flags, call.typed)
                continue
            if not spec.interspersed:
                call.args.extend(rest[i:])
                break
            call.args.append(token)
            i += 1
        if call.help:
            return
        n, low, high = len(call.args), spec.min_args, spec.max_args
        if high == 0 and n:
            raise DockerUsageError(
                f"'{call.typed}' accepts no arguments (got {shlex.join(call.args)})", f"usage: {spec.usage}"
            )
        if n < low or (high is not None and n > high):
            if high is None:
                want = f"at least {low} argument{'s' if low != 1 else ''}"
            elif low == high:
                want = f"{low} argument{'s' if low != 1 else ''}"
            else:
                want = f"at most {high} argument{'s' if high != 1 else ''}"
            raise DockerUsageError(f"'{call.typed}' requires {want} (got {n})", f"usage: {spec.usage}")


def _parse_flag(spec: CommandSpec, words: list[str], i: int, uses: list[FlagUse], where: str) -> int:
    """Parse the flag(s) at ``words[i]`` into ``uses``; return the index of the next token."""
    token = words[i]
    if token.startswith("--"):
        name, eq, value = token[2:].partition("=")
        if not name or name.startswith("-") or name.startswith("="):
            raise DockerUsageError(f"bad flag syntax: {token}", f"in {where}")
        flag = spec.by_long.get("--" + name)
        if flag is None:
            raise DockerUsageError(f"unknown flag: --{name} (for {where})", _usage_hint(spec))
        if not flag.takes_value:
            uses.append(FlagUse(flag.canonical, _bool(flag, value) if eq else "true", (token,)))
            return i + 1
        if eq:
            uses.append(FlagUse(flag.canonical, _check(flag, value), (token,)))
            return i + 1
        if i + 1 >= len(words):
            raise DockerUsageError(f"flag needs an argument: --{name} (for {where})", _usage_hint(spec))
        uses.append(FlagUse(flag.canonical, _check(flag, words[i + 1]), (token, words[i + 1])))
        return i + 2
    # one or more short flags: -a, -aq, -n5, -n=5, -an 5 (pflag's rules, including `-n=` -> "=")
    k = 1
    while k < len(token):
        c = token[k]
        rest = token[k:]  # this flag's letter and whatever follows it in the token
        whole = k == 1  # the token holds this flag alone (with its value)
        flag = spec.by_short.get("-" + c)
        if flag is None:
            raise DockerUsageError(f"unknown shorthand flag: {c!r} in {token} (for {where})", _usage_hint(spec))
        if not flag.takes_value:
            if len(rest) > 2 and rest[1] == "=":
                uses.append(FlagUse(flag.canonical, _bool(flag, rest[2:]), (token if whole else f"-{rest}",)))
                return i + 1
            uses.append(FlagUse(flag.canonical, "true", (token,) if len(token) == 2 else (f"-{c}",)))
            k += 1
            continue
        if len(rest) > 2 and rest[1] == "=":
            value = rest[2:]
        elif len(rest) > 1:
            value = rest[1:]
        elif i + 1 < len(words):
            uses.append(FlagUse(flag.canonical, _check(flag, words[i + 1]), (f"-{c}", words[i + 1])))
            return i + 2
        else:
            raise DockerUsageError(f"flag needs an argument: {c!r} in -{c} (for {where})", _usage_hint(spec))
        uses.append(FlagUse(flag.canonical, _check(flag, value), (token if whole else f"-{rest}",)))
        return i + 1
    return i + 1


def _usage_hint(spec: CommandSpec) -> str:
    return f"usage: {spec.usage}" if spec.usage else ""


def _bool(flag: FlagSpec, value: str) -> str:
    if value in _TRUE:
        return "true"
    if value in _FALSE:
        return "false"
    raise DockerUsageError(f'invalid argument "{value}" for "{flag.label()}" flag: not a boolean', "use true or false")


def _check(flag: FlagSpec, value: str) -> str:
    """Validate a value the way docker does for numeric and size flags; return it unchanged."""
    try:
        if flag.type == "int":
            int(value, 0)
        elif flag.type == "decimal":
            float(value)
        elif flag.type == "bytes":
            parse_bytes(value)
        elif flag.type == "swapbytes" and value != "-1":
            parse_bytes(value)
    except ValueError as exc:
        raise DockerUsageError(
            f'invalid argument "{value}" for "{flag.label()}" flag: {exc}', f"{flag.long} takes a {flag.type} value"
        ) from None
    return value


def parse_bytes(value: str) -> int:
    """docker's size syntax (units.RAMInBytes): 512, 512k, 1.5g, 64MiB -> bytes."""
    m = _BYTES.match(value)
    if not m:
        raise ValueError(f"invalid size {value!r}")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


# -- loading -------------------------------------------------------------------------------------


def _str(data: dict, key: str, path: str, entry: str | None, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise TableError(path, f"{entry}.{key}" if entry else key, "must be a string")
    return value


def _list_of_str(value: Any, path: str, entry: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TableError(path, entry, "must be a list of strings")
    return value


def _flags(raw: Any, path: str, entry: str) -> tuple[FlagSpec, ...]:
    if not isinstance(raw, list):
        raise TableError(path, entry, "must be a list of flags")
    flags: list[FlagSpec] = []
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, dict):
            raise TableError(path, entry, f"flag {item!r} must be a mapping")
        unknown = set(item) - {"long", "short", "type", "default", "alias_of", "hidden"}
        long = item.get("long")
        where = f"{entry} {long}"
        if unknown:
            raise TableError(path, where, f"unknown key(s) {', '.join(sorted(unknown))}")
        if not isinstance(long, str) or not re.fullmatch(r"--[a-z0-9][a-z0-9-]*", long):
            raise TableError(path, entry, f"flag {item!r}: `long` must look like --name")
        short = item.get("short")
        if short is not None and (not isinstance(short, str) or not re.fullmatch(r"-[A-Za-z0-9]", short)):
            raise TableError(path, where, "`short` must look like -x")
        ftype = item.get("type", "bool")
        if ftype not in FLAG_TYPES:
            raise TableError(path, where, f"type {ftype!r} is not one of {', '.join(FLAG_TYPES)}")
        for key in (long, short):
            if key and key in seen:
                raise TableError(path, where, f"{key} is defined twice")
            if key:
                seen.add(key)
        flags.append(
            FlagSpec(long, short, ftype, item.get("default"), item.get("alias_of"), bool(item.get("hidden", False)))
        )
    longs = {f.long for f in flags}
    for f in flags:
        if f.alias_of and f.alias_of not in longs:
            raise TableError(path, f"{entry} {f.long}", f"alias_of {f.alias_of} is not a flag here")
    return tuple(flags)


def _command(name: str, body: Any, all_commands: dict, path: str, depth: int = 0) -> CommandSpec:
    entry = f"commands.{name}"
    if not isinstance(body, dict):
        raise TableError(path, entry, "must be a mapping")
    unknown = set(body) - {"usage", "summary", "interspersed", "args", "flags", "extends"}
    if unknown:
        raise TableError(path, entry, f"unknown key(s) {', '.join(sorted(unknown))}")
    flags_raw = list(body.get("flags") or [])
    base = body.get("extends")
    if base is not None:
        if base not in all_commands or depth > 3:
            raise TableError(path, f"{entry}.extends", f"{base!r} is not a command of this table")
        flags_raw = list(all_commands[base].get("flags") or []) + flags_raw
    args: list[ArgSpec] = []
    for a in body.get("args") or []:
        if not isinstance(a, dict) or not isinstance(a.get("name"), str) or a.get("kind") not in ARG_KINDS:
            raise TableError(path, f"{entry}.args", f"{a!r}: needs a name and a kind ({', '.join(ARG_KINDS)})")
        args.append(ArgSpec(a["name"], a["kind"], bool(a.get("optional")), bool(a.get("repeat"))))
    for earlier, later in zip(args, args[1:]):
        if earlier.repeat or (earlier.optional and not later.optional):
            raise TableError(path, f"{entry}.args", "only the last arguments may be optional or repeated")
    return CommandSpec(
        name,
        _str(body, "usage", path, entry),
        _str(body, "summary", path, entry, False),
        bool(body.get("interspersed", True)),
        tuple(args),
        _flags(flags_raw, path, f"{entry}.flags"),
    )
