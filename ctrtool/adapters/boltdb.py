"""A small read-only reader of bbolt files (the format containerd's snapshotters keep their
metadata in), and what ctrtool reads from one: which directory holds each snapshot.

ctr 1.6 has no command that maps a committed snapshot's key to its directory
(``<snapshotter root>/snapshots/<id>``): ``ctr snapshots mounts`` works only on active snapshots and
views. The overlayfs (and native) snapshotter keeps that map in its own ``metadata.db``:
bucket ``v1`` -> bucket ``snapshots`` -> one bucket per snapshot, named
``<namespace>/<n>/<key>`` (containerd's metadata layer's name for it), holding ``id`` (a uvarint: the
directory's number), ``kind`` (one byte), ``parent`` and, for committed snapshots, ``size`` and
``inodes`` (containerd 1.6, snapshots/storage/bolt.go).

The file is opened read-only and never locked or written: containerd may be writing it at the same
time (:func:`read_consistent`). Both meta pages are checked (magic, version, page size, checksum) and
the valid one with the highest transaction id is read. bbolt writes a transaction's pages into pages
free at the previous transaction and only then its meta page, so the pages reachable from transaction
N can be overwritten only by transaction N+2, whose page writes may come before its meta page: when
the meta pages, read again after every page was read, still name N as the newest, every page read
belonged to N (:func:`read_consistent`). Otherwise the read is done again, up to 50 times; anything
inconsistent in a snapshot that did not change (a page out of range, an unknown page type) is raised
as :class:`BoltError`, never guessed around.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

MAGIC = 0xED0CDAED
BRANCH, LEAF, META = 0x01, 0x02, 0x04
BUCKET_LEAF_FLAG = 0x01
MAX_PAGE = 65536  # bbolt's page size is the OS page size: 4 KiB here, 64 KiB at most on any platform
PAGE_HEADER = 16  # id u64, flags u16, count u16, overflow u32
ELEMENT = 16  # branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32

_HEADER = struct.Struct("<HH")
_BRANCH = struct.Struct("<IIQ")
_LEAF = struct.Struct("<IIII")

# containerd's snapshot kinds (snapshots.Kind)
KINDS = {1: "view", 2: "active", 3: "committed"}


class BoltError(Exception):
    """The file is not a bbolt file ctrtool can read consistently."""


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class Bolt:
    """A bbolt file: ``data`` is the whole file, or, with ``fd``, its first two pages (the meta
    pages), the other pages then read with pread when the walk reaches them (each once)."""

    def __init__(self, data: bytes, fd: int | None = None):
        self.data = data
        self.fd = fd
        self._pages: dict[int, bytes] = {}
        self.read_late: set[int] = set()  # pages read from the file during the walk (not preloaded)
        self.txid, self.page_size, self.root, self.high_water = self._meta()

    def preload(self, pgids: set[int]) -> None:
        """Read these pages now, in one quick pass (the walk then parses them from memory)."""
        for pgid in sorted(pgids):
            if 2 <= pgid < self.high_water and pgid not in self._pages:
                try:
                    self._read_page(pgid)
                except BoltError:
                    continue  # no longer a page of this file: the walk will say so if it needs it
        self.read_late.clear()

    def _meta(self) -> tuple[int, int, int, int]:
        best = None
        # the page size is not known before a meta page is read: try the first one's, then 4096
        sizes = []
        if len(self.data) >= PAGE_HEADER + 12:
            sizes.append(struct.unpack_from("<I", self.data, PAGE_HEADER + 8)[0])
        sizes.append(4096)
        for page_size in dict.fromkeys(sizes):
            for n in (0, 1):
                off = n * page_size
                if page_size <= 0 or off + PAGE_HEADER + 64 > len(self.data):
                    continue
                flags = struct.unpack_from("<H", self.data, off + 8)[0]
                meta = off + PAGE_HEADER
                magic, _version, psize, _flags, root, _seq, _freelist, pgid, txid, checksum = struct.unpack_from(
                    "<IIIIQQQQQQ", self.data, meta
                )
                if flags != META or magic != MAGIC or psize != page_size:
                    continue
                if _fnv1a64(self.data[meta : meta + 56]) != checksum:
                    continue
                if best is None or txid > best[0]:
                    best = (txid, psize, root, pgid)
            if best:
                break
        if best is None:
            raise BoltError("no valid meta page (bad magic or checksum)")
        return best

    def _page(self, pgid: int) -> tuple[bytes, int]:
        if self.fd is not None:
            return self._read_page(pgid), 0
        off = pgid * self.page_size
        if pgid < 2 or off + PAGE_HEADER > len(self.data):
            raise BoltError(f"page {pgid} out of range")
        overflow = struct.unpack_from("<I", self.data, off + 12)[0]
        end = off + (overflow + 1) * self.page_size
        if end > len(self.data):
            raise BoltError(f"page {pgid} (+{overflow} overflow) out of range")
        return self.data, off

    def _read_page(self, pgid: int) -> bytes:
        if pgid in self._pages:
            return self._pages[pgid]
        if pgid < 2 or pgid >= self.high_water:
            raise BoltError(f"page {pgid} out of range (high water mark {self.high_water})")
        assert self.fd is not None
        off = pgid * self.page_size
        buf = os.pread(self.fd, self.page_size, off)
        if len(buf) < self.page_size:
            raise BoltError(f"page {pgid} beyond the end of the file")
        overflow = struct.unpack_from("<I", buf, 12)[0]
        if overflow:
            if pgid + overflow >= self.high_water:
                raise BoltError(f"page {pgid} (+{overflow} overflow) out of range")
            buf = os.pread(self.fd, (overflow + 1) * self.page_size, off)
            if len(buf) < (overflow + 1) * self.page_size:
                raise BoltError(f"page {pgid} (+{overflow} overflow) beyond the end of the file")
        self._pages[pgid] = buf
        self.read_late.add(pgid)
        return buf

    def items(self, root: int, inline: bytes | None = None) -> list[tuple[bytes, bytes, bool]]:
        """(key, value, is_bucket) of a bucket: its root page, or its inline page."""
        out: list[tuple[bytes, bytes, bool]] = []
        if inline is not None:
            self._walk(inline, 0, out, depth=0)
        else:
            data, off = self._page(root)
            self._walk(data, off, out, depth=0)
        return out

    def _walk(self, data: bytes, off: int, out: list, depth: int) -> None:
        if depth > 64:
            raise BoltError("tree too deep (a page cycle?)")
        if off + PAGE_HEADER > len(data):
            raise BoltError("page header out of range")
        flags, count = _HEADER.unpack_from(data, off + 8)
        first = off + PAGE_HEADER
        if flags & BRANCH:
            for i in range(count):
                _pos, _ksize, pgid = _BRANCH.unpack_from(data, first + i * ELEMENT)
                pdata, poff = self._page(pgid)
                self._walk(pdata, poff, out, depth + 1)
        elif flags & LEAF:
            size = len(data)
            append = out.append
            unpack = _LEAF.unpack_from
            for i in range(count):
                e = first + i * ELEMENT
                eflags, pos, ksize, vsize = unpack(data, e)
                start = e + pos
                mid = start + ksize
                end = mid + vsize
                if end > size:
                    raise BoltError("leaf element out of range")
                append((data[start:mid], data[mid:end], bool(eflags & BUCKET_LEAF_FLAG)))
        else:
            raise BoltError(f"unexpected page type {flags:#x}")

    def bucket(self, value: bytes) -> list[tuple[bytes, bytes, bool]]:
        if len(value) < 16:
            raise BoltError("bucket value too short")
        root = struct.unpack_from("<Q", value, 0)[0]
        return self.items(0, inline=value[16:]) if root == 0 else self.items(root)

    def path(self, *names: bytes) -> list[tuple[bytes, bytes, bool]]:
        items = self.items(self.root)
        for name in names:
            found = [v for k, v, is_bucket in items if k == name and is_bucket]
            if not found:
                raise BoltError(f"bucket {name.decode(errors='replace')!r} missing")
            items = self.bucket(found[0])
        return items


def read_consistent(path: str, walk: Callable[[Bolt], T], attempts: int = 50) -> T:
    """``walk`` applied to one consistent snapshot of the bbolt file at ``path``.

    The meta pages are read (the newest valid one names transaction N), the walk reads the pages it
    reaches (pread: never written, never locked, never mapped), then the meta pages are read again.
    A write transaction N+1 writes only pages that were free before it began (its dirty pages, then
    its meta page); the pages of N's tree that N+1 replaces are released for reuse when N+2 begins,
    and N+2 may write them before its own meta page says so. So only a read that ends with N still
    the newest is known to hold N's pages: any commit meanwhile means another attempt.

    A big file under a burst of commits (the CRI labelling thousands of new tags: about 15 commits a
    second, while a walk of 9,000 images takes half a second) would rarely see a walk without a
    commit. So each later attempt first reads every page the earlier walks needed, in one quick pass
    between two reads of the meta pages; when no commit fell in that short window, those pages are
    N's, and the walk parses them from memory, reading from the file only the pages it had not
    needed before (then a commit during the walk matters only if it read some). Each attempt
    learns the pages the last one needed, so this converges as the writes slow down.

    A :class:`BoltError` from ``walk`` on a snapshot that did not change is the file's own state and
    raised with its type (e.g. a schema refused). OSError (missing, permission) is raised at once."""
    problem: BoltError = BoltError("no attempt")
    needed: set[int] = set()
    with open(path, "rb", buffering=0) as fh:
        fd = fh.fileno()

        def newest(page_size: int) -> int:
            try:
                return Bolt(os.pread(fd, 2 * page_size, 0)).txid
            except BoltError:
                return -1

        for attempt in range(attempts):
            if attempt:
                time.sleep(0.001 * min(attempt, 10))
            try:
                db = Bolt(os.pread(fd, 2 * MAX_PAGE, 0), fd=fd)
            except BoltError as exc:
                problem = exc
                continue
            if needed:
                db.preload(needed)
                now = newest(db.page_size)
                if now != db.txid:
                    problem = BoltError(f"changed while being read (transaction {db.txid}, now {now})")
                    continue
            failed: BoltError | None = None
            result: Any = None
            try:
                result = walk(db)
            except BoltError as exc:
                failed = exc
            except (struct.error, IndexError, KeyError, ValueError) as exc:  # torn, or not bbolt
                failed = BoltError(f"not understood ({type(exc).__name__}: {exc})")
            now = newest(db.page_size) if db.read_late else db.txid
            if now == db.txid:
                if failed is not None:
                    raise failed
                return result
            needed |= set(db._pages)
            problem = BoltError(f"changed while being read (transaction {db.txid}, now {now})")
    raise type(problem)(f"{problem} ({attempts} attempts)")


def uvarint(raw: bytes) -> int:
    value = shift = 0
    for b in raw:
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value
        shift += 7
    raise BoltError("truncated varint")


@dataclass(frozen=True)
class SnapshotEntry:
    namespace: str
    key: str  # the snapshot's key in its namespace (a chain id for an image layer)
    id: int  # the directory: <snapshotter root>/snapshots/<id>
    kind: str  # committed, active, view
    size: int | None  # the snapshotter's own figure for committed snapshots (often 0 in 1.6)
    name: str = ""  # the whole bucket name, ``<namespace>/<n>/<key>`` (containerd's meta.db names it)


def read_snapshots(path: str) -> list[SnapshotEntry]:
    """Every snapshot in a snapshotter's ``metadata.db``, from one consistent snapshot of it
    (:func:`read_consistent`), else :class:`BoltError`."""
    return read_consistent(path, _entries)


def _entries(db: Bolt) -> list[SnapshotEntry]:
    out = []
    for name, value, is_bucket in db.path(b"v1", b"snapshots"):
        if not is_bucket:
            continue
        fields = {k: v for k, v, b in db.bucket(value) if not b}
        text = name.decode("utf-8", errors="replace")
        namespace, sep1, rest = text.partition("/")
        _n, sep2, key = rest.partition("/")
        if not (sep1 and sep2) or b"id" not in fields:
            raise BoltError(f"snapshot entry {text!r} not understood")
        kind = fields.get(b"kind", b"\x00")
        size = uvarint(fields[b"size"]) if b"size" in fields else None
        out.append(
            SnapshotEntry(
                namespace, key, uvarint(fields[b"id"]), KINDS.get(kind[0] if kind else 0, "unknown"), size, text
            )
        )
    return out
