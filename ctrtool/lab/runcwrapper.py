"""The CRI-O lab's runtime wrapper: given to CRI-O as its runc, it edits the bundle's config.json of a
``create`` (or ``run``) for three limits of this kind of machine, then execs the real runc with the
arguments unchanged. Every other runc invocation passes straight through.

* CRI-O gives its infra (pause) container oom_score_adj -998 and these machines refuse a negative
  value: a negative ``process.oomScoreAdj`` becomes 0;
* CRI-O sets hugetlb limits on every container, which runc cannot apply here: the
  ``linux.resources.hugepageLimits`` are dropped;
* a privileged container gets every capability CRI-O knows: only those in this process's bounding
  set (``CapBnd`` in /proc/self/status) are kept;
* podman (as root) gives every container RLIMIT_NOFILE 1048576, and this process may not raise a
  hard limit (no CAP_SYS_RESOURCE): an rlimit above this process's hard limit is lowered to it.

This file is also the script itself: :mod:`ctrtool.lab.crio` writes its text into the lab directory
with a ``#!`` line naming a Python and :data:`RUNC` set to the real runc. It needs the standard
library only (ctrtool is not importable where CRI-O runs it).
"""

from __future__ import annotations

import json
import os
import resource
import sys
from collections.abc import Callable

RUNC = "runc"  # replaced by the path of the real runc when the lab writes the script

CAPABILITIES = (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
    "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT "
    "SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE "
    "AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ "
    "PERFMON BPF CHECKPOINT_RESTORE"
).split()
# runc's global options that take a value (the subcommand is the first other word)
GLOBAL_WITH_VALUE = ("--root", "--log", "--log-format", "--criu", "--rootless")


def bounding_set(status_text: str) -> set[str]:
    """The capability names (``CAP_...``) in a /proc/PID/status text's CapBnd."""
    for line in status_text.splitlines():
        if line.startswith("CapBnd:"):
            mask = int(line.split()[1], 16)
            return {f"CAP_{name}" for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1}
    return {f"CAP_{name}" for name in CAPABILITIES}


def own_hard_limit(name: str) -> int | None:
    """This process's hard limit of ``RLIMIT_...`` (None: unknown, or unlimited)."""
    number = getattr(resource, name, None)
    if not isinstance(number, int):
        return None
    hard = resource.getrlimit(number)[1]
    return None if hard == resource.RLIM_INFINITY else hard


def fix_config(config: dict, allowed_caps: set[str], hard_limit: Callable[[str], int | None] = own_hard_limit) -> bool:
    """Edit an OCI runtime config in place for the four traps; True when anything changed."""
    changed = False
    process = config.get("process") or {}
    for rlimit in process.get("rlimits") or []:
        limit = hard_limit(str(rlimit.get("type")))
        for key in ("hard", "soft"):
            if limit is not None and isinstance(rlimit.get(key), int) and rlimit[key] > limit:
                rlimit[key] = limit
                changed = True
    if isinstance(process.get("oomScoreAdj"), int) and process["oomScoreAdj"] < 0:
        process["oomScoreAdj"] = 0
        changed = True
    resources = (config.get("linux") or {}).get("resources") or {}
    if "hugepageLimits" in resources:
        del resources["hugepageLimits"]
        changed = True
    caps = process.get("capabilities") or {}
    for kind, names in list(caps.items()):
        if isinstance(names, list):
            kept = [n for n in names if n in allowed_caps]
            if kept != names:
                caps[kind] = kept
                changed = True
    return changed


def bundle_of(argv: list[str]) -> str | None:
    """The bundle directory of a ``create``/``run`` invocation (runc's argv without argv[0]), else None."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in GLOBAL_WITH_VALUE:
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        if arg not in ("create", "run"):
            return None
        rest = argv[i + 1 :]
        for j, opt in enumerate(rest):
            if opt in ("--bundle", "-b") and j + 1 < len(rest):
                return rest[j + 1]
            if opt.startswith("--bundle="):
                return opt.split("=", 1)[1]
        return os.getcwd()
    return None


def main(argv: list[str]) -> None:
    bundle = bundle_of(argv[1:])
    if bundle is not None:
        path = os.path.join(bundle, "config.json")
        try:
            with open(path) as fh:
                config = json.load(fh)
            with open("/proc/self/status") as fh:
                allowed = bounding_set(fh.read())
        except (OSError, ValueError):
            config = None
        if isinstance(config, dict) and fix_config(config, allowed):
            tmp = path + ".ctrtool-tmp"
            with open(tmp, "w") as fh:
                json.dump(config, fh)
            os.replace(tmp, path)
    os.execv(RUNC, [RUNC, *argv[1:]])


if __name__ == "__main__":
    main(sys.argv)
