"""The documentation renders as written: every Markdown file's code fences pair up, so no stray
fence turns the prose after it into one code block (a new user found README.md's sections from
"Build against an installed copy" to "## Python" rendered as code)."""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = ["README.md", "ARCHITECTURE.md", "RELEASES.md", os.path.join("src", "instrument", "README.md")]


@pytest.mark.parametrize("name", [d for d in DOCS if os.path.exists(os.path.join(ROOT, d))])
def test_code_fences_pair_up_and_open_with_a_language_or_close(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        lines = f.read().splitlines()
    open_at = None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped.startswith("```"):
            continue
        if open_at is None:
            open_at = number
        elif stripped == "```":
            open_at = None
        else:
            pytest.fail("%s:%d: a fence with an info string (%r) inside the block opened at line "
                        "%d: the block was never closed" % (name, number, stripped, open_at))
    assert open_at is None, "%s:%d: a code fence that is never closed" % (name, open_at)
