"""df's PATH in brace form: bash expands it back to exactly the directories measured."""

from __future__ import annotations

import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from ctrtool.commands.df import braces

segment = st.text(alphabet="abcdef0123456789-_.", min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(segment, min_size=0, max_size=3),
    st.lists(st.lists(segment, min_size=1, max_size=2), min_size=1, max_size=6, unique_by=tuple),
    st.lists(segment, min_size=0, max_size=2),
)
def test_bash_expands_the_braces_to_the_paths(head, middles, tail):
    paths = ["/" + "/".join([*head, *middle, *tail]) for middle in middles]
    paths = list(dict.fromkeys(paths))
    shown = braces(paths)
    got = subprocess.run(["bash", "-c", f"printf '%s\\n' {shown}"], capture_output=True, text=True, check=True)
    assert got.stdout.split("\n")[:-1] == paths, shown


def test_a_path_the_shell_would_read_is_quoted_whole():
    paths = ["/r/a b/fs", "/r/$x/fs", "/r/{1,2}/fs"]
    shown = braces(paths)
    got = subprocess.run(["bash", "-c", f"printf '%s\\n' {shown}"], capture_output=True, text=True, check=True)
    assert got.stdout.split("\n")[:-1] == paths


def test_the_common_case():
    assert braces(["/r/snapshots/3/fs", "/r/snapshots/4/fs"]) == "/r/snapshots/{3,4}/fs"
    assert braces(["/r/snapshots/3/fs"]) == "/r/snapshots/3/fs"


def test_the_copy_kept_is_never_a_users_own_while_another_is_there():
    """An image in docker's store and in a user's rootless store, CRI-O not holding it: the plan
    keeps docker's (root's) and leaves the user's to the user, whoever is listed first."""
    from ctrtool.model import ImageRecord, PlaceId, SizeKind, StoreKind, containers_storage, place_of
    from ctrtool.reclaim import keeper

    users_store = containers_storage("/home/alice/.local/share/containers/storage", "overlay", "alice")
    theirs = ImageRecord("podman", None, "localhost/x:1", "sha256:" + "a" * 64, None, 1, SizeKind.UNPACKED, users_store)
    docker = PlaceId(StoreKind.GRAPH, "/var/lib/docker/overlay2")
    mine = place_of(users_store.path, None)
    copies = {mine: [theirs], docker: []}
    never = lambda _k: False  # noqa: E731
    assert keeper(copies, {mine: [], docker: []}, never) == docker
    # even where only the user's copy has a container
    assert keeper(copies, {mine: ["c"], docker: []}, never) == docker
    # the kubelet's copy always stays
    assert keeper(copies, {mine: [], docker: []}, lambda k: k == mine) == mine
