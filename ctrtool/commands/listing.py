"""The one skeleton of a listing command (images, info, layers, df, explain, ps, pods).

Every listing asks the same things in the same order: which backends (``--backend``,
``--all-backends``, else those found), what core gathered from them (rows, failed backends,
warnings), then one of three ways to print it (``-q`` lines, ``-o json|yaml`` records serialised by
the output sink, or a table for people), and the exit status that says whether some or all
backends failed (:func:`common.report_failures`). A command supplies only what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from .common import report_failures, settings

if TYPE_CHECKING:
    from ..config import Settings
    from ..core.query import Gathered
    from ..output import Output


def backends(ctx: typer.Context, backend: Sequence[str] | None, all_backends: bool) -> tuple[Settings, list[str]]:
    """The settings and the backends a listing asks."""
    from ..core.query import select_backends

    conf = settings(ctx)
    return conf, select_backends(conf, backend, all_backends)


def default_namespaces(conf: Settings) -> list[str] | None:
    """The namespaces a listing asks ctr for without -n: the configured one (``ctr_namespace``), if any."""
    ns, _source = conf.ctr_namespace()
    return [ns] if ns else None


def sort_key(sort: str | None, keys: Mapping[str, Callable[[Any], Any]]) -> Callable[[Any], Any] | None:
    """``--sort KEY``: the sort key ``keys`` has for KEY (None without --sort); a KEY not in ``keys``
    is a usage error before any tool runs (the first key is the example)."""
    from ..errors import UsageError

    if sort is None:
        return None
    if sort in keys:
        return keys[sort]
    raise UsageError(f"--sort {sort!r} is not one of {', '.join(keys)}", f"e.g. --sort {next(iter(keys))}")


def newest_first(row: Any) -> tuple[bool, str]:
    """Sort key: ``created`` newest first (RFC 3339 UTC strings sort as times); unknown last."""
    return (row.created is None, "".join(chr(0x10FFFF - ord(c)) for c in (row.created or "")))


def by_field(name: str) -> Callable[[Any], tuple[bool, Any]]:
    """Sort key: the field ``name``; unknown (None) last."""
    return lambda row: (getattr(row, name) is None, getattr(row, name) or "")


def show(
    out: Output,
    got: Gathered,
    asked: int,
    *,
    table: Callable[[], object],
    data: Callable[[], Any] | None = None,
    quiet: Callable[[], Iterable[str]] | None = None,
    nothing: bool | None = None,
) -> NoReturn:
    """Print what was gathered and exit: nothing when every backend failed (the errors say why; or
    when ``nothing`` says so), ``quiet()`` lines with -q, ``data()`` (default: the rows) as JSON or
    YAML, else ``table()``; then the warnings, one line per failed backend, and the exit status (0;
    1 or 2 when all failed; 3 partial)."""
    if nothing if nothing is not None else (got.failed and len(got.failed) == asked):
        pass
    elif out.quiet and quiet is not None:
        out.lines(quiet())
    elif out.structured:
        out.data(data() if data is not None else got.rows)
    else:
        table()
    raise typer.Exit(report_failures(out, got, asked))


def namespaced(rows: Sequence[Any]) -> bool:
    """Whether a table shows the NAMESPACE column (containerd's namespaces): not when every row is
    from a store without them, as on a CRI-O or podman node (crictl on CRI-O, podman), where the
    column would only speak of containerd. Docker's rows keep it (its containers are in a containerd
    namespace even when its images are not)."""
    from ..adapters import get_descriptor

    if not rows or any(r.namespace for r in rows):
        return True
    return any(get_descriptor(r.backend).reports_containerd for r in rows)
