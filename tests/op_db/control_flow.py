"""OpInfo entries: cond, scan, fori_loop, while_loop, remat (references: torch.cond, torch
loops, plain torch for torch.utils.checkpoint)."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample, raw_op

import ember as em
import ember.nn.functional as F
from ember.errors import DTypeError, ShapeError, TraceError
from ember.utils.checkpoint import checkpoint

rng = np.random.default_rng(0)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def t(x):
    return torch.from_numpy(np.asarray(x))


def torch_scan(f, init, xs, reverse=False):
    """A reference scan over the leading dim, with torch ops."""
    carry, ys = init, []
    order = range(xs.shape[0] - 1, -1, -1) if reverse else range(xs.shape[0])
    for k in order:
        carry, y = f(carry, xs[k])
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, (torch.stack(ys) if ys else torch.zeros((0, *init.shape)))


def rnn_step(c, x):
    return em.tanh(c * 0.5 + x), c * x


def rnn_step_ref(c, x):
    return torch.tanh(c * 0.5 + x), c * x


POS, NEG = np.array([0.5, -0.2, 1.0], np.float32), np.array([-0.5, 0.2, -1.0], np.float32)


def _pytree_scan(h, xs, ks):
    def body(carry, x):
        new_h = carry["h"] * x[0] + x[1].to(em.float32)
        return {"h": new_h, "n": carry["n"] + 1}, [new_h, carry["n"]]

    (carry, ys) = em.scan(body, {"n": em.sum(ks) * 0, "h": h}, (xs, ks))
    return carry["h"], carry["n"], ys[0], ys[1]


def _pytree_scan_ref(h, xs, ks):
    h, n, hs, ns = t(h), 0, [], []
    for x, k in zip(t(xs), t(ks), strict=True):
        hs.append(h * x + k.float())
        ns.append(n)
        h, n = hs[-1], n + 1
    return h, np.int32(n), torch.stack(hs), np.array(ns, np.int32)


def _nested(init, xs):
    def outer(c, row):
        inner, _ = em.scan(lambda a, v: (a + v * c, None), c * 0, row)
        return em.fori_loop(0, 2, lambda i, z: em.sin(z), inner + c), inner

    return em.scan(outer, init, xs)


def _nested_ref(init, xs):
    def outer(c, row):
        inner = torch.zeros_like(c)
        for v in row:
            inner = inner + v * c
        z = inner + c
        for _ in range(2):
            z = torch.sin(z)
        return z, inner

    return torch_scan(outer, t(init), t(xs))


def _if_inside_body(init, xs):
    def body(c, x):
        if x.sum() > 0:  # Python control flow on a traced value
            return c + x, x
        return c, x

    return em.scan(body, init, xs)


SCAN = OpInfo(
    "scan",
    [
        Sample(
            lambda c, xs: em.scan(rnn_step, c, xs),
            (r(3), r(5, 3)),
            lambda c, xs: torch_scan(rnn_step_ref, t(c), t(xs)),
            "tanh-recurrence",
        ),
        Sample(
            lambda c, xs: em.scan(rnn_step, c, xs, reverse=True),
            (r(3), r(5, 3)),
            lambda c, xs: torch_scan(rnn_step_ref, t(c), t(xs), reverse=True),
            "reverse",
        ),
        Sample(
            lambda c, xs, w: em.scan(lambda h, x: (em.tanh(h @ w + x), h.sum()), c, xs),
            (r(2, 4), r(6, 2, 4), r(4, 4)),
            lambda c, xs, w: torch_scan(
                lambda h, x: (torch.tanh(h @ t(w) + x), h.sum()), t(c), t(xs)
            ),
            "closure-over-outer-tensor",
        ),
        Sample(
            _pytree_scan,
            (r(2), r(4, 2), np.arange(4, dtype=np.int32)),
            _pytree_scan_ref,
            "pytree-dict-carry-mixed-dtypes",
        ),
        Sample(
            lambda c: em.scan(lambda a, _: (a * 1.5, a), c, None, length=3),
            (r(2),),
            lambda c: torch_scan(lambda a, _: (a * 1.5, a), t(c), torch.zeros(3, 1)),
            "no-xs-length",
        ),
        Sample(
            lambda c, xs: em.scan(rnn_step, c, xs),
            (r(3), r(0, 3)),
            lambda c, xs: (t(c), torch.zeros(0, 3)),
            "size-0-length",
        ),
        Sample(
            lambda c, xs: em.scan(rnn_step, c, xs),
            (r(1, 3), r(1, 1, 3)),
            lambda c, xs: torch_scan(rnn_step_ref, t(c), t(xs)),
            "size-1",
        ),
        Sample(
            lambda c, xs: em.scan(rnn_step, c, xs.permute(2, 0, 1)),
            (r(2, 3), r(2, 3, 4)),
            lambda c, xs: torch_scan(rnn_step_ref, t(c), t(xs).permute(2, 0, 1)),
            "permuted-xs",
        ),
        Sample(
            lambda c, xs: em.scan(rnn_step, c, xs),
            (r(2, 3), r(4, 1, 3)),
            lambda c, xs: torch_scan(rnn_step_ref, t(c), t(xs)),
            "broadcast-in-body",
        ),
        Sample(_nested, (r(3), r(2, 4)), _nested_ref, "nested-scan-and-fori"),
    ],
    errors=[
        ErrorSample(
            lambda c, xs: em.scan(lambda a, x: (a.sum(), x), c, xs),
            (r(3), r(4, 3)),
            ShapeError,
            r"carried value 0 enters the body as f32\[3\] but the body returns "
            r"f32\[\]",
        ),
        ErrorSample(
            lambda c, xs: em.scan(lambda a, x: (a > 0, x), c, xs),
            (r(3), r(4, 3)),
            DTypeError,
            r"enters the body as f32\[3\] but the body returns bool\[3\]",
        ),
        ErrorSample(
            lambda c, a, b: em.scan(lambda h, x: (h, x[0]), c, (a, b)),
            (r(3), r(4, 3), r(5, 3)),
            ShapeError,
            r"leading dims \[4, 5\] differ",
        ),
        ErrorSample(
            lambda c, xs: em.scan(rnn_step, c, xs, length=7),
            (r(3), r(4, 3)),
            ShapeError,
            r"length=7",
        ),
        ErrorSample(
            lambda c, xs: em.scan(lambda a, x: a + x, c, xs),
            (r(3), r(4, 3)),
            TraceError,
            r"f must return a pair \(carry, y\)",
        ),
        ErrorSample(
            lambda c, xs: em.scan(lambda a, x: ((a, a), x), c, xs),
            (r(3), r(4, 3)),
            TraceError,
            r"structure \(T, T\) but T was expected",
        ),
        ErrorSample(
            lambda c: em.scan(lambda a, x: (a, a), c), (r(3),), TraceError, "pass length=N"
        ),
        ErrorSample(_if_inside_body, (r(3), r(4, 3)), TraceError, r"em\.cond.*em\.while_loop"),
        ErrorSample(
            lambda c, xs: em.scan(lambda a, x: (F.dropout(a + x, 0.5), a), c, xs),
            (r(3), r(4, 3)),
            TraceError,
            "random op",
        ),
    ],
)


COND = OpInfo(
    "cond",
    [
        Sample(
            lambda x: em.cond(x.sum() > 0, lambda a: a * 2, lambda a: -a, x),
            (POS,),
            lambda x: torch.cond(t(x).sum() > 0, lambda a: a * 2, lambda a: -a, (t(x),)),
            "true-branch",
        ),
        Sample(
            lambda x: em.cond(x.sum() > 0, lambda a: a * 2, lambda a: -a, x),
            (NEG,),
            lambda x: torch.cond(t(x).sum() > 0, lambda a: a * 2, lambda a: -a, (t(x),)),
            "false-branch",
        ),
        Sample(
            lambda x, w: em.cond(x.mean() > 0, lambda a: em.tanh(a @ w), lambda a: a @ w.t(), x),
            (np.abs(r(2, 3)), r(3, 3)),
            lambda x, w: torch.cond(
                t(x).mean() > 0, lambda a: torch.tanh(a @ t(w)), lambda a: a @ t(w).t(), (t(x),)
            ),
            "closure-over-outer-tensor",
        ),
        # dict results come back with sorted keys, like jax pytrees: ("p", "s")
        Sample(
            lambda k, x, y: em.cond(
                k,
                lambda a, b: {"s": a + b, "p": (a * b,)},
                lambda a, b: {"s": a - b, "p": (b - a,)},
                x,
                y,
            ),
            (np.array(3, np.int32), r(2, 1), r(3)),
            lambda k, x, y: (t(x) * t(y), t(x) + t(y)),
            "int-pred-pytree-broadcast",
        ),
        Sample(
            lambda x: em.cond(x.sum() < 0, lambda: x * 0 + 1.0, lambda: em.exp(x)),
            (POS,),
            lambda x: torch.exp(t(x)),
            "no-operands-closures",
        ),
        Sample(
            lambda x: em.cond(x.sum() > 0, lambda a: a, lambda a: a + 1, x),
            (r(0, 3),),
            lambda x: t(x) + 1,
            "size-0",
        ),
    ],
    errors=[
        ErrorSample(
            lambda x: em.cond(x.sum() > 0, lambda a: a, lambda a: a.sum(), x),
            (r(3),),
            ShapeError,
            r"true_fn gives \(f32\[3\]\) but false_fn gives \(f32\[\]\)",
        ),
        ErrorSample(
            lambda x: em.cond(x > 0, lambda a: a, lambda a: -a, x),
            (r(3),),
            ShapeError,
            r"predicate must be a 0-d bool tensor, got bool\[3\]",
        ),
        ErrorSample(
            lambda x: em.cond(x.sum() > 0, lambda a: (a, a), lambda a: [a, a], x),
            (r(3),),
            TraceError,
            r"false_fn's result has structure \[T, T\]",
        ),
    ],
)


def _fori_ref(x, w):
    x, w = t(x), t(w)
    for i in range(3):
        x = torch.tanh(x @ w) + i
    return x


def _fori_pytree(x, k):
    return em.fori_loop(1, 4, lambda i, c: (c[0] * 0.5 + i, c[1] + i * c[1]), (x, k))


FORI = OpInfo(
    "fori_loop",
    [
        Sample(
            lambda x, w: em.fori_loop(0, 3, lambda i, v: em.tanh(v @ w) + i, x),
            (r(2, 3), r(3, 3)),
            _fori_ref,
            "closure-matmul",
        ),
        Sample(
            lambda x: em.fori_loop(2, 2, lambda i, v: v * 10, x),
            (r(3),),
            lambda x: t(x),
            "zero-trips",
        ),
        Sample(
            _fori_pytree,
            (r(3), np.array([1, 2], np.int32)),
            lambda x, k: (
                t(x) * 0.125 + 1 * 0.25 + 2 * 0.5 + 3,
                t(k) * (1 + 1) * (1 + 2) * (1 + 3),
            ),
            "tuple-carry-mixed-dtypes",
        ),
        Sample(
            lambda x: em.fori_loop(0, 4, lambda i, v: v + em.sin(v), x),
            (r(1, 0),),
            lambda x: t(x),
            "size-0",
        ),
    ],
    errors=[
        ErrorSample(
            lambda x, n: em.fori_loop(0, n, lambda i, v: v, x),
            (r(3), np.array(3, np.int32)),
            TraceError,
            "lower and upper must be Python ints",
        ),
        ErrorSample(
            lambda x: em.fori_loop(0, 3, lambda i, v: v.reshape(1, 3), x),
            (r(3),),
            ShapeError,
            r"enters the body as f32\[3\] but the body returns f32\[1,3\]",
        ),
    ],
)


def _while_ref(x):
    x = t(x)
    while x.abs().sum() < 100:
        x = x * 2
    return x


def _count_ref(x):
    n, x = 0, t(x)
    while n < 5:
        x, n = x + n, n + 1
    return np.int32(n), x


# while_loop is forward only (grad=False): JAX has no reverse-mode rule for while loops,
# since the trip count is only known at run time.
WHILE = OpInfo(
    "while_loop",
    [
        Sample(
            lambda x: em.while_loop(lambda v: v.abs().sum() < 100, lambda v: v * 2, x),
            (r(3),),
            _while_ref,
            "data-dependent-count",
            grad=False,
        ),
        Sample(
            lambda x: em.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] + c[0]), (0, x)),
            (r(2, 2),),
            _count_ref,
            "counter-tuple",
            grad=False,
        ),
        Sample(
            lambda x: em.while_loop(lambda v: v.sum() > 1e9, lambda v: v + 1, x),
            (r(3),),
            lambda x: t(x),
            "zero-iterations",
            grad=False,
        ),
    ],
    errors=[
        ErrorSample(
            lambda x: em.while_loop(lambda v: v > 0, lambda v: v - 1, x),
            (r(3),),
            ShapeError,
            r"cond_fun must return one 0-d bool tensor, got \(bool\[3\]\)",
        ),
    ],
    differentiable=False,
)


def _block(x, w, scale=2.0):
    h = em.tanh(x @ w) * scale
    return h + x.sum(-1, keepdim=True), h.mean()


def _block_ref(x, w, scale=2.0):
    h = torch.tanh(t(x) @ t(w)) * scale
    return h + t(x).sum(-1, keepdim=True), h.mean()


def _nested_in_scan(c, xs, w):
    def body(carry, x):
        y = checkpoint(lambda a, b: em.tanh(a * b + w.sum()), carry, x)
        return y, y.sum()

    return em.scan(body, c, xs)


def _nested_in_scan_ref(c, xs, w):
    return torch_scan(lambda a, b: (torch.tanh(a * b + t(w).sum()),) * 2, t(c), t(xs))[0], None


REMAT = OpInfo(
    "remat",
    [
        Sample(
            lambda x, w: checkpoint(_block, x, w), (r(3, 4), r(4, 4)), _block_ref, "two-results"
        ),
        Sample(
            lambda x, w: checkpoint(_block, x, w, scale=0.5, use_reentrant=False)[0],
            (r(2, 4), r(4, 4)),
            lambda x, w: _block_ref(x, w, 0.5)[0],
            "kwargs-static",
        ),
        Sample(
            lambda x, w: checkpoint(lambda a: a @ w, x),  # w is captured from outside
            (r(2, 3), r(3, 5)),
            lambda x, w: t(x) @ t(w),
            "captures",
        ),
    ],
    errors=[
        ErrorSample(
            lambda x: raw_op(x, "remat", [x], policy="sometimes"),
            (r(3),),
            ShapeError,
            r"remat: expects 1 sub-graph",
        ),
    ],
)

SCAN.samples.append(  # a remat region inside a scan body (scan over checkpointed layers)
    Sample(
        lambda c, xs, w: _nested_in_scan(c, xs, w)[0],
        (r(3), r(4, 3), r(2)),
        lambda c, xs, w: _nested_in_scan_ref(c, xs, w)[0],
        "remat-inside",
    )
)

OP_DB = [SCAN, COND, FORI, WHILE, REMAT]
