"""containerd's meta.db read directly (ctrtool/adapters/metadata.py), on files containerd itself wrote
(tests/fixtures/containerd/meta-<version>.db.gz, copied from the lab's containerd root): what is read,
and the refusals that send ctrtool back to the tools: an unknown schema version, another schema
bucket, a file whose meta pages are both bad."""

from __future__ import annotations

import gzip
import os
import struct

import pytest

from ctrtool.adapters.boltdb import Bolt, BoltError, _fnv1a64
from ctrtool.adapters.metadata import SchemaUnsupported, go_time, read_metadata, varint

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "containerd")
DEMO = "localhost/ctrtool/demo:1.0"


def fixture_files():
    return sorted(f for f in os.listdir(FIXTURES) if f.startswith("meta-") and f.endswith(".db.gz"))


def raw(name: str) -> bytes:
    with gzip.open(os.path.join(FIXTURES, name)) as fh:
        return fh.read()


def write(tmp_path, data: bytes) -> str:
    path = tmp_path / "meta.db"
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("name", fixture_files())
def test_reads_what_containerd_wrote(tmp_path, name):
    meta = read_metadata(write(tmp_path, raw(name)))
    assert meta.version == (3 if name.startswith("meta-1.") else 4)
    assert {"default", "k8s.io"} <= set(meta.namespaces)
    demo = [i for i in meta.images["default"] if i.name == DEMO]
    assert len(demo) == 1 and demo[0].digest and demo[0].digest.startswith("sha256:")
    assert demo[0].media_type and "manifest" in demo[0].media_type and demo[0].size and demo[0].size > 0
    assert demo[0].created and demo[0].created.endswith("Z")
    # the manifest is a blob of the namespace, with the target's size
    assert meta.content["default"][demo[0].digest] == demo[0].size
    # images are listed in key order, as `ctr images ls` lists them
    names = [i.name for i in meta.images["k8s.io"]]
    assert names == sorted(names, key=lambda n: n.encode())


def _leaf(data: bytes, off: int) -> list[tuple[int, bytes, int, int, int]]:
    """The elements of the bbolt leaf page at ``off``: (key offset, key, value offset, value size,
    flags)."""
    flags, count = struct.unpack_from("<HH", data, off + 8)
    assert flags == 0x02, "a leaf page"
    out = []
    for i in range(count):
        e = off + 16 + i * 16
        eflags, pos, ksize, vsize = struct.unpack_from("<IIII", data, e)
        out.append((e + pos, data[e + pos : e + pos + ksize], e + pos + ksize, vsize, eflags))
    return out


def _v1(data: bytes) -> tuple[int, int]:
    """(offset of the root bucket's key "v1", offset of the page holding v1's own keys)."""
    db = Bolt(data)
    (key_off, key, value_off, _vsize, _flags) = _leaf(data, db.root * db.page_size)[0]
    assert key == b"v1"
    root = struct.unpack_from("<Q", data, value_off)[0]
    return key_off, value_off + 16 if root == 0 else root * db.page_size


def _version_value_offset(data: bytes) -> int:
    _key, page = _v1(data)
    found = [v for _k, key, v, size, flags in _leaf(data, page) if key == b"version" and not flags]
    assert len(found) == 1 and data[found[0]] in (0x06, 0x08)  # zig-zag varint 3 or 4
    return found[0]


@pytest.mark.parametrize("name", fixture_files())
def test_an_unknown_schema_version_is_refused(tmp_path, name):
    data = bytearray(raw(name))
    data[_version_value_offset(bytes(data))] = 0x0A  # zig-zag varint 5: a version no containerd wrote
    with pytest.raises(SchemaUnsupported, match="version 5"):
        read_metadata(write(tmp_path, bytes(data)))


@pytest.mark.parametrize("name", fixture_files())
def test_another_schema_bucket_is_refused(tmp_path, name):
    data = bytearray(raw(name))
    key_off, _page = _v1(bytes(data))
    data[key_off + 1] = ord("2")  # the schema bucket "v1" renamed "v2"
    with pytest.raises(SchemaUnsupported, match="v2"):
        read_metadata(write(tmp_path, bytes(data)))


@pytest.mark.parametrize("name", fixture_files())
def test_both_meta_pages_bad_is_an_error_not_a_guess(tmp_path, name):
    data = bytearray(raw(name))
    page_size = struct.unpack_from("<I", data, 16 + 8)[0]
    for n in (0, 1):
        data[n * page_size + 16 + 56] ^= 0xFF  # the checksum
    with pytest.raises(BoltError, match="meta page"):
        read_metadata(write(tmp_path, bytes(data)))


@pytest.mark.parametrize("name", fixture_files())
def test_the_newest_valid_meta_page_is_read(tmp_path, name):
    """A torn write of the newest meta page (bad checksum) leaves the other one: still readable."""
    data = bytearray(raw(name))
    page_size = struct.unpack_from("<I", data, 16 + 8)[0]
    txids = [struct.unpack_from("<Q", data, n * page_size + 16 + 48)[0] for n in (0, 1)]
    newest = txids.index(max(txids))
    meta = read_metadata(write(tmp_path, bytes(data)))
    assert meta.txid == max(txids)
    off = newest * page_size + 16
    assert _fnv1a64(bytes(data[off : off + 56])) == struct.unpack_from("<Q", data, off + 56)[0]
    data[off + 56] ^= 0xFF
    assert read_metadata(write(tmp_path, bytes(data))).txid == min(txids)


def test_go_encodings():
    assert [varint(bytes([b])) for b in (0x00, 0x06, 0x08, 0x01)] == [0, 3, 4, -1]
    # time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC).MarshalBinary()
    sec = 63839761445
    enc = bytes([1]) + struct.pack(">qih", sec, 6, -1)
    assert go_time(enc) == "2024-01-02T03:04:05.000000006Z"
    assert go_time(None) is None and go_time(b"\x09") is None


def _commit(path: str) -> int:
    """What a commit that changed no page of the tree does to the meta pages: the older one becomes
    a copy of the newest, as transaction newest+1 (a valid checksum). Returns its id."""
    with open(path, "r+b") as fh:
        data = bytearray(fh.read())
        page_size = struct.unpack_from("<I", data, 16 + 8)[0]
        txids = [struct.unpack_from("<Q", data, n * page_size + 16 + 48)[0] for n in (0, 1)]
        older, newer = txids.index(min(txids)), txids.index(max(txids))
        off = older * page_size + 16
        data[off : off + 64] = data[newer * page_size + 16 : newer * page_size + 16 + 64]
        struct.pack_into("<Q", data, off + 48, max(txids) + 1)
        struct.pack_into("<Q", data, off + 56, _fnv1a64(bytes(data[off : off + 56])))
        fh.seek(0)
        fh.write(data)
    return max(txids) + 1


@pytest.mark.parametrize("name", fixture_files())
def test_a_commit_during_the_walk_means_another_read(tmp_path, name):
    """A walk that sees even one commit is not trusted (transaction N+2 may already be writing over
    pages of N while the meta pages still say N+1); the next attempt reads the pages it knows in one
    pass, checked between two reads of the meta pages, and parses them from memory."""
    from ctrtool.adapters.boltdb import read_consistent
    from ctrtool.adapters.metadata import _read

    path = write(tmp_path, raw(name))
    calls: list[tuple[int, set[int]]] = []

    def walk(db):
        got = _read(db)
        calls.append((db.txid, set(db.read_late)))
        if len(calls) == 1:
            _commit(path)  # a commit while the first walk runs
        return got

    meta = read_consistent(path, walk)
    assert len(calls) == 2, "the first walk, which saw a commit, was accepted"
    (first_tx, first_late), (second_tx, second_late) = calls
    assert second_tx == first_tx + 1 and meta.txid == second_tx
    assert first_late and not second_late  # the second walk parsed only pages read in the checked pass
    assert meta.images == read_metadata(path).images
