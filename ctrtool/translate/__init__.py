"""`ctrtool translate`: docker command lines translated into crictl, ctr, nerdctl and podman ones.

The mapping is data (``data/docker.yaml`` for docker's grammar, ``data/<tool>.yaml`` per
target); :mod:`.grammar` parses a docker argv, :mod:`.engine` maps it by a table, :mod:`.run`
runs the result through ctrtool's adapters.
"""

from __future__ import annotations

from .engine import DEFAULT_NAMESPACE, Ids, Translation, join
from .tables import TARGETS, grammar, table


def translate(argv: list[str], tool: str, namespace: str = DEFAULT_NAMESPACE, ids: Ids | None = None) -> Translation:
    """Translate one docker command line (with or without the leading ``docker``) for ``tool``."""
    from .engine import translate_call

    return translate_call(grammar().parse(list(argv)), table(tool), namespace, ids)


def translate_all(
    argv: list[str], tools: tuple[str, ...] = TARGETS, namespace: str = DEFAULT_NAMESPACE, ids: Ids | None = None
) -> list[Translation]:
    from .engine import translate_call

    call = grammar().parse(list(argv))
    return [translate_call(call, table(tool), namespace, ids) for tool in tools]


__all__ = ["DEFAULT_NAMESPACE", "TARGETS", "Ids", "Translation", "join", "translate", "translate_all"]
