"""What runs on a node, inside ctrtool's node image, chrooted to the host's root.

``python -m ctrtool.fleet.onnode probe`` prints one JSON line: the Python and ctrtool versions, and
the root this process sees (a check that the image's Python runs on the host).
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    from .. import __version__

    if argv[:1] == ["probe"]:
        print(json.dumps({"python": sys.version.split()[0], "ctrtool": __version__, "cwd": os.getcwd()}))
        return 0
    print("usage: python -m ctrtool.fleet.onnode probe", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
