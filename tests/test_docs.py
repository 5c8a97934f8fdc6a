"""Every ```python block of docs/**/*.md runs, so the documentation cannot rot.

The blocks of one page run in order in one namespace, in a temporary directory, with
line numbers of the page (a traceback or an IR source comment points at the page's
line). Conventions for authors:

- `<!-- docs-test: skip -->` on the line right before a fence skips that block
  (PyTorch code, fragments, long runs);
- `<!-- docs-test: output -->` right before a ```text fence makes that block the
  expected stdout of the python block above it (compared with trailing spaces and
  `file:line` numbers normalized), so printed IR in the docs stays real.

The README's blocks are run by tests/test_readme.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP = "<!-- docs-test: skip -->"
OUTPUT = "<!-- docs-test: output -->"
FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


@dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the first code line in the page
    marker: str  # the line before the fence, stripped
    expected: str | None = None  # stdout a following output block expects


def blocks_of(text: str, where: str = "<page>") -> list[Block]:
    """The fenced blocks of a markdown page (indented fences too, e.g. in tabs)."""
    lines = text.splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, ticks = m.group("indent"), m.group("ticks")
        marker = lines[i - 1].strip() if i > 0 else ""
        start = i + 1
        j = start
        while j < len(lines) and not (
            lines[j].startswith(indent)
            and lines[j].strip().startswith(ticks)
            and not lines[j].strip().strip(ticks[0])
        ):
            j += 1
        if j == len(lines):
            raise ValueError(f"{where}:{i + 1}: a code fence is never closed")
        body = [
            ln[len(indent) :] if ln.startswith(indent) else ln.lstrip() for ln in lines[start:j]
        ]
        out.append(Block(m.group("lang"), "\n".join(body) + "\n", start + 1, marker))
        i = j + 1
    for prev, block in zip(
        out, out[1:], strict=False
    ):  # output blocks attach to the python block above
        if block.marker == OUTPUT:
            if prev.lang != "python" or block.lang not in ("text", ""):
                raise ValueError(f"{where}:{block.line}: {OUTPUT} must follow a python block")
            prev.expected = block.code
    return out


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "python" in p.read_text())


PATH_LINE = re.compile(r"(?:[\w.-]*/)*([\w.-]+\.(?:py|md)):\d+")


def _normalize(text: str) -> str:
    """Output as compared: `dir/file.md:12` -> `file.md:N`, no trailing spaces."""
    text = PATH_LINE.sub(r"\1:N", text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def run_page(page: Path) -> list[tuple[Block, str]]:
    """Run a page's python blocks in order in one namespace (in the current directory);
    returns each block run with its stdout."""
    blocks = [b for b in blocks_of(page.read_text(), str(page)) if b.lang == "python"]
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    ran = []
    for block in blocks:
        if block.marker == SKIP:
            continue
        code = compile("\n" * (block.line - 1) + block.code, str(page), "exec")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, namespace)  # noqa: S102 (our own documentation)
        ran.append((block, out.getvalue()))
    return ran


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_page_python_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    for block, out in run_page(page):
        if block.expected is not None:
            assert _normalize(out) == _normalize(block.expected), (
                f"{page.relative_to(ROOT)}:{block.line}: the printed output changed; "
                f"refresh it with python tests/test_docs.py --update-outputs {page}\n{out}"
            )


def update_outputs(page: Path) -> bool:
    """Rewrite the page's output blocks with what its python blocks print now (paths
    shortened to file names); True when the page changed."""
    text = page.read_text()
    lines = text.splitlines()
    runs = {b.line: out for b, out in run_page(page)}
    blocks = blocks_of(text, str(page))
    edits = []
    for prev, block in zip(blocks, blocks[1:], strict=False):
        if block.marker == OUTPUT and prev.line in runs:
            indent = FENCE.match(lines[block.line - 2]).group("indent")
            new = re.sub(r"(?:[\w.-]*/)+([\w.-]+\.(?:py|md):\d+)", r"\1", runs[prev.line])
            body = [indent + ln if ln else ln for ln in new.rstrip().splitlines()]
            n = len(block.code.rstrip("\n").splitlines()) if block.code.strip() else 0
            edits.append((block.line - 1, block.line - 1 + n, body))
    for start, stop, body in reversed(edits):
        lines[start:stop] = body
    new_text = "\n".join(lines) + "\n"
    page.write_text(new_text)
    return new_text != text


def test_block_parser_handles_markers_indentation_and_outputs():
    text = "\n".join(
        [
            "intro",
            "```python",
            "print('a')",
            "```",
            OUTPUT,
            "```text",
            "a",
            "```",
            '=== "Tab"',
            "",
            f"    {SKIP}",
            "    ```python",
            "    import torch",
            "    ```",
        ]
    )
    blocks = blocks_of(text)
    assert [b.lang for b in blocks] == ["python", "text", "python"]
    assert blocks[0].expected == "a\n" and blocks[0].line == 3
    assert blocks[2].marker == SKIP and blocks[2].code == "import torch\n"
    with pytest.raises(ValueError, match="never closed"):
        blocks_of("```python\nx = 1\n")


def _hooks():
    if "ember_docs_hooks" not in sys.modules:  # dataclasses look their module up there
        spec = importlib.util.spec_from_file_location("ember_docs_hooks", DOCS / "hooks.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["ember_docs_hooks"]


def test_name_map_knows_every_public_ember_name():
    """The site's PyTorch name map is generated from ember's namespaces at build time;
    a name the snapshot of PyTorch's names does not classify fails the build."""
    hooks = _hooks()
    markdown, problems = hooks.name_map_markdown(hooks.ember_names(), hooks.read_snapshot())
    assert problems == [], "refresh it: python docs/hooks.py --update\n" + "\n".join(problems)
    assert "| `torch.nn.Linear` | `nn.Linear` |" in markdown
    assert "| `torch.optim.AdamW` | `optim.AdamW` |" in markdown


def test_torch_name_snapshot_matches_installed_pytorch():
    torch = pytest.importorskip("torch")
    hooks = _hooks()
    saved = hooks.read_snapshot()
    if torch.__version__.split("+")[0] != saved["torch_version"]:
        pytest.skip(f"snapshot is of PyTorch {saved['torch_version']}, not {torch.__version__}")
    current = hooks.current_snapshot()
    for key in ("in_torch", "ember_only"):
        assert current[key] == saved[key], f"{key} changed: run python docs/hooks.py --update"


def test_nav_pages_exist_or_have_placeholders():
    """Each page in mkdocs.yml's nav is a file in docs/ or a placeholder the hook adds."""
    nav = re.findall(
        r"^\s+- (?:[^:\n]+: )?([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M
    )
    assert "index.md" in nav or any(n.endswith("index.md") for n in nav)
    placeholders = _hooks().PLACEHOLDER_PAGES
    missing = [n for n in nav if not (DOCS / n).exists() and n not in placeholders]
    assert missing == []
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages <= set(nav), f"pages missing from the nav: {sorted(pages - set(nav))}"


if __name__ == "__main__":  # python tests/test_docs.py --update-outputs docs/page.md ...
    import os
    import tempfile

    if len(sys.argv) < 3 or sys.argv[1] != "--update-outputs":
        sys.exit("usage: python tests/test_docs.py --update-outputs PAGE.md [PAGE.md ...]")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    pages = [Path(p).resolve() for p in sys.argv[2:]]
    os.chdir(tempfile.mkdtemp())
    for page in pages:
        for _ in range(3):  # line numbers move when an output grows: repeat to a fixpoint
            if not update_outputs(page):
                break
        print(f"updated {page.relative_to(ROOT)}")
