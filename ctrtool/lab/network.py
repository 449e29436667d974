"""A lab's CNI network: one bridge (``ctrlab`` + 6 hex of a hash of the lab directory), a /24 chosen
free under 10.213.0.0/16, host-local IPAM leases in the CNI directory. Every runtime of a lab (each
node's containerd in the kube profile) uses the same one."""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Callable

from .. import runner
from . import render, teardown
from .common import LabError, find_binary, write_if_changed


class Network:
    def __init__(self, lab_directory: pathlib.Path, cni_dir: pathlib.Path):
        digest = hashlib.sha256(str(lab_directory).encode()).hexdigest()
        self._start = int(digest[6:8], 16)
        self.bridge = "ctrlab" + digest[:6]  # 12 chars: interface names are limited to 15
        self.name = "ctrtool-lab-" + digest[:6]
        self.cni_dir = cni_dir
        self.conflist = cni_dir / "10-ctrtool-lab.conflist"

    def current_subnet(self) -> str | None:
        try:
            conf = json.loads(self.conflist.read_text())
            return conf["plugins"][0]["ipam"]["ranges"][0][0]["subnet"]
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None

    def gateway(self) -> str | None:
        """The bridge's address (isGateway): .1 of the subnet."""
        subnet = self.current_subnet()
        return subnet.rsplit(".", 1)[0] + ".1" if subnet else None

    def choose_subnet(self) -> str:
        """10.213.N.0/24 with N from the hash of DIR, skipping /24s routed via another interface."""
        used: set[int] = set()
        try:
            lines = pathlib.Path("/proc/net/route").read_text().splitlines()[1:]
        except OSError:
            lines = []
        for line in lines:
            fields = line.split()
            if len(fields) < 8 or fields[0] == self.bridge:
                continue
            dest = int(fields[1], 16)  # little-endian on the wire order
            mask = int(fields[7], 16)
            octets = [(dest >> s) & 0xFF for s in (0, 8, 16, 24)]
            if mask and octets[0] == 10 and octets[1] == 213:
                used.add(octets[2])
        for step in range(256):
            n = (self._start + step) % 256
            if n not in used:
                return f"10.213.{n}.0/24"
        raise LabError(
            "no free /24 left in 10.213.0.0/16 for the lab's CNI network",
            "stop other labs (`ctrtool lab down` with their CTRTOOL_LAB_DIR)",
        )

    def write(self) -> None:
        """The conflist, keeping the subnet an earlier up chose."""
        subnet = self.current_subnet() or self.choose_subnet()
        write_if_changed(self.conflist, render.cni_conflist(self.name, self.bridge, subnet, self.cni_dir / "ipam"))

    def status(self) -> dict:
        return {
            "name": self.name,
            "bridge": self.bridge,
            "subnet": self.current_subnet(),
            "conflist": str(self.conflist),
        }

    def ensure_bridge(self, gateway: str, progress: Callable[[str], None]) -> None:
        """The CNI bridge exists, is up and holds the gateway address before any kubelet starts
        (the bridge plugin would add them only with the first pod)."""
        ip = find_binary("ip") or "ip"
        if not teardown.bridge_exists(self.bridge):
            progress(f"creating bridge {self.bridge} ({gateway})")
            runner.run([ip, "link", "add", self.bridge, "type", "bridge"], timeout=15)
        prefix = (self.current_subnet() or "/24").rsplit("/", 1)[1]
        shown = runner.run([ip, "-o", "-4", "addr", "show", "dev", self.bridge], timeout=15).stdout
        if f" {gateway}/" not in shown:
            runner.run([ip, "addr", "add", f"{gateway}/{prefix}", "dev", self.bridge], timeout=15)
        runner.run([ip, "link", "set", self.bridge, "up"], timeout=15)
