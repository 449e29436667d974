"""Where an adapter works: its backend's name and namespaces (what every part asks)."""

from __future__ import annotations

from typing import ClassVar


class PartBase:
    """The root of the interface's parts: the backend's name and where its operations work."""

    name: ClassVar[str]

    def namespaces(self) -> list[str]:
        """The containerd namespaces this backend works in ([] when that does not apply)."""
        return []

    def operation_namespace(self, namespace: str | None) -> str | None:
        """The one namespace a routed operation works in (ctr: -n, else its default)."""
        return None

    def container_namespace(self) -> str | None:
        """The namespace this backend's containers and images are in, when it is fixed (crictl)."""
        return None
