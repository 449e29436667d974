#!/usr/bin/env python3
"""Write docs/translate.md from the translation tables (ctrtool/translate/data/*.yaml).

scripts/gen_translate_docs.py          write it
scripts/gen_translate_docs.py --check  exit 1 if docs/translate.md is not what the data gives
"""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ctrtool.translate.docs import render_markdown  # noqa: E402

TARGET = ROOT / "docs" / "translate.md"


def main(argv: list[str]) -> int:
    text = render_markdown()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is out of date: run scripts/gen_translate_docs.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
