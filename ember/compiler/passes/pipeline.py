"""Run passes in order, optionally verifying and dumping the IR after each."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from ember.compiler.passes.choose_lowering_rules import choose_lowering_rules
from ember.compiler.passes.eliminate_common_subexpressions import eliminate_common_subexpressions
from ember.compiler.passes.eliminate_dead_code import eliminate_dead_code
from ember.compiler.passes.functionalize_buffers import functionalize_buffers
from ember.compiler.passes.fuse_attention import fuse_attention_for
from ember.compiler.passes.specialize_for_eval import specialize_for_eval
from ember.graphdef import Graph, verify

Pass = Callable[[Graph], Graph]

DEFAULT_PASSES: tuple[Pass, ...] = (
    functionalize_buffers,
    eliminate_common_subexpressions,
    fuse_attention_for(),
    eliminate_dead_code,
    choose_lowering_rules,
)
EVAL_PASSES: tuple[Pass, ...] = (specialize_for_eval, *DEFAULT_PASSES)


def passes_for(training: bool, structural: Sequence[Pass] = ()) -> tuple[Pass, ...]:
    """The default (or eval) pass list with `structural` rewrites (scan over layers,
    rematerialisation) right after buffer functionalization: before CSE, which would
    otherwise merge equal nodes across blocks and make the blocks differ."""
    passes = DEFAULT_PASSES if training else EVAL_PASSES
    if not structural:
        return passes
    at = passes.index(functionalize_buffers) + 1
    return (*passes[:at], *structural, *passes[at:])


def run_passes(
    graph: Graph,
    passes: Sequence[Pass] = DEFAULT_PASSES,
    *,
    dump: bool | None = None,
    check: bool | None = None,
    out=None,
) -> Graph:
    """Apply `passes`; `dump=True` (or EMBER_DUMP_IR=1) prints the IR after each, and
    `check=True` (or EMBER_VERIFY=1, set by the test suite) verifies it after each.

    >>> g = run_passes(graph, dump=True)
    """
    dump = bool(int(os.environ.get("EMBER_DUMP_IR", "0"))) if dump is None else dump
    check = bool(int(os.environ.get("EMBER_VERIFY", "0"))) if check is None else check
    if check:
        verify(graph)
    out = out or sys.stderr
    if dump:
        print(f"=== IR before passes ===\n{graph}", file=out)
    for p in passes:
        graph = p(graph)
        if check:
            verify(graph)
        if dump:
            print(f"=== after {p.__name__} ===\n{graph}", file=out)
    return graph
