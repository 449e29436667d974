"""Value converters named by the tables (``convert: NAME``), and docker image reference
normalization. Each converter takes the docker value and returns the target's value, or raises
:class:`Unsupported` with the reason when this particular value has no equivalent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import Unsupported
from .grammar import parse_bytes


class Noted(str):
    """A converted value that comes with notes for the user (what differs in the target)."""

    notes: list[str]

    def __new__(cls, value: str, notes: list[str]):
        obj = super().__new__(cls, value)
        obj.notes = list(notes)
        return obj


# -- docker image references: ctrtool/refs.py ---------------------------------------------------

from ..refs import DEFAULT_DOMAIN, looks_like_id, normalize_ref, split_domain  # noqa: E402,F401


def normalize_repo(ref: str) -> tuple[str, str | None] | None:
    """REPOSITORY[:TAG] as `docker images` takes it -> (full repository, tag or None)."""
    if looks_like_id(ref) or "@" in ref:
        return None
    name, tag = ref, None
    slash, colon = ref.rfind("/"), ref.rfind(":")
    if colon > slash:
        name, tag = ref[:colon], ref[colon + 1 :]
    full = normalize_ref(f"{name}:{tag or 'latest'}")
    if full is None:
        return None
    return full.rsplit(":", 1)[0], tag


def ctr_image_filter(ref: str) -> str:
    """`docker images REPOSITORY[:TAG]` -> a containerd filter for `ctr images ls`."""
    if any(c in ref for c in "*?["):
        raise Unsupported(
            "docker matches this as a pattern; ctr takes a regular expression over the full "
            "name: `ctr images ls 'name~=REGEX'`"
        )
    got = normalize_repo(ref)
    if got is None:
        raise Unsupported("not an image reference ctr can filter by")
    repo, tag = got
    if tag:
        return f"name=={repo}:{tag}"
    return "name~=^" + repo.replace(".", "\\.") + "[:@]"


# -- converters ------------------------------------------------------------------------------------


def _bytes(value: str) -> int:
    return parse_bytes(value)


def _swap_bytes(value: str) -> Any:
    return -1 if value == "-1" else parse_bytes(value)


def _cpus_quota(value: str) -> int:
    cpus = float(value)
    if cpus <= 0:
        raise Unsupported("--cpus must be above 0")
    return int(round(cpus * 100000))


def _cap_prefixed(value: str) -> str:
    cap = value.upper()
    if cap in ("ALL", "CAP_ALL"):
        raise Unsupported("ctr takes single capabilities, not ALL")
    return cap if cap.startswith("CAP_") else "CAP_" + cap


def _cap_bare(value: str) -> str:
    cap = value.upper()
    return cap[4:] if cap.startswith("CAP_") else cap


def _env_explicit(value: str) -> str:
    if "=" not in value:
        raise Unsupported("docker takes NAME's value from its own environment; write NAME=VALUE")
    return value


def _nonempty(value: str) -> str:
    if value == "":
        raise Unsupported("an empty value resets the image's setting in docker; the target has no way to say that")
    return value


def _int(value: str) -> int:
    return int(value, 0)


def _grace(value: str) -> int:
    seconds = int(value, 10)
    if seconds < 0:
        raise Unsupported(
            "a negative timeout makes docker wait for ever; the target has no such wait (the CRI "
            "takes it as no grace period: SIGKILL at once)"
        )
    return seconds


def _gid(value: str) -> int:
    if not value.isdigit():
        raise Unsupported("the CRI takes numeric group IDs only")
    return int(value)


def _key_value(value: str) -> dict[str, str]:
    key, _, val = value.partition("=")
    if not key:
        raise Unsupported("expected KEY=VALUE")
    return {key: val}


def _cri_env(value: str) -> dict[str, str]:
    key, eq, val = value.partition("=")
    if not eq or not key:
        raise Unsupported("docker takes NAME's value from its own environment; write NAME=VALUE")
    return {"key": key, "value": val}


def _split_volume(value: str) -> tuple[str, str, list[str]]:
    parts = value.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0].startswith("/") or not parts[1].startswith("/"):
        raise Unsupported("only bind mounts (/HOST:/CONTAINER[:OPTIONS]) have an equivalent, not docker volumes")
    options = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    known = {"ro", "rw", "z", "Z", "private", "rprivate", "shared", "rshared", "slave", "rslave", "nocopy"}
    unknown = [o for o in options if o not in known]
    if unknown:
        raise Unsupported(f"unknown volume option(s) {', '.join(unknown)}")
    return parts[0], parts[1], options


_PROPAGATION = {"private": 0, "rprivate": 0, "shared": 2, "rshared": 2, "slave": 1, "rslave": 1}


def _cri_mount(value: str) -> dict[str, Any]:
    host, container, options = _split_volume(value)
    mount: dict[str, Any] = {"host_path": host, "container_path": container}
    if "ro" in options:
        mount["readonly"] = True
    for option in options:
        if option in _PROPAGATION:
            mount["propagation"] = _PROPAGATION[option]
        if option in ("z", "Z"):
            mount["selinux_relabel"] = True
    return mount


def _ctr_volume(value: str) -> str:
    host, container, options = _split_volume(value)
    if any(c in host + container for c in ",="):
        raise Unsupported("ctr's --mount cannot express a path with ',' or '='")
    if any(o in ("z", "Z") for o in options):
        raise Unsupported("ctr has no SELinux relabelling")
    mode = "ro" if "ro" in options else "rw"
    extra = [o for o in options if o in _PROPAGATION]
    return f"type=bind,src={host},dst={container},options=" + ":".join(["rbind", mode, *extra])


def _ctr_mount(value: str) -> str:
    fields: dict[str, str] = {}
    flags: set[str] = set()
    for part in value.split(","):
        key, eq, val = part.partition("=")
        if eq:
            fields[key.strip().lower()] = val
        else:
            flags.add(key.strip().lower())
    kind = fields.get("type", "volume")
    if kind != "bind":
        raise Unsupported(f"only type=bind mounts have a ctr equivalent (not {kind})")
    src = fields.get("source") or fields.get("src")
    dst = fields.get("target") or fields.get("destination") or fields.get("dst")
    if not src or not dst:
        raise Unsupported("a bind mount needs source and target")
    extra = set(fields) - {
        "type",
        "source",
        "src",
        "target",
        "destination",
        "dst",
        "readonly",
        "ro",
        "bind-propagation",
    }
    if extra or flags - {"readonly", "ro"}:
        raise Unsupported(
            f"mount option(s) {', '.join(sorted(extra | (flags - {'readonly', 'ro'})))} have no ctr equivalent"
        )
    readonly = (
        bool(flags & {"readonly", "ro"})
        or fields.get("readonly", "false") in ("1", "true")
        or fields.get("ro", "false") in ("1", "true")
    )
    options = ["rbind", "ro" if readonly else "rw"]
    if fields.get("bind-propagation"):
        options.append(fields["bind-propagation"])
    return f"type=bind,src={src},dst={dst},options=" + ":".join(options)


_PORT = re.compile(
    r"^(?:(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(?P<host>\d*):)?(?P<container>\d+)(?:/(?P<proto>tcp|udp|sctp))?$"
)


def _cri_port(value: str) -> dict[str, Any]:
    m = _PORT.match(value)
    if not m:
        raise Unsupported("port ranges and names have no CRI equivalent: one [IP:][HOST:]PORT[/PROTO] per -p")
    port: dict[str, Any] = {"container_port": int(m.group("container"))}
    if m.group("host"):
        port["host_port"] = int(m.group("host"))
    if m.group("ip"):
        port["host_ip"] = m.group("ip").strip("[]")
    port["protocol"] = {"tcp": 0, "udp": 1, "sctp": 2}[m.group("proto") or "tcp"]
    return port


def _split_device(value: str) -> tuple[str, str, str]:
    parts = value.split(":")
    if len(parts) > 3 or not parts[0].startswith("/"):
        raise Unsupported("expected /dev/HOST[:/dev/CONTAINER[:PERMISSIONS]]")
    host = parts[0]
    container = parts[1] if len(parts) > 1 and parts[1] else host
    perms = parts[2] if len(parts) > 2 else "rwm"
    if len(parts) == 2 and not parts[1].startswith("/"):
        container, perms = host, parts[1]
    return host, container, perms


def _cri_device(value: str) -> dict[str, str]:
    host, container, perms = _split_device(value)
    return {"host_path": host, "container_path": container, "permissions": perms}


def _ctr_device(value: str) -> str:
    host, container, perms = _split_device(value)
    if container != host or perms != "rwm":
        raise Unsupported("ctr --device adds the device at its own path with full permissions only")
    return host


def _cri_user(value: str) -> dict[str, Any]:
    user, _, group = value.partition(":")
    out: dict[str, Any] = {}
    if user.isdigit():
        out["run_as_user"] = {"value": int(user)}
    elif user:
        out["run_as_username"] = user
    if group:
        if not group.isdigit():
            raise Unsupported("the CRI takes a numeric group ID only")
        if not user.isdigit():
            raise Unsupported("the CRI takes a group with a numeric user ID only")
        out["run_as_group"] = {"value": int(group)}
    if not out:
        raise Unsupported("empty user")
    return out


CONVERTERS: dict[str, Callable[[str], Any]] = {
    "bytes": _bytes,
    "swap_bytes": _swap_bytes,
    "cpus_quota": _cpus_quota,
    "cap_prefixed": _cap_prefixed,
    "cap_bare": _cap_bare,
    "env_explicit": _env_explicit,
    "nonempty": _nonempty,
    "int": _int,
    "grace": _grace,
    "gid": _gid,
    "key_value": _key_value,
    "cri_env": _cri_env,
    "cri_mount": _cri_mount,
    "cri_port": _cri_port,
    "cri_device": _cri_device,
    "cri_user": _cri_user,
    "ctr_device": _ctr_device,
    "ctr_volume": _ctr_volume,
    "ctr_mount": _ctr_mount,
}


def _cri_template(kind: str) -> Callable[[str, int], Any]:
    def convert_template(value: str, nargs: int) -> Noted:
        from .templates import to_cri

        template, notes = to_cri(value, kind, nargs)
        return Noted(template, notes)

    return convert_template


# converters that need to know how many docker arguments there are
_WITH_COUNT: dict[str, Callable[[str, int], Any]] = {
    "cri_container_template": _cri_template("container"),
    "cri_image_template": _cri_template("image"),
}


def convert(name: str, value: str, nargs: int = 1) -> Any:
    try:
        if name in _WITH_COUNT:
            return _WITH_COUNT[name](value, nargs)
        return CONVERTERS[name](value)
    except Unsupported:
        raise
    except (ValueError, KeyError, IndexError) as exc:
        raise Unsupported(f"value {value!r} not understood ({exc})") from None
