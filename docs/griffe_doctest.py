"""A griffe extension (mkdocs.yml, mkdocstrings `extensions:`) for ember's sources.

- ember's docstrings show usage as bare `>>>` lines. Markdown would render those as
  nested block quotes, so each run of `>>>` / `...` lines, with the output lines after
  it, is wrapped in a `pycon` code fence before mkdocstrings renders the docstring.
  Runs already inside a fence are left alone.
- Some of ember's subpackages (`ember/frontend`, `ember/training`) are namespace
  packages (no `__init__.py`), which griffe's static loader does not enter; their
  modules are visited and attached here so `::: ember.Tensor` and friends resolve.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe

PROMPT = re.compile(r"^(?P<indent>\s*)(>>>|\.\.\.)( |$)")
FENCE = re.compile(r"^\s*(```|~~~)")


def fence_doctests(text: str) -> str:
    """Wrap each doctest run of `text` in a ```pycon fence (idempotent)."""
    lines, out = text.splitlines(), []
    in_fence, i = False, 0
    while i < len(lines):
        line = lines[i]
        if FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else PROMPT.match(line)
        if m is None:
            out.append(line)
            i += 1
            continue
        indent = m.group("indent")
        run = []
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            run.append(lines[i][len(indent) :])
            i += 1
        if out and out[-1].strip():
            out.append("")  # a fence needs its own paragraph
        out += [f"{indent}```pycon", *(indent + r for r in run), f"{indent}```"]
    return "\n".join(out)


def _attach_namespace_packages(pkg: Any, loader: Any, directory: Path) -> None:
    """Visit each module of `directory`'s namespace subpackages and attach it to `pkg`."""
    for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
        if (sub / "__init__.py").exists() or not any(sub.glob("*.py")):
            continue
        if sub.name in pkg.members:
            continue
        ns = griffe.Module(sub.name, filepath=sub, parent=pkg)
        pkg.set_member(sub.name, ns)
        for path in sorted(sub.glob("*.py")):
            code = path.read_text()
            loader.lines_collection[path] = code.splitlines()
            module = griffe.visit(
                path.stem,
                filepath=path,
                code=code,
                parent=ns,
                extensions=loader.extensions,
                docstring_parser=loader.docstring_parser,
                docstring_options=loader.docstring_options,
                lines_collection=loader.lines_collection,
                modules_collection=loader.modules_collection,
            )
            ns.set_member(path.stem, module)


class DoctestFences(griffe.Extension):
    """Fence bare `>>>` examples in every docstring griffe loads; load ember's
    namespace subpackages."""

    def on_package(self, *, pkg: Any, loader: Any, **kwargs: Any) -> None:
        if pkg.path == "ember" and isinstance(pkg.filepath, Path):
            _attach_namespace_packages(pkg, loader, pkg.filepath.parent)

    def on_object(self, *, obj: Any, **kwargs: Any) -> None:
        doc = getattr(obj, "docstring", None)
        if doc is not None and ">>>" in doc.value:
            doc.value = fence_doctests(doc.value)
