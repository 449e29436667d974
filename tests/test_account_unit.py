"""The byte account's pieces that need no lab: the bar, and one name per image in a command."""

from __future__ import annotations

from dataclasses import dataclass

from ctrtool.account import Bucket, BucketUsage, RootAccount, bar, parts


def account(**sizes: int) -> RootAccount:
    buckets = [BucketUsage(Bucket(k.replace("_", "-")), None, v) for k, v in sizes.items()]
    return RootAccount("/r", "containerd", sum(sizes.values()), buckets)


def test_parts_add_up_to_the_root():
    r = account(layers=600, blobs=200, metadata=100, orphaned=50, dangling=30, build_cache=20)
    shares = parts(r, duplicated=150)
    assert dict(shares) == {"needed": 770, "duplicated": 150, "reclaimable": 30, "orphaned": 50}
    assert sum(size for _n, size in shares) == r.bytes


def test_duplicated_never_exceeds_what_is_needed():
    shares = dict(parts(account(layers=100), duplicated=500))
    assert shares["duplicated"] == 100 and shares["needed"] == 0


def test_the_bar_fits_and_shows_every_part_there():
    shares = [("needed", 10_000_000), ("duplicated", 1), ("reclaimable", 0), ("orphaned", 5)]
    for width in (10, 40, 76):
        drawn = bar(shares, width)
        assert len(drawn) == width
        assert "▓" in drawn and "░" in drawn and "▒" not in drawn


@dataclass
class Target:
    ref: str
    namespace: str | None = None


@dataclass
class Adapter:
    name: str


def test_rmi_names_one_image_once_whatever_the_spelling():
    from ctrtool.commands.imageops import once
    from ctrtool.refs import distinct_names

    docker = Adapter("docker")
    found = [(docker, Target("myapp:2")), (docker, Target("docker.io/library/myapp:2")), (docker, Target("myapp:3"))]
    assert [t.ref for _a, t in once(found)] == ["myapp:2", "myapp:3"]
    # the same name in two places is two removals
    ctr = Adapter("ctr")
    assert len(once([(ctr, Target("a:1", "default")), (ctr, Target("a:1", "k8s.io"))])) == 2
    assert distinct_names(["rec/two:1", "docker.io/rec/two:1", "rec/two:2"]) == ["rec/two:1", "rec/two:2"]


def test_a_bad_if_id_is_refused_before_any_tool_is_asked(tmp_path):
    import os

    from helpers import ctrtool

    trace = tmp_path / "trace.jsonl"
    env = dict(os.environ, CTRTOOL_TRACE=str(trace), DOCKER_HOST="unix:///nonexistent/docker.sock")
    for bad in ("zz", "abc", "g" * 12, "a" * 65):
        got = ctrtool("rmi", "-b", "docker", "--if-id", bad, "x:1", "--dry-run", env=env)
        assert got.returncode == 2 and "is not an image ID" in got.stderr, got.stderr
    assert not trace.exists() or trace.read_text() == ""


def test_a_bad_lease_age_is_refused(tmp_path):
    import os

    from helpers import ctrtool

    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    for args in (
        ("df", "--plan", "--lease-age", "5x"),
        ("df", "--lease-age", "1h"),
        ("reclaim", "--lease-age", "-1s", "lease:a/b"),
    ):
        got = ctrtool(*args, env=env)
        assert got.returncode == 2 and "Traceback" not in got.stderr, (args, got.stderr)
    for name in ("bogus", "lease:", "lease:ns", "snapshot:ns/overlayfs", "content:/x"):
        got = ctrtool("reclaim", name, env=env)
        assert got.returncode == 2 and "is not an orphan's name" in got.stderr, (name, got.stderr)


def test_explains_blob_sentence_says_what_is_true_of_the_blobs(tmp_path):
    """Uncompressed tars are not called compressed; one namespace is not 'shared'."""
    import gzip

    from ctrtool.commands.explain import Blobs, blob_sentence, compressed

    plain, packed = tmp_path / "plain", tmp_path / "packed"
    plain.write_bytes(b"ustar-ish tar bytes")
    packed.write_bytes(gzip.compress(b"layer"))
    assert not compressed(str(plain)) and compressed(str(packed)) and not compressed(str(tmp_path / "gone"))
    one = Blobs([str(plain)], 19, ["k8s.io"])
    text = blob_sentence(one, 0)
    assert text.startswith("the blobs (uncompressed tars)") and "used by namespace k8s.io only" in text
    two = Blobs([str(plain), str(packed)], 40, ["default", "k8s.io"])
    text = blob_sentence(two, 1)
    assert "(1 of 2 compressed)" in text and "shared by namespaces default, k8s.io" in text
    assert blob_sentence(Blobs([str(packed)], 5, ["a", "b"]), 1).startswith("the compressed blobs")
