"""Long operations have their own deadlines: a copy that takes longer than the per-backend timeout
is still checked (and reported) properly afterwards. The two sides of the copy are real programs
(a source that takes 1.5 s to write its data, `cat` as the target); the check after it is a real
call through the runner, bounded by the adapter's deadline as a listing is."""

from __future__ import annotations

import os
import sys

from ctrtool.adapters.base import Adapter, plan_copy
from ctrtool.config import Endpoint, Flags, Settings
from ctrtool.model import ImageRecord, ImageTarget

TIMEOUT = 1.0


class Program(Adapter):
    """An adapter whose export and import are plain programs, and whose listing makes one real,
    deadline-bounded call before it answers with the copied image."""

    name = "docker"

    def __init__(self, export: list[str] | None = None):
        # an endpoint that exists (a missing socket is refused before any call): the programs ignore it
        super().__init__(Settings(flags=Flags(timeout=TIMEOUT)), Endpoint("docker", f"unix://{os.devnull}", "test"))
        self.export = export

    def connection_args(self) -> list[str]:
        return []

    def export_argv(self, ref: str, namespace: str | None) -> list[str]:
        assert self.export is not None
        return self.export

    def import_argv(self, namespace: str | None) -> list[str]:
        return ["cat"]

    def images(self, namespaces=None) -> list[ImageRecord]:
        self.run_argv(["true"])  # bounded by self.deadline, like every listing's calls
        return [ImageRecord("docker", None, "localhost/app:1", "sha256:" + "a" * 64, None, 1, "unpacked", None)]


def test_the_check_after_a_long_copy_gets_a_fresh_deadline():
    slow = [sys.executable, "-c", "import sys, time; time.sleep(1.5); sys.stdout.write('archive' * 1000)"]
    source, target = Program(slow), Program()
    image = ImageTarget("docker", None, "localhost/app:1", "sha256:" + "a" * 64)
    plan = plan_copy(source, image, target, None, target, None, False, "copy localhost/app:1")
    found = plan.execute()  # before: ToolTimeout from the check, the copy itself a success
    assert [r.ref for r in found] == ["localhost/app:1"]
