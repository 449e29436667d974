"""Versions: end-of-life containerd, docker and CRI-O (the table is data: ctrtool/doctor/eol.yaml, with its
sources), and a crictl that does not speak the CRI API version its runtime serves."""

from __future__ import annotations

import datetime
import re
from typing import Any

from ...errors import CtrtoolError
from ...facts import Answer
from .. import Evidence, Fix, Options, Result, Skip, Status
from ..probe import Probe

NAME = "versions"
TITLE = "Versions: end of life, and crictl against the CRI API it talks to"


def eol_table() -> dict[str, Any]:
    import os

    import yaml

    with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "eol.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def minor_of(version: str | None) -> tuple[int, int] | None:
    m = re.match(r"v?(\d+)\.(\d+)", version or "")
    return (int(m[1]), int(m[2])) if m else None


def containerd_verdict(version: str, table: dict[str, Any], today: datetime.date) -> tuple[bool | None, str]:
    """(end of life?, words) for a containerd version; None: not in the table."""
    mm = minor_of(version)
    if mm is None:
        return None, f"containerd reports version {version!r}: not a release number"
    releases = table["releases"]
    key = f"{mm[0]}.{mm[1]}"
    entry = releases.get(key)
    if entry is None:
        listed = sorted((minor_of(k) or (0, 0), k) for k in releases)
        if mm < listed[0][0]:
            return True, f"containerd {version}: {key} is older than {listed[0][1]}, long end of life"
        return None, f"containerd {version}: {key} is not in the end-of-life table (newer than it?)"
    eol = entry["eol"]
    note = f" ({entry['note']})" if entry.get("note") else ""
    if today > eol:
        return True, f"containerd {version}: {key} reached end of life on {eol}{note}"
    return False, f"containerd {version}: {key} is supported until {eol}{note}"


def docker_verdict(version: str, table: dict[str, Any], today: datetime.date) -> tuple[bool | None, str]:
    mm = minor_of(version)
    if mm is None:
        return None, f"docker reports version {version!r}: not a release number (a build from source?)"
    major = mm[0]
    if major < 23:
        return True, f"docker {version}: older than 23.0, unmaintained (end of life)"
    entry = table["releases"].get(str(major))
    if entry is None:
        return None, f"docker {version}: {major} is not in the end-of-life table (newer than it?)"
    eol = entry.get("eol")
    note = f" ({entry['note']})" if entry.get("note") else ""
    if entry["status"] == "unmaintained":
        return True, f"docker {version}: {major}.x is unmaintained (end of life{f' {eol}' if eol else ''})"
    if eol and today > eol:
        return True, f"docker {version}: {major}.x was maintained until {eol}{note}"
    return False, f"docker {version}: {major}.x is maintained{f' until {eol}' if eol else ''}{note}"


def crictl_verdict(client: str | None, api: str | None) -> tuple[bool | None, str]:
    """crictl 1.26+ speaks only CRI v1; crictl before 1.20 only v1alpha2 (CRI v1 came with Kubernetes 1.20)."""
    mm = minor_of(client)
    if not api:
        return None, "the CRI runtime did not report its API version"
    if mm is None:
        return None, f"crictl does not know its own version (a build from source?); the runtime serves CRI {api}"
    if api == "v1alpha2" and mm >= (1, 26):
        return True, f"crictl {client} speaks only CRI v1; the runtime serves v1alpha2 (containerd < 1.6?)"
    if api == "v1" and mm < (1, 20):
        return True, f"crictl {client} speaks only CRI v1alpha2; the runtime serves v1"
    return False, f"crictl {client} speaks CRI {api}, the runtime's API"


def window_verdict(version: str, table: dict[str, Any], today: datetime.date) -> tuple[bool | None, str]:
    """(end of life?, words) for a product that publishes no dates but supports its latest
    ``supported`` minor releases (CRI-O, as Kubernetes): judged against the latest minor release
    the table knows, as of its source."""
    product = table.get("name", "it")
    mm, latest = minor_of(version), minor_of(str(table["latest"]))
    if mm is None or latest is None:
        return None, f"{product} reports version {version!r}: not a release number"
    oldest = (latest[0], latest[1] - int(table["supported"]) + 1)
    key = f"{mm[0]}.{mm[1]}"
    if mm > latest:
        return None, f"{product} {version}: {key} is newer than the end-of-life table ({table['latest']})"
    if mm < oldest:
        return True, (
            f"{product} {version}: {key} is older than {oldest[0]}.{oldest[1]}, the oldest of the "
            f"{table['supported']} supported minor releases (the latest known: {table['latest']}): end of life"
        )
    return False, f"{product} {version}: {key} is among the {table['supported']} supported minor releases"


# how a product's table (eol.yaml) is read: a date per minor release, a status per major one, or a
# window of supported minor releases
_SCHEMES = {"minor": containerd_verdict, "major": docker_verdict, "window": window_verdict}
CRICTL_FIX = "install the crictl of your Kubernetes minor version (cri-tools releases follow Kubernetes)"


def _judge(
    table: dict[str, Any], answer: Answer, today: datetime.date, checked: list[tuple[str, bool | None, str]]
) -> None:
    """The verdict on the product that answered (its runtime), when the table knows that product."""
    entry = table.get(answer.runtime or "")
    if entry is not None:
        entry = {"name": answer.runtime, **entry}
        checked.append((answer.runtime or "", *_SCHEMES[entry["scheme"]](str(answer.version), entry, today)))


def run(probe: Probe, options: Options) -> Result:
    table = eol_table()
    today = datetime.date.today()
    checked: list[tuple[str, bool | None, str]] = []  # (product, end of life?, words)
    evidence: list[Evidence] = []
    asked = 0
    try:
        answer = probe.answer(probe.containerd)
        asked += 1
        if answer.version:
            _judge(table, answer, today, checked)
            found = probe.evidence(
                answer.call, tool=probe.containerd, pick=lambda line: line.strip().startswith(("Server", "Version"))
            )
            if found:
                evidence.append(found)
    except CtrtoolError:
        try:  # the CRI says which runtime it is too
            answer = probe.cri_version()
            asked += 1
            if answer.version:
                _judge(table, answer, today, checked)
        except CtrtoolError:
            pass
    for backend in probe.own_daemons():
        if probe.installed(backend) and probe.settings.endpoint(backend).address:
            try:
                answer = probe.answer(backend)
                asked += 1
                _judge(table, answer, today, checked)
                found = probe.evidence(answer.call, tool=backend, excerpt=answer.excerpt)
                if found:
                    evidence.append(found)
            except CtrtoolError:
                pass
    try:
        api = probe.cri_version().api
        client = probe.cri_client_version()
        asked += 1
        checked.append((probe.cri, *crictl_verdict(client, api)))
        for call in ("--version", "version"):
            found = probe.evidence(call, tool=probe.cri, pick=lambda line: "ersion" in line)
            if found:
                evidence.append(found)
    except CtrtoolError:
        pass
    if not asked:
        raise Skip("no tool answered: no version to check (see the endpoints check)")
    ended = [words for _product, eol, words in checked if eol]
    details = [words for _product, _eol, words in checked]
    evidence.append(
        Evidence("ctrtool/doctor/eol.yaml", "\n".join(f"{k}: {v['source']}" for k, v in table.items()), kind="file")
    )
    fixes = [Fix(table[product]["fix"] if product in table else CRICTL_FIX) for product, eol, _words in checked if eol]
    if ended:
        return Result(NAME, TITLE, Status.WARN, "; ".join(ended), evidence=evidence, fixes=fixes, details=details)
    return Result(
        NAME,
        TITLE,
        Status.OK,
        "no end-of-life version found"
        + (f" ({len([c for c in checked if c[0] is None])} not judged)" if any(c[0] is None for c in checked) else ""),
        evidence=evidence,
        details=details,
    )
