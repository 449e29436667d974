"""docs/translate.md is generated from the translation tables: it must be what the data gives."""

from __future__ import annotations

import pathlib
import subprocess
import sys

from ctrtool.translate.docs import render_markdown
from ctrtool.translate.tables import TARGETS, grammar, table

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "translate.md"


def test_docs_match_the_data():
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/translate.md differs from the tables: run scripts/gen_translate_docs.py"
    )


def test_the_script_checks_and_writes_the_same_text(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_translate_docs.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_docs_have_a_section_and_a_row_per_command_and_flag():
    text = render_markdown()
    for name, spec in grammar().commands.items():
        assert f"### docker {name}\n" in text
        section = text.split(f"### docker {name}\n", 1)[1].split("\n### ", 1)[0]
        for flag in spec.visible_flags():
            assert f"`{flag.long}`" in section or f"{flag.long}`" in section, f"docker {name} {flag.long}"
        for tool in TARGETS:
            entry = table(tool).commands[name]
            if entry.none:
                assert entry.none in section
