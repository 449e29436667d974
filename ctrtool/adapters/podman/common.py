"""What every part of podman's adapter shares: its stores (found from files, :mod:`.discover`),
running podman on the rootful store only, reading the rootless stores' files, and error words."""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import CtrtoolError, PermissionDenied, ToolError, UsageError
from ...runner import Result
from .. import cstorage
from ..base import Adapter
from ..shared import stderr_mentions
from .discover import PodmanStore, rootful_store, rootless_stores
from .parse import first_line

# the rootless stores already named in this run (two adapters of one command say it once)


class NoStore(CtrtoolError):
    """podman has no rootful store here, and ctrtool does not run podman to make one."""

    exit_code = 1


class RootlessRefused(UsageError):
    """An operation on a user's rootless store: ctrtool runs podman on the rootful store only."""


class PodmanBase(Adapter):
    """podman's stores and calls (the parts' common base). podman has no daemon: every call runs
    on the rootful store; the rootless stores are only read, from their files."""

    name = "podman"
    cached = ("_rootful", "_rootless", "_files", "_listing")

    def connection_args(self) -> list[str]:
        """No daemon: the store ctrtool found (and checked exists), named to podman outright, so
        that podman works on that store and no other, whatever environment it runs in."""
        store = self.rootful()
        args = ["--root", store.graphroot, "--storage-driver", store.driver]
        return args + (["--runroot", store.runroot] if store.runroot else [])

    def classify_stderr(self, returncode: int, stderr: str) -> ToolError | None:
        if stderr_mentions(stderr, "permission denied", "operation not permitted") and stderr_mentions(
            stderr, "storage", "lock", "mkdir"
        ):
            return PermissionDenied(self.binary, None, first_line(stderr))
        return None

    # -- the stores ----------------------------------------------------------------------------
    def rootful(self) -> PodmanStore:
        if "_rootful" not in self.__dict__:
            self.__dict__["_rootful"] = rootful_store(self.settings.env)
        return self.__dict__["_rootful"]

    def rootless(self) -> list[PodmanStore]:
        if "_rootless" not in self.__dict__:
            stores = rootless_stores(self.settings.env)
            mine = self.rootful()
            import os

            self.__dict__["_rootless"] = [
                s for s in stores if os.path.realpath(s.graphroot) != os.path.realpath(mine.graphroot)
            ]
        return self.__dict__["_rootless"]

    def files(self, store: PodmanStore) -> cstorage.Contents:
        """A store's images.json, layers.json and containers.json (:mod:`..cstorage`), each read once."""
        cache = self.__dict__.setdefault("_files", {})
        if store.graphroot not in cache:
            cache[store.graphroot] = cstorage.read(store.conf(), containers=True)
        return cache[store.graphroot]

    def require_store(self, argv: Sequence[str]) -> None:
        """podman as root creates its store when it is not there: ctrtool never runs it so."""
        store = self.rootful()
        if not store.exists:
            raise NoStore(
                f"podman has no store here ({store.graphroot} does not exist"
                + (f", from {store.source})" if store.source else ")"),
                "ctrtool does not run podman to create one: `podman pull` or `podman load` does "
                "(or `ctrtool pull --backend podman`); CONTAINERS_STORAGE_CONF names another storage.conf",
            )

    def run(self, *args: str, check: bool = True, input: str | None = None) -> Result:
        self.require_store(self.argv(*args))
        return super().run(*args, check=check, input=input)

    def run_argv(self, argv: Sequence[str], check: bool = True, bounded: bool = True) -> Result:
        if not self.creates_store(argv):
            self.require_store(argv)
        return super().run_argv(argv, check=check, bounded=bounded)

    def creates_store(self, argv: Sequence[str]) -> bool:
        """A pull or a load the user asked for may make the rootful store."""
        command = list(argv[len(self.argv()) :])  # after podman and its store flags
        return bool(command) and command[0] in ("pull", "load")

    def refuse_rootless(self, store: PodmanStore, doing: str) -> RootlessRefused:
        return RootlessRefused(
            f"cannot {doing}: it is in {store.words()}, and ctrtool runs podman on the rootful store only",
            f"run podman as that user: runuser -u {store.user} -- podman ...",
        )
