"""mkdocs hooks for ember's documentation site (see mkdocs.yml, `hooks:`).

At build time this file:

- replaces `<!-- ember:torch-names -->` with the PyTorch → ember name map, generated
  from ember's own namespaces (so a new op or layer appears by itself) and
  `docs/torch_names.json`, a snapshot of which of those names PyTorch has;
- replaces `<!-- ember:include PATH [shift=N] -->` with the file PATH (relative to the
  repository root), its headings demoted by N levels, so pages such as the benchmark
  tables cannot drift from their source;
- adds a placeholder page for each page in the nav that another author has not
  written yet (nothing is written to disk).

An ember name that the snapshot does not know fails the strict build; refresh the
snapshot (it needs PyTorch installed) with:

    python docs/hooks.py --update
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
SNAPSHOT = DOCS / "torch_names.json"
LOG = logging.getLogger("mkdocs.plugins.ember")

# Pages other authors write; a placeholder stands in until theirs exists.
PLACEHOLDER_PAGES = {
    "tutorials/image.md": "Tutorial: image recognition",
    "tutorials/language.md": "Tutorial: language modelling",
    "tutorials/speech.md": "Tutorial: speech recognition",
    "tpu.md": "TPU VMs and sharding",
}

# (ember module, how the docs spell its names, the PyTorch module it mirrors)
NAMESPACES: tuple[tuple[str, str, str], ...] = (
    ("ember", "em.", "torch"),
    ("ember.Tensor", "Tensor.", "torch.Tensor"),
    ("ember.nn", "nn.", "torch.nn"),
    ("ember.nn.functional", "F.", "torch.nn.functional"),
    ("ember.nn.init", "nn.init.", "torch.nn.init"),
    ("ember.nn.utils", "nn.utils.", "torch.nn.utils"),
    ("ember.optim", "optim.", "torch.optim"),
    ("ember.optim.lr_scheduler", "optim.lr_scheduler.", "torch.optim.lr_scheduler"),
    ("ember.utils.data", "em.utils.data.", "torch.utils.data"),
    ("ember.utils.tensorboard", "ember.utils.tensorboard.", "torch.utils.tensorboard"),
    ("ember.autograd", "em.autograd.", "torch.autograd"),
    ("ember.cuda", "em.cuda.", "torch.cuda"),
    ("ember.linalg", "em.linalg.", "torch.linalg"),
    ("ember.special", "em.special.", "torch.special"),
    ("ember.fft", "em.fft.", "torch.fft"),
    ("ember.func", "em.func.", "torch.func"),
    ("ember.nn.parallel", "nn.parallel.", "torch.nn.parallel"),
)

# Names PyTorch has too but where ember's object behaves differently on purpose.
NOTES = {
    "ember.compile": "**different meaning**: builds a `CompiledModel` that trains "
    "(`fit`, `train_step`); `torch.compile` speeds up a callable",
    "ember.trace": "**different meaning**: traces a module into ember's IR; "
    "`torch.trace` is the sum of a matrix diagonal",
    "ember.save": "safetensors file, never a pickle",
    "ember.load": "weights only; `map_location` is ignored",
    "ember.device": "accepted and ignored: XLA places arrays",
    "ember.Tensor": "lazy outside a trace: computed when Python needs a value",
    "ember.float64": "stored as float32 unless JAX's x64 mode is on",
    "ember.double": "stored as float32 unless JAX's x64 mode is on",
    "ember.int64": "integers are int32 unless JAX's x64 mode is on",
    "ember.long": "integers are int32 unless JAX's x64 mode is on",
    "ember.manual_seed": "seeds ember's streams; an `em.Generator` has its own",
    "ember.nn.Embedding": "`max_norm` renormalizes looked-up rows but does not rewrite the weight",
    "ember.cuda.is_available": "whether JAX sees a GPU",
    "ember.Tensor.data": "bound to its owner: in-place updates write back",
    "ember.Tensor.retain_grad": "lazy tensors only; inside a compiled forward it raises",
    "ember.Tensor.register_hook": "in a compiled forward, register before the tensor is used",
    "ember.autograd.Function": "forward and backward are traced: ember ops, no `.item()`",
}


@dataclass(frozen=True)
class Name:
    """One public ember name and the PyTorch name it mirrors."""

    namespace: str  # "ember.nn"
    name: str  # "Linear"
    spelling: str  # "nn.Linear"
    torch: str  # "torch.nn.Linear"
    obj: Any

    @property
    def key(self) -> str:
        return f"{self.namespace}.{self.name}"


def _public(module: Any, namespace: str) -> list[str]:
    """The public names of an ember module (or of `ember.Tensor`), ember-defined only."""
    if isinstance(module, type):  # Tensor: methods and properties
        return sorted(n for n in dir(module) if not n.startswith("_"))
    names = getattr(module, "__all__", None)
    if namespace == "ember" or names is None:  # em.__all__ leaves out builtin names
        names = list(vars(module))
    # a plain module without __all__ exports what it defines, not what it imports
    home = None if hasattr(module, "__path__") or hasattr(module, "__all__") else namespace
    out = []
    for n in names:
        if n.startswith("_"):
            continue
        v = getattr(module, n)
        if isinstance(v, types.ModuleType):
            continue
        owner = getattr(v, "__module__", None) or type(v).__module__
        if not isinstance(owner, str) or owner.split(".")[0] != "ember":
            continue
        if home is None or owner == home or not callable(v):
            out.append(n)
    return sorted(set(out))


def ember_names() -> list[Name]:
    """Every public name of the namespaces ember mirrors from PyTorch."""
    out = []
    for namespace, prefix, torch_ns in NAMESPACES:
        head, _, attr = namespace.rpartition(".")
        if attr == "Tensor":
            module = getattr(importlib.import_module(head), attr)
        else:
            module = importlib.import_module(namespace)
        for n in _public(module, namespace):
            out.append(Name(namespace, n, prefix + n, f"{torch_ns}.{n}", getattr(module, n)))
    return out


def torch_has(qualified: str) -> bool:
    """Does PyTorch (imported here) have `torch.a.b.c`?"""
    import torch  # noqa: F401  (only the snapshot refresh and its test need it)

    parts = qualified.split(".")
    for i in range(len(parts), 0, -1):  # the longest importable module prefix
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            if not hasattr(obj, p):
                return False
            obj = getattr(obj, p)
        return True
    return False


def current_snapshot() -> dict[str, Any]:
    """The snapshot as it should be now (needs PyTorch)."""
    import torch

    names = ember_names()
    return {
        "about": "Public ember names PyTorch also has; refresh: python docs/hooks.py --update",
        "torch_version": torch.__version__.split("+")[0],
        "in_torch": sorted(n.key for n in names if torch_has(n.torch)),
        "ember_only": sorted(n.key for n in names if not torch_has(n.torch)),
    }


def read_snapshot() -> dict[str, Any]:
    return json.loads(SNAPSHOT.read_text())


def _summary(obj: Any) -> str:
    """The first paragraph of an object's docstring, on one table line."""
    if not (inspect.isroutine(obj) or inspect.isclass(obj) or isinstance(obj, property)):
        return ""
    doc = inspect.getdoc(obj) or ""
    line = doc.strip().split("\n\n")[0].replace("\n", " ").strip().replace("|", "\\|")
    return line if len(line) <= 140 else line[:137].rstrip() + "..."


def _is_slot(obj: Any) -> bool:
    return type(obj).__name__ == "member_descriptor"


def name_map_markdown(names: list[Name], snapshot: dict[str, Any]) -> tuple[str, list[str]]:
    """The name map as markdown, and the problems (names the snapshot does not know)."""
    known_in, known_out = set(snapshot["in_torch"]), set(snapshot["ember_only"])
    problems = [
        f"{n.key} is not in docs/torch_names.json"
        for n in names
        if n.key not in known_in and n.key not in known_out
    ]
    present = {n.key for n in names}
    problems += [
        f"docs/torch_names.json lists {k}, which ember no longer has"
        for k in sorted((known_in | known_out) - present)
    ]
    lines: list[str] = []
    total = sum(n.key in known_in for n in names)
    lines.append(
        f"ember has **{total}** names of PyTorch's API below (PyTorch "
        f"{snapshot['torch_version']}), generated from ember's namespaces when this site "
        "was built."
    )
    lines.append("")
    for namespace, _prefix, torch_ns in NAMESPACES:
        rows = [n for n in names if n.namespace == namespace and n.key in known_in]
        if not rows:
            continue
        anchor = torch_ns.replace(".", "-").lower()  # stable: the count is not in it
        lines += [f"## `{torch_ns}` ({len(rows)}) {{#{anchor}}}", ""]
        if namespace == "ember.Tensor":
            lines.append(
                "Methods and properties of `em.Tensor` with PyTorch's names "
                "(`x.relu()`, `x.shape`, ...):"
            )
            lines.append("")
            lines.append(", ".join(f"`{n.name}`" for n in rows))
            noted = [n for n in rows if n.key in NOTES]
            if noted:
                lines.append("")
                lines += [f"- `Tensor.{n.name}`: {NOTES[n.key]}" for n in noted]
            lines.append("")
            continue
        lines += ["| PyTorch | ember | note |", "|---|---|---|"]
        for n in rows:
            lines.append(f"| `{n.torch}` | `{n.spelling}` | {NOTES.get(n.key, '')} |")
        lines.append("")
    # ember-only objects, listed once with every spelling
    spellings: dict[int, list[Name]] = {}
    has_torch_name: set[int] = set()
    for n in names:
        if n.key in known_in:
            has_torch_name.add(id(n.obj))
        elif n.key in known_out and not _is_slot(n.obj):
            spellings.setdefault(id(n.obj), []).append(n)
    extra = [group for oid, group in spellings.items() if oid not in has_torch_name]
    lines += [
        f"## ember only ({len(extra)}) {{#ember-only}}",
        "",
        "Names with no PyTorch counterpart of the same name in the same place.",
        "",
        "| ember | what it is |",
        "|---|---|",
    ]
    for group in sorted(extra, key=lambda g: g[0].spelling.lower()):
        spelled = ", ".join(f"`{n.spelling}`" for n in group)
        lines.append(f"| {spelled} | {_summary(group[0].obj)} |")
    lines.append("")
    return "\n".join(lines), problems


# -- includes -------------------------------------------------------------------------------

INCLUDE = re.compile(r"^<!-- ember:include (?P<path>\S+)(?: shift=(?P<shift>\d+))? -->$", re.M)
FENCE = re.compile(r"^\s*(```|~~~)")


def demote(text: str, shift: int) -> str:
    """Demote markdown headings by `shift` levels (not inside code fences)."""
    out, in_fence = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and shift and re.match(r"^#{1,6} ", line):
            line = "#" * shift + line
        out.append(line)
    return "\n".join(out) + "\n"


def expand_includes(markdown: str) -> tuple[str, list[str]]:
    problems: list[str] = []

    def sub(m: re.Match) -> str:
        path = ROOT / m.group("path")
        if not path.is_file():
            problems.append(f"include: {m.group('path')} does not exist")
            return ""
        return demote(path.read_text(), int(m.group("shift") or 0))

    return INCLUDE.sub(sub, markdown), problems


def included_paths() -> Iterator[Path]:
    for page in DOCS.rglob("*.md"):
        for m in INCLUDE.finditer(page.read_text()):
            yield ROOT / m.group("path")


# -- mkdocs events --------------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    """Placeholders for pages of the nav that are not written yet (in memory only)."""
    from mkdocs.structure.files import File

    for src, title in PLACEHOLDER_PAGES.items():
        if files.get_file_from_path(src) is None and not (DOCS / src).exists():
            text = f"# {title}\n\nThis page is being written.\n"
            files.append(File.generated(config, src, content=text))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    markdown, problems = expand_includes(markdown)
    if "<!-- ember:torch-names -->" in markdown:
        table, more = name_map_markdown(ember_names(), read_snapshot())
        problems += more
        markdown = markdown.replace("<!-- ember:torch-names -->", table)
    for p in problems:
        LOG.warning("%s: %s (refresh: python docs/hooks.py --update)", page.file.src_uri, p)
    return markdown


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    """`mkdocs serve` rebuilds when an included file or ember's sources change."""
    for path in {*included_paths(), ROOT / "ember"}:
        if path.exists():
            server.watch(str(path))
    return server


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python docs/hooks.py --update  (rewrites docs/torch_names.json)")
    SNAPSHOT.write_text(json.dumps(current_snapshot(), indent=1) + "\n")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}")
