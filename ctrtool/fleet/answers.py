"""A node's answer, typed where it arrives: the JSON each report printed on the node is parsed back
into the records the local commands use (``images -o json`` rows into ImageRecords), so that
`ctrtool nodes` works on records, never on a node's dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from ..doctor.result import Evidence, Fix, Result, Status
from ..model import CopyKind, ImageRecord, SizeKind, Store, StoreEntry, StoreKind, StoreUsage


def image_record(row: dict[str, Any]) -> ImageRecord:
    """One row of a node's `ctrtool images -o json` (ImageRecord.to_dict's fields) as the record
    it was: ``image_record(r.to_dict()).to_dict() == r.to_dict()``. A store is known on the node by
    its path and kind only (its daemon's identity is the node's, not ours)."""
    return ImageRecord(
        backend=str(row.get("backend") or ""),
        namespace=row.get("namespace"),
        ref=row.get("ref"),
        id=row.get("id"),
        digest=row.get("digest"),
        size=row.get("size"),
        size_kind=_size_kind(row.get("size_kind")),
        store=_store(row.get("store"), row.get("store_kind"), row.get("namespace")),
        content=_store(row.get("content_store"), StoreKind.CONTENT.value, None) if row.get("content_store") else None,
        copies=_int(row.get("copies"), 1),
        created=row.get("created"),
        ref_copies=_int(row.get("ref_copies"), 1),
        kubelet_visible=row.get("kubelet_visible"),
        source=str(row.get("source") or "tool"),
        aliases=[a for a in row.get("aliases") or [] if isinstance(a, str)],
    )


def _size_kind(value: Any) -> SizeKind:
    """A node's ``size_kind``; a word this ctrtool does not know (a newer node's) is taken as the
    node's own figure, ``reported``."""
    try:
        return SizeKind(value)
    except ValueError:
        return SizeKind.REPORTED


def image_records(rows: Any) -> list[ImageRecord] | None:
    """A node's image listing as records, the CRI's id-names folded into the image they name (a
    node's ctrtool folds them itself; an older one listed them as rows, without ``aliases``);
    None when the node printed no listing."""
    if not isinstance(rows, list):
        return None
    if not all(isinstance(r, dict) and "aliases" in r for r in rows):
        rows = fold_alias_rows(rows)
    return [image_record(r) for r in rows if isinstance(r, dict)]


def doctor_result(row: dict[str, Any]) -> Result:
    """One check of a node's `ctrtool doctor -o json` (Result.to_dict's fields) as the Result it
    was: ``doctor_result(r.to_dict()).to_dict() == r.to_dict()``."""
    try:
        status = Status(row.get("status"))
    except ValueError:
        status = Status.SKIPPED
    return Result(
        check=str(row.get("check") or ""),
        title=str(row.get("title") or ""),
        status=status,
        summary=str(row.get("summary") or ""),
        evidence=[
            Evidence(str(e.get("source") or ""), str(e.get("excerpt") or ""), str(e.get("kind") or "command"))
            for e in _dicts(row.get("evidence"))
        ],
        fixes=[
            Fix(str(f.get("summary") or ""), _strings(f.get("commands")), f.get("file"), _strings(f.get("lines")))
            for f in _dicts(row.get("fixes"))
        ],
        details=_strings(row.get("details")),
    )


def doctor_results(rows: Any) -> list[Result] | None:
    """A node's doctor report as Results; None when the node printed none."""
    return [doctor_result(r) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else None


@dataclass
class NodeDiskUsage:
    """A node's `ctrtool df -o json`: its stores as the StoreUsage records `df` prints, the bytes
    unpacked more than once, what keeping each image once would save, and the byte account of its
    storage roots (as the node printed it)."""

    stores: list[StoreUsage]
    duplicated: int | None = None
    could_save: int | None = None
    account: list[Any] = field(default_factory=list)


def _copy_kind(value: Any) -> CopyKind:
    """A node's store ``kind``; a word this ctrtool does not know (a newer node's) is kept as the
    node printed it (a str, as the enum's values are), never renamed into one it knows."""
    try:
        return CopyKind(value)
    except ValueError:
        return cast(CopyKind, str(value or ""))


def store_usage(row: dict[str, Any]) -> StoreUsage:
    """One store of a node's df (every StoreUsage field, as the output sink printed it)."""
    return StoreUsage(
        store=str(row.get("store") or ""),
        kind=_copy_kind(row.get("kind")),
        backend=str(row.get("backend") or ""),
        namespace=row.get("namespace"),
        path=str(row.get("path") or ""),
        seen_by=_strings(row.get("seen_by")),
        namespaces=_strings(row.get("namespaces")),
        items=_int(row.get("items"), 0),
        bytes=_int(row.get("bytes"), 0),
        duplicated=_int(row.get("duplicated"), 0),
        entries=[
            StoreEntry(
                str(e.get("key") or ""),
                str(e.get("path") or ""),
                e.get("size"),
                _int(e.get("copies"), 1),
                _strings(e.get("namespaces")),
            )
            for e in _dicts(row.get("entries"))
        ],
    )


def disk_usage(doc: Any) -> NodeDiskUsage | None:
    """A node's df report, typed; None when the node printed none."""
    if not isinstance(doc, dict):
        return None
    return NodeDiskUsage(
        stores=[store_usage(r) for r in _dicts(doc.get("stores"))],
        duplicated=doc.get("duplicated"),
        could_save=doc.get("could_save"),
        account=_list(doc.get("account")),
    )


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _store(path: Any, kind: Any, namespace: str | None) -> Store | None:
    path = path if isinstance(path, str) and path else None
    try:
        store_kind = StoreKind(kind)
    except ValueError:
        if path is None:
            return None
        store_kind = StoreKind.SNAPSHOTS if namespace else StoreKind.GRAPH
    return Store(store_kind, path or "", path, namespace if store_kind is StoreKind.SNAPSHOTS else None)


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def fold_alias_rows(rows: list[Any]) -> list[Any]:
    """A node's image rows (JSON of `images`) with the CRI's id-names folded, as
    core.fold_aliases does for ImageRecords: a row named ``sha256:<64 hex>`` that is the ``id`` of
    another row of the same backend and namespace becomes an entry of that row's ``aliases``."""

    def is_alias(ref: Any) -> bool:
        return isinstance(ref, str) and ref.startswith("sha256:") and len(ref) == 71

    def place(r: dict[str, Any]) -> tuple:
        return (r.get("backend"), r.get("namespace"), r.get("store"))

    named: dict[tuple, list[dict[str, Any]]] = {}
    out: list[Any] = []
    for r in rows:
        if isinstance(r, dict):
            r = dict(r, aliases=list(r.get("aliases") or []))
            if r.get("id") and r.get("ref") and not is_alias(r.get("ref")):
                named.setdefault((*place(r), r["id"]), []).append(r)
        out.append(r)
    kept: list[Any] = []
    for r in out:
        owners = named.get((*place(r), r.get("ref"))) if isinstance(r, dict) and is_alias(r.get("ref")) else None
        if not owners:
            kept.append(r)
            continue
        for owner in owners:
            if r["ref"] not in owner["aliases"]:
                owner["aliases"].append(r["ref"])
    return kept
