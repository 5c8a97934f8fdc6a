"""Scripts in docs/snippets/ are shown verbatim in a page (a skipped ```python block), so
the page cannot drift from the file people run."""

from pathlib import Path

import pytest
from test_docs import DOCS, blocks_of

SNIPPETS = sorted((DOCS / "snippets").glob("*.py"))


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda p: p.name)
def test_snippet_is_shown_verbatim_in_a_page(snippet: Path):
    code = snippet.read_text()
    shown = [
        page
        for page in DOCS.rglob("*.md")
        if any(b.lang == "python" and b.code == code for b in blocks_of(page.read_text()))
    ]
    assert shown, f"{snippet.relative_to(DOCS)} is not shown verbatim in any docs page"
