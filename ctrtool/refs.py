"""Image references, as docker (distribution/reference) reads them: the one place that knows.

``busybox`` and ``docker.io/busybox`` are both ``docker.io/library/busybox:latest``; ``localhost/x``
and ``reg.io:5000/x`` name their own registries. Used by the adapters (matching a name a user typed
to what a tool lists), core and translate.
"""

from __future__ import annotations

import functools
import re

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")
DEFAULT_DOMAIN = "docker.io"


def looks_like_id(ref: str) -> bool:
    return bool(_ID.match(ref))


def split_domain(name: str) -> tuple[str, str]:
    """docker's rule: the first component is a registry if it has a dot or a port, or is localhost
    (or has upper case); else the image is on Docker Hub."""
    first, slash, rest = name.partition("/")
    if not slash or (("." not in first and ":" not in first and first != "localhost") and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = "library/" + remainder
    return domain, remainder


def normalize_ref(ref: str) -> str | None:
    """busybox -> docker.io/library/busybox:latest, as docker reads it. None when ``ref`` is not a
    docker image reference (an image ID, a typo, anything with spaces or quotes)."""
    if looks_like_id(ref):
        return None
    # the tag is after the last ':' that follows the last '/'
    name, digest = (ref.split("@", 1) + [""])[:2] if "@" in ref else (ref, "")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    domain, remainder = split_domain(name)
    full = f"{domain}/{remainder}"
    if tag:
        full += f":{tag}"
    if digest:
        full += f"@{digest}"
    elif not tag:
        full += ":latest"
    m = _REFERENCE.match(full)
    if not m or len(m.group("path")) > 255:
        return None
    return full


def names_for(ref: str) -> list[str]:
    """The names a reference stands for, the way a tool may list it: as typed, with ``:latest``
    when it has no tag, and in full (``docker.io/library/busybox:latest``)."""
    names = [ref]
    if "@" in ref or looks_like_id(ref):
        return names
    last = ref.rsplit("/", 1)[-1]
    names.append(ref if ":" in last else f"{ref}:latest")
    full = normalize_ref(ref)
    if full:
        names.append(full)
    return list(dict.fromkeys(names))


@functools.lru_cache(maxsize=1 << 16)
def canonical(ref: str) -> str:
    """The full form of a reference (``busybox`` -> ``docker.io/library/busybox:latest``), or the
    reference itself when it is not one docker would accept. Cached: core asks it several times for
    every row, and a listing of thousands of tags names few distinct references more than once."""
    return normalize_ref(ref) or names_for(ref)[-1]


def distinct_names(names: list[str]) -> list[str]:
    """Each name once, whatever its spelling (``myapp:2`` and ``docker.io/library/myapp:2`` are one)."""
    seen: dict[str, str] = {}
    for n in names:
        seen.setdefault(canonical(n), n)
    return list(seen.values())


def _split_tag(full: str) -> tuple[str, str | None]:
    name = full.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return (name[:colon], name[colon + 1 :]) if colon > slash else (name, None)


def familiar(ref: str) -> str:
    """docker's short form: ``docker.io/library/busybox:latest`` -> ``busybox:latest``."""
    full = canonical(ref)
    for prefix in (f"{DEFAULT_DOMAIN}/library/", f"{DEFAULT_DOMAIN}/"):
        if full.startswith(prefix):
            return full[len(prefix) :]
    return full


def matches_repo_tag(ref: str, wanted: str) -> bool:
    """``docker images REPO[:TAG]``: the same repository (both normalised: ``busybox`` is
    ``docker.io/library/busybox``) and, when ``wanted`` has a tag, the same tag."""
    if looks_like_id(ref):
        return False
    last = wanted.rsplit("/", 1)[-1]
    has_tag = ":" in last or "@" in wanted
    repo, tag = _split_tag(canonical(ref))
    want_repo, want_tag = _split_tag(canonical(wanted))
    return repo == want_repo and (not has_tag or tag == want_tag)


def matches_pattern(ref: str, pattern: str) -> bool:
    """``--filter reference=PATTERN`` (docker's): a shell-style pattern matched against the name as
    listed, its full form and its familiar form; a pattern without a tag matches the repository
    (every tag of it)."""
    import fnmatch

    if looks_like_id(ref):
        return False
    tagged = ":" in pattern.rsplit("/", 1)[-1] or "@" in pattern
    for form in dict.fromkeys((ref, canonical(ref), familiar(ref))):
        target = form if tagged else _split_tag(form)[0]
        if fnmatch.fnmatchcase(target, pattern):
            return True
    return False


NAMESPACE_RE = r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*"


def check_namespace(namespace: str | None, option: str = "-n/--namespace") -> str | None:
    """A containerd namespace as containerd accepts one (letters, digits, and '.', '_', '-'
    between them; at most 76 characters), else a usage error; None stays None."""
    from .errors import UsageError

    if namespace is None:
        return None
    if not re.fullmatch(NAMESPACE_RE, namespace) or len(namespace) > 76:
        raise UsageError(
            f"{option} {namespace!r} is not a containerd namespace",
            "namespaces are letters and digits, with '.', '_' or '-' between them "
            "(default, k8s.io, moby); `ctrtool info` lists them",
        )
    return namespace
