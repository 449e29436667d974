"""core's merging and routing on the outputs recorded from two real stacks, without daemons
(tests/replay.py): the debian profile (docker 20.10 on overlay2, containerd 1.6) and the modern one
(Docker 29 on containerd's image store, containerd 2.4.2)."""

from __future__ import annotations

import pytest
from replay import ROOT, Replay

from ctrtool.adapters import BACKENDS
from ctrtool.core.listing import list_images
from ctrtool.core.routing import _places, _search

DEMO = "localhost/ctrtool/demo:1.0"
DEMO_ID = "sha256:10da968d4b97b257d0a6d346712cd6d3bc4cb63b2b5032eabab3e008e4fb5e7a"
STACKS = {"debian": ROOT, "modern": ROOT / "profiles" / "modern"}


@pytest.fixture(params=sorted(STACKS))
def replay(request, monkeypatch):
    return request.param, Replay(STACKS[request.param]).install(monkeypatch)


def test_the_demo_image_is_one_image_unpacked_three_times(replay):
    stack, tools = replay
    got = list_images(tools.settings(), list(BACKENDS))
    assert not got.failed
    demo = [r for r in got.rows if r.ref == DEMO]
    assert {r.id for r in demo} == {DEMO_ID}, "linked whatever id each tool printed"
    assert all(r.copies == 3 for r in demo)
    docker = [r for r in demo if r.backend == "docker"]
    if stack == "modern":
        # docker's row: namespace moby of the same containerd, the copy ctr -n moby also shows
        (d,) = docker
        (m,) = [r for r in demo if r.backend == "ctr" and r.namespace == "moby"]
        assert d.namespace == "moby" and d.store == m.store and d.store.path
        assert d.digest == m.digest != d.id and d.size_kind == "content+unpacked"
        assert d.content is not None and d.content.key == m.content.key
    else:
        (d,) = docker
        assert d.namespace is None and d.store.kind.value == "graph" and d.content is None
    # crictl and ctr -n k8s.io: one store
    keys = {r.store.key for r in demo if r.namespace == "k8s.io"}
    assert len(keys) == 1


def test_calls_per_backend_do_not_depend_on_the_images(replay):
    _stack, tools = replay
    list_images(tools.settings(), list(BACKENDS))
    per_tool: dict[str, int] = {}
    for argv in tools.calls:
        per_tool[argv[0]] = per_tool.get(argv[0], 0) + 1
    assert per_tool["docker"] <= 3 and per_tool["crictl"] == 3


def test_a_name_in_docker_and_ctrs_view_of_it_is_one_place(replay, monkeypatch):
    """Routing: ctr's view of what docker (namespace moby on the containerd store) or the CRI
    (k8s.io) owns gives way to the owner; so the demo image is in 3 places, not 4 or 5."""
    stack, tools = replay
    searched = _search(tools.settings(), "image", list(BACKENDS), None)
    places = _places("image", DEMO, searched)
    expected = {("docker", None if stack == "debian" else "moby"), ("ctr", "default"), ("crictl", "k8s.io")}
    assert set(places) == expected
    # the user who works with ctr gets ctr's places instead
    assert ("ctr", "k8s.io") in _places("image", DEMO, searched, prefer_ctr=True)
