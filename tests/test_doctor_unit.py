"""doctor's checks ask the descriptors and typed adapter methods, never a table of backend names:
a backend doctor was not written for (a new adapter module, one registry line) is reported, not a
KeyError."""

from __future__ import annotations

import sys
import types

import pytest

import ctrtool.adapters as registry
from ctrtool.adapters.base import Adapter
from ctrtool.adapters.descriptor import Descriptor, NamespaceRule
from ctrtool.config import Endpoint, Settings
from ctrtool.doctor import Options, Status, run_checks
from ctrtool.doctor.checks import endpoints


class _NewAdapter(Adapter):
    name = "newtool"  # no answer(): the base says it cannot be asked


@pytest.fixture
def new_backend(monkeypatch):
    """A backend registered the way a new one is: its module (descriptor + adapter) and one line."""
    module = types.ModuleType("ctrtool.adapters.newtool")
    module.DESCRIPTOR = Descriptor(  # type: ignore[attr-defined]
        name="newtool",
        module="newtool",
        cls="_NewAdapter",
        tool="newtool",
        role="a backend doctor was not written for",
        namespace_rule=NamespaceRule.NONE,
    )
    module._NewAdapter = _NewAdapter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ctrtool.adapters.newtool", module)
    from ctrtool import registry as table

    monkeypatch.setitem(table.MODULES, "newtool", "newtool")
    for holder in (table, registry):  # the table, and the name ctrtool.adapters gives it
        monkeypatch.setattr(holder, "BACKENDS", (*table.BACKENDS, "newtool"))

    def endpoint(self, backend):
        if backend == "newtool":
            return Endpoint(backend, "unix:///run/newtool.sock", "test")
        return Endpoint(backend, None, "none found", looked_at=("/nonexistent.sock",))

    monkeypatch.setattr(Settings, "endpoint", endpoint)
    monkeypatch.setattr("ctrtool.doctor.probe.Probe.installed", lambda self, backend: backend == "newtool")


def test_endpoints_check_says_a_backend_cannot_be_asked(new_backend):
    from ctrtool.doctor.probe import Probe

    with Probe(Settings(env={})) as probe:
        result = endpoints.run(probe, Options())
    assert "newtool: unix:///run/newtool.sock (from test): newtool cannot be asked whether its daemon answers" in (
        result.details
    )
    assert result.status is Status.FAIL and result.summary == "no tool answered"


def test_run_checks_reports_every_check_with_a_new_backend(new_backend):
    results = run_checks(Settings(env={}), Options(), ("endpoints", "versions"))
    assert [r.check for r in results] == ["endpoints", "versions"]
    assert results[1].status is Status.SKIPPED


def test_derived_cri_facts_do_not_wait_on_the_probes_own_lock(monkeypatch):
    """The snapshotter and the sandbox image are derived from two facts each: asking them must not
    ask a fact while holding the probe's lock (it is not reentrant)."""
    import threading
    import types as t

    from ctrtool.doctor.probe import Probe

    fake = t.SimpleNamespace(
        cri_info=lambda: {"config": {}},
        imagefs=lambda: "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs",
        cri_images=lambda: [],
        snapshotter_of=lambda info, fs: fs.rsplit(".", 1)[-1],
        sandbox_image_of=lambda info, images: None,
    )
    monkeypatch.setattr(Probe, "adapter", lambda self, backend: fake)
    probe = Probe(Settings(env={}))
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.extend([probe.cri_snapshotter(), probe.sandbox_image()]), daemon=True)
    worker.start()
    worker.join(10)
    assert got == ["overlayfs", None]


def test_versions_judges_each_daemon_by_the_product_its_answer_names(monkeypatch):
    """containerd from containerd's client, Docker Engine from docker's answer (the end-of-life
    table is keyed by product, the backends are found by what their descriptors say)."""
    from ctrtool.doctor.checks import versions
    from ctrtool.doctor.probe import Probe
    from ctrtool.facts import Answer

    answers = {
        "ctr": Answer("version", version="1.6.20~ds1", runtime="containerd"),
        "docker": Answer("info", version="20.10.24+dfsg1", runtime="docker", excerpt="ServerVersion: 20.10.24+dfsg1"),
        "crictl": Answer("version", version="1.6.20~ds1", runtime="containerd", api="v1"),
    }
    monkeypatch.setattr(Probe, "answer", lambda self, backend: answers[backend])
    monkeypatch.setattr(Probe, "installed", lambda self, backend: True)
    monkeypatch.setattr(Probe, "cri_client_version", lambda self: "v1.37.0")
    monkeypatch.setattr(Settings, "endpoint", lambda self, backend: Endpoint(backend, "/x.sock", "test"))
    result = versions.run(Probe(Settings(env={})), Options())
    assert result.status is Status.WARN
    assert result.details[:2] == [
        "containerd 1.6.20~ds1: 1.6 reached end of life on 2025-08-23",
        "docker 20.10.24+dfsg1: older than 23.0, unmaintained (end of life)",
    ]
    assert [f.summary.split()[1] for f in result.fixes] == ["containerd", "Docker"]


def test_the_adapters_answers_name_their_daemons():
    """Each adapter parses its tool's answer into facts.Answer (recorded `docker info`)."""
    import json
    import pathlib

    from ctrtool.adapters import crictl, ctr, docker

    fixtures = pathlib.Path(__file__).parent / "fixtures"
    info = json.loads(json.loads((fixtures / "docker" / "info_--format.json").read_text())["stdout"])
    d = docker.DockerAdapter(Settings(env={}), Endpoint("docker", "unix:///nonexistent.sock", "test"))
    d.daemon_info = lambda: info  # type: ignore[method-assign]
    got = d.answer()
    assert (got.runtime, got.version, got.root) == ("docker", str(info["ServerVersion"]), info["DockerRootDir"])
    assert got.excerpt == f"ServerVersion: {info['ServerVersion']}"
    c = ctr.CtrAdapter(Settings(env={}), Endpoint("ctr", "/nonexistent.sock", "test"))
    c.versions = lambda: {"client": "1.6.20", "server": "1.6.20~ds1"}  # type: ignore[method-assign]
    assert (c.answer().runtime, c.answer().version) == ("containerd", "1.6.20~ds1")
    r = crictl.CrictlAdapter(Settings(env={}), Endpoint("crictl", "unix:///nonexistent.sock", "test"))
    r.version = lambda: {"RuntimeName": "containerd", "RuntimeVersion": "1.6.20~ds1", "RuntimeApiVersion": "v1"}  # type: ignore[method-assign]
    assert (r.answer().runtime, r.answer().api) == ("containerd", "v1")


def test_a_backend_is_present_by_what_its_descriptor_says():
    """Installed, and its endpoint found; a daemonless tool (needs_endpoint=False) by being installed."""

    def descriptor(**kw):
        return Descriptor(name="sh", module="x", cls="X", tool="sh", role="", namespace_rule=NamespaceRule.NONE, **kw)

    settings = Settings(env={})
    assert descriptor(needs_endpoint=False).present(settings)
    assert not descriptor().present(settings)  # no endpoint: no default socket to find
    assert not Descriptor(
        name="no-such-tool-here",
        module="x",
        cls="X",
        tool="x",
        role="",
        namespace_rule=NamespaceRule.NONE,
        needs_endpoint=False,
    ).present(settings)


def test_the_cri_images_are_typed_from_crictls_recorded_listing():
    """`crictl images -o json` (recorded) into facts.CriImage; the sandbox image read from them as
    from the raw listing."""
    import json
    import pathlib

    from ctrtool.adapters import crictl

    fixtures = pathlib.Path(__file__).parent / "fixtures" / "crictl"
    raw = json.loads(json.loads((fixtures / "images_--output_json.json").read_text())["stdout"])
    info = json.loads(json.loads((fixtures / "info_--output_json.json").read_text())["stdout"])
    r = crictl.CrictlAdapter(Settings(env={}), Endpoint("crictl", "unix:///nonexistent.sock", "test"))
    r.image_list = lambda: raw  # type: ignore[method-assign]
    got = r.cri_images()
    assert [(i.id, i.repo_tags, i.pinned) for i in got] == [
        (i.get("id"), i.get("repoTags"), i.get("pinned")) for i in raw["images"]
    ]
    assert r.sandbox_image_of(info, got) == crictl.sandbox_image(json.dumps(info), raw)
    assert r.sandbox_image_of({}, got) == crictl.sandbox_image("{}", raw)


def test_cri_o_is_judged_by_its_window_of_supported_minor_releases():
    """CRI-O publishes no end-of-life dates: its 1.x ends with Kubernetes 1.x, which supports its
    three latest minor releases (eol.yaml says which was the latest when its source was read)."""
    import datetime

    from ctrtool.doctor.checks import versions

    entry = {"name": "cri-o", **versions.eol_table()["cri-o"]}
    assert "f954a17e" in entry["source"] and "patch-releases" in entry["source"]
    day = datetime.date(2026, 12, 7)
    assert versions.window_verdict("1.37.0", entry, day) == (
        False,
        "cri-o 1.37.0: 1.37 is among the 3 supported minor releases",
    )
    assert versions.window_verdict("1.35.4", entry, day)[0] is False
    ended, words = versions.window_verdict("1.34.9", entry, day)
    assert ended is True and "older than 1.35" in words
    assert versions.window_verdict("1.38.0", entry, day)[0] is None
    assert versions.window_verdict("main", entry, day)[0] is None


def test_where_cri_o_got_its_graph_root_flag_then_last_config_line(tmp_path):
    """crio.conf, then crio.conf.d/*.conf in name order (the last that sets a key wins); a flag on
    the command line wins over both; only the [crio] table's keys count."""
    from ctrtool.doctor.procs import crio_storage_setting

    main = tmp_path / "crio.conf"
    main.write_text('[crio]\nroot = "/srv/main"\n[crio.runtime]\nroot = "/not/this"\n')
    drop = tmp_path / "crio.conf.d"
    drop.mkdir()
    (drop / "10-a.conf").write_text('# a comment\n[crio]\nroot = "/srv/a"\n')
    (drop / "20-b.conf").write_text("[crio]\nrunroot = '/run/b'\n")
    (drop / "30-c.txt").write_text('[crio]\nroot = "/srv/ignored"\n')
    argv = ["crio", "--config", str(main), "--config-dir", str(drop)]
    said = crio_storage_setting(1, argv, "root")
    assert said is not None and (said.value, said.source, said.line) == ("/srv/a", str(drop / "10-a.conf"), 3)
    assert crio_storage_setting(1, argv, "runroot").value == "/run/b"
    assert crio_storage_setting(1, argv, "storage_driver") is None
    flagged = crio_storage_setting(7, [*argv, "--root", "/flag"], "root")
    assert flagged is not None and (flagged.value, flagged.source) == ("/flag", "/proc/7/cmdline")
