#!/usr/bin/env python3
"""Re-record the unit-test fixtures from the real tools in the local lab.

    ctrtool lab up && python3 scripts/record_fixtures.py [--lab-dir DIR]

Every tool call that the adapters make for `images` and `info` is saved as
tests/fixtures/<tool>/<slug>.json ({argv, returncode, stdout, stderr}), plus the failures each tool
prints for a socket that does not exist, and the ctr manifests and configs (content blobs) that
the image listing reads from disk. Nothing in tests/fixtures is written by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ctrtool import runner  # noqa: E402
from ctrtool.adapters import BACKENDS, adapter_class  # noqa: E402
from ctrtool.config import Flags, load  # noqa: E402
from ctrtool.errors import CtrtoolError  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
# connection flags and their values are left out of the fixture names
CONNECTION_FLAGS = {"--host", "--context", "--address", "--config", "--runtime-endpoint", "--image-endpoint",
                    "--timeout"}


def slug(argv: list[str]) -> str:
    words, skip = [], False
    for token in argv[1:]:
        if skip:
            skip = False
            continue
        if token in CONNECTION_FLAGS:
            skip = True
            continue
        if token.startswith("sha256:") or "{{" in token:  # image ids, Go templates
            continue
        words.append(token)
    name = "_".join(words)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "call"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-dir", default=None)
    args = parser.parse_args()
    from ctrtool.lab import Lab

    lab = Lab(args.lab_dir)
    env = dict(os.environ)
    env.pop("DOCKER_CONTEXT", None)
    env.update(lab.env())
    calls: list[runner.Result] = []
    runner.set_recorder(calls.append)

    settings = load(Flags(), env=env)
    for backend in BACKENDS:
        shutil.rmtree(FIXTURES / backend, ignore_errors=True)
        adapter = adapter_class(backend)(settings)
        adapter.images()
        adapter.info()
    # what each tool prints when its socket does not exist
    dead = load(Flags(docker_host="unix:///nonexistent/docker.sock", containerd_address="/nonexistent/containerd.sock",
                      runtime_endpoint="unix:///nonexistent/cri.sock", timeout=30), env=env)
    dead_calls: list[runner.Result] = []
    runner.set_recorder(dead_calls.append)
    for backend in BACKENDS:
        try:
            adapter_class(backend)(dead).info()
        except CtrtoolError:
            pass
    runner.set_recorder(None)

    written = []
    for result, prefix in [(c, "") for c in calls] + [(c, "unreachable_") for c in dead_calls]:
        tool = os.path.basename(result.argv[0])
        path = FIXTURES / tool / f"{prefix}{slug(result.argv)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"argv": result.argv, "returncode": result.returncode,
                                    "stdout": result.stdout, "stderr": result.stderr}, indent=1) + "\n")
        written.append(path)

    # the ctr manifests and configs that the image listing reads from the content store
    plugins = adapter_class("ctr")(settings).plugins()
    blob_dir = FIXTURES / "ctr" / "content" / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for path in (FIXTURES / "ctr").glob("*images_ls.json"):
        wanted.update(re.findall(r"sha256:([0-9a-f]{64})", json.loads(path.read_text())["stdout"]))
    for hexdigest in sorted(wanted):
        src = Path(plugins.content_root) / "blobs" / "sha256" / hexdigest
        if src.exists() and src.stat().st_size < 1_000_000:
            shutil.copyfile(src, blob_dir / hexdigest)
            doc = json.loads(src.read_bytes())
            config = (doc.get("config") or {}).get("digest", "")
            if config.startswith("sha256:"):
                shutil.copyfile(Path(plugins.content_root) / "blobs" / "sha256" / config[7:], blob_dir / config[7:])
    (FIXTURES / "recorded-from.json").write_text(json.dumps({
        "lab_dir": str(lab.directory), "content_root": plugins.content_root}, indent=1) + "\n")
    for path in written:
        print(path.relative_to(FIXTURES.parent.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
