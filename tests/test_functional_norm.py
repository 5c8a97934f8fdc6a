"""OpInfo-style checks for the composite functions of the normalization family.

`F.batch_norm`, `instance_norm`, `group_norm`, `local_response_norm`,
`normalize`, `cosine_similarity`, `pairwise_distance`, `embedding`,
`embedding_bag` and `one_hot` compose registered ops, so they have no
`tests/op_db` entry; each sample here gets the same four checks as an OpInfo
sample: forward vs PyTorch, inferred types vs `jax.eval_shape`, float64
gradients (`check_grads`) and documented errors.
"""

import jax
import numpy as np
import pytest
import torch
from jax.test_util import check_grads
from opinfo import ErrorSample, Sample, check_types_against_jax, run_graph, trace_sample

import ember.nn.functional as F
from ember.compiler import lower
from ember.errors import DTypeError, ShapeError, TraceError, UnsupportedOpError
from ember.graphdef import verify

TF = torch.nn.functional
rng = np.random.default_rng(0)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def pos(*shape):
    return rng.uniform(0.5, 2.0, shape).astype(np.float32)


def t(x):
    return torch.from_numpy(np.ascontiguousarray(x))


IDX = np.array([[1, 3, 0, 3], [2, 2, 5, 1]], np.int32)
BAG_IDX = np.array([1, 2, 4, 5, 4, 3, 2, 0, 5], np.int32)
OFFSETS = np.array([0, 2, 2, 5], np.int32)
PERMUTED = r(3, 5, 4).transpose(0, 2, 1)  # (3, 4, 5), not contiguous


def _bn(training):
    return lambda x, m, v, w, b: F.batch_norm(x, m, v, w, b, training, 0.1, 1e-5)


def _tbn(training):
    return lambda x, m, v, w, b: TF.batch_norm(
        t(x), t(m).clone(), t(v).clone(), t(w), t(b), training, 0.1, 1e-5
    )


SAMPLES = [
    Sample(_bn(True), (r(4, 3, 5), r(3), pos(3), r(3), r(3)), _tbn(True), "bn-train"),
    Sample(_bn(False), (r(4, 3, 5), r(3), pos(3), r(3), r(3)), _tbn(False), "bn-eval"),
    Sample(_bn(True), (PERMUTED, r(4), pos(4), r(4), r(4)), _tbn(True), "bn-permuted"),
    Sample(_bn(True), (r(6, 2), r(2), pos(2), r(2), r(2)), _tbn(True), "bn-2d"),
    Sample(_bn(True), (r(4, 3, 1), r(3), pos(3), r(3), r(3)), _tbn(True), "bn-spatial-1"),
    Sample(_bn(False), (r(0, 3, 4), r(3), pos(3), r(3), r(3)), _tbn(False), "bn-size-0"),
    Sample(
        lambda x: F.batch_norm(x, None, None, training=True),
        (r(3, 2, 2, 2),),
        lambda x: TF.batch_norm(t(x), None, None, training=True),
        "bn-no-affine",
    ),
    Sample(
        lambda x: F.instance_norm(x), (r(2, 3, 6),), lambda x: TF.instance_norm(t(x)), "in-plain"
    ),
    Sample(
        lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-3),
        (r(2, 3, 2, 3, 2), r(3), r(3)),
        lambda x, w, b: TF.instance_norm(t(x), weight=t(w), bias=t(b), eps=1e-3),
        "in-5d",
    ),
    Sample(
        lambda x, m, v: F.instance_norm(x, m, v, use_input_stats=False),
        (r(2, 3, 4), r(3), pos(3)),
        lambda x, m, v: TF.instance_norm(t(x), t(m), t(v), use_input_stats=False),
        "in-eval",
    ),
    Sample(
        lambda x, w, b: F.group_norm(x, 2, w, b),
        (r(3, 6, 2, 2), r(6), r(6)),
        lambda x, w, b: TF.group_norm(t(x), 2, t(w), t(b)),
        "gn",
    ),
    Sample(
        lambda x: F.group_norm(x, 1),
        (r(2, 4, 3),),
        lambda x: TF.group_norm(t(x), 1),
        "gn-one-group",
    ),
    Sample(
        lambda x: F.group_norm(x, 4, eps=1e-2),
        (r(3, 4),),
        lambda x: TF.group_norm(t(x), 4, eps=1e-2),
        "gn-2d-per-channel",
        atol=1e-5,
    ),
    Sample(
        lambda x: F.group_norm(x, 2), (r(0, 4, 3),), lambda x: TF.group_norm(t(x), 2), "gn-size-0"
    ),
    Sample(
        lambda x: F.local_response_norm(x, 2),
        (r(2, 5, 4),),
        lambda x: TF.local_response_norm(t(x), 2),
        "lrn-3d",
    ),
    Sample(
        lambda x: F.local_response_norm(x, 5, 1e-2, 0.75, 2.0),
        (r(2, 6, 3, 3),),
        lambda x: TF.local_response_norm(t(x), 5, 1e-2, 0.75, 2.0),
        "lrn-4d",
    ),
    Sample(
        lambda x: F.local_response_norm(x, 7, 0.5, 0.5),
        (r(1, 3, 2, 2, 2),),
        lambda x: TF.local_response_norm(t(x), 7, 0.5, 0.5),
        "lrn-size-over-channels",
    ),
    Sample(
        lambda x: F.local_response_norm(x, 1, 1.0, 1.0),
        (r(2, 3, 4),),
        lambda x: TF.local_response_norm(t(x), 1, 1.0, 1.0),
        "lrn-size-1",
    ),
    Sample(lambda x: F.normalize(x), (r(4, 5),), lambda x: TF.normalize(t(x)), "normalize"),
    Sample(
        lambda x: F.normalize(x, p=1.0, dim=0),
        (r(4, 5),),
        lambda x: TF.normalize(t(x), p=1.0, dim=0),
        "normalize-l1",
    ),
    Sample(
        lambda x: F.normalize(x, p=float("inf"), dim=-1),
        (r(3, 2, 5),),
        lambda x: TF.normalize(t(x), p=float("inf"), dim=-1),
        "normalize-inf",
    ),
    Sample(
        lambda x: F.normalize(x, p=3.0, dim=1),
        (PERMUTED,),
        lambda x: TF.normalize(t(x), p=3.0, dim=1),
        "normalize-p3-permuted",
    ),
    Sample(lambda x: F.normalize(x), (r(0, 5),), lambda x: TF.normalize(t(x)), "normalize-size-0"),
    # grad=False: x / max(||x||, eps) jumps at the zero row (not differentiable there)
    Sample(
        lambda x: F.normalize(x, dim=-1),
        (np.array([[0, 0, 0], [1, 2, 2]], np.float32),),
        lambda x: TF.normalize(t(x), dim=-1),
        "normalize-zero-row",
        grad=False,
    ),
    Sample(
        lambda a, b: F.cosine_similarity(a, b),
        (r(5, 4), r(5, 4)),
        lambda a, b: TF.cosine_similarity(t(a), t(b)),
        "cos",
    ),
    Sample(
        lambda a, b: F.cosine_similarity(a, b, dim=-1),
        (r(3, 1, 4), r(5, 4)),
        lambda a, b: TF.cosine_similarity(t(a), t(b), dim=-1),
        "cos-broadcast",
    ),
    Sample(
        lambda a, b: F.cosine_similarity(a, b, dim=0, eps=1e-3),
        (r(4), r(4)),
        lambda a, b: TF.cosine_similarity(t(a), t(b), dim=0, eps=1e-3),
        "cos-1d",
    ),
    # rtol 1e-3: PyTorch normalizes the float16 operand in float16 before promoting; ember
    # promotes both operands to float32 first
    Sample(
        lambda a, b: F.cosine_similarity(a, b),
        (r(3, 4).astype(np.float16), r(3, 4)),
        lambda a, b: TF.cosine_similarity(t(a), t(b)),
        "cos-mixed-dtypes",
        rtol=1e-3,
    ),
    Sample(
        lambda a, b: F.cosine_similarity(a, b),
        (r(0, 4), r(0, 4)),
        lambda a, b: TF.cosine_similarity(t(a), t(b)),
        "cos-size-0",
    ),
    Sample(
        lambda a, b: F.pairwise_distance(a, b),
        (r(5, 4), r(5, 4)),
        lambda a, b: TF.pairwise_distance(t(a), t(b)),
        "pdist",
    ),
    Sample(
        lambda a, b: F.pairwise_distance(a, b, p=1.0, keepdim=True),
        (r(3, 1, 4), r(5, 4)),
        lambda a, b: TF.pairwise_distance(t(a), t(b), p=1.0, keepdim=True),
        "pdist-l1-bcast",
    ),
    Sample(
        lambda a, b: F.pairwise_distance(a, b, p=float("inf")),
        (r(3, 4), r(3, 4)),
        lambda a, b: TF.pairwise_distance(t(a), t(b), p=float("inf")),
        "pdist-inf",
    ),
    Sample(
        lambda a, b: F.pairwise_distance(a, b, p=0.0),
        (r(3, 4), r(3, 4)),
        lambda a, b: TF.pairwise_distance(t(a), t(b), p=0.0),
        "pdist-p0",
    ),
    Sample(
        lambda a, b: F.pairwise_distance(a, b, p=-1.0),
        (r(3, 4), r(3, 4)),
        lambda a, b: TF.pairwise_distance(t(a), t(b), p=-1.0),
        "pdist-negative-p",
    ),
    Sample(
        lambda a, b: F.pairwise_distance(a, b),
        (np.arange(4, dtype=np.int32), r(4)),
        lambda a, b: TF.pairwise_distance(t(a), t(b)),
        "pdist-1d-int-and-float",
    ),
    Sample(
        lambda a, b: F.pairwise_distance(a, b),
        (r(0, 4), r(0, 4)),
        lambda a, b: TF.pairwise_distance(t(a), t(b)),
        "pdist-size-0",
    ),
    Sample(
        lambda i, w: F.embedding(i, w),
        (IDX, r(6, 3)),
        lambda i, w: TF.embedding(t(i).long(), t(w)),
        "embedding",
    ),
    Sample(
        lambda i, w: F.embedding(i, w),
        (IDX[:, :0], r(6, 3)),
        lambda i, w: TF.embedding(t(i).long(), t(w)),
        "embedding-size-0",
    ),
    # grad=False: padding rows, renorm and frequency scaling follow PyTorch's gradient rules
    # (no gradient / identity through the renorm / 1/count), not the forward's derivative
    Sample(
        lambda i, w: F.embedding(i, w, padding_idx=-3, max_norm=1.0),
        (IDX, r(6, 3)),
        lambda i, w: TF.embedding(t(i).long(), t(w).clone(), padding_idx=-3, max_norm=1.0),
        "embedding-padding-max-norm",
        grad=False,
    ),
    Sample(
        lambda i, w: F.embedding_bag(i, w, mode="max"),
        (IDX, r(6, 3)),
        lambda i, w: TF.embedding_bag(t(i).long(), t(w), mode="max"),
        "bag-2d-max",
    ),
    Sample(
        lambda i, w, o: F.embedding_bag(i, w, o),
        (BAG_IDX, r(6, 3), OFFSETS),
        lambda i, w, o: TF.embedding_bag(t(i).long(), t(w), t(o).long()),
        "bag-offsets-mean",
    ),
    Sample(
        lambda i, w, o, p: F.embedding_bag(i, w, o, mode="sum", per_sample_weights=p),
        (BAG_IDX, r(6, 3), OFFSETS, r(9)),
        lambda i, w, o, p: TF.embedding_bag(
            t(i).long(), t(w), t(o).long(), mode="sum", per_sample_weights=t(p)
        ),
        "bag-per-sample-weights",
    ),
    Sample(
        lambda i: F.one_hot(i, 7), (IDX,), lambda i: TF.one_hot(t(i).long(), 7).int(), "one-hot"
    ),
    Sample(
        lambda i: F.one_hot(i, 3),
        (np.array([0, 2, 5, -1], np.int32),),
        lambda i: np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]], np.int32),
        "one-hot-out-of-range-rows-are-zero",
    ),
]

ERRORS = [
    ErrorSample(
        lambda x: F.batch_norm(x, None, None),
        (r(4, 3),),
        ShapeError,
        "must be given when training=False",
    ),
    ErrorSample(
        lambda x, w: F.batch_norm(x, None, None, w, training=True),
        (r(4, 3), r(4)),
        ShapeError,
        r"weight of shape \(4,\) does not match the 3 channels",
    ),
    ErrorSample(
        lambda x: F.batch_norm(x, None, None, training=True),
        (r(4),),
        ShapeError,
        r"expected an input of shape \(N, C, \*\), got \(4,\)",
    ),
    ErrorSample(
        lambda x: F.batch_norm(x, None, None, training=True, eps=0.0),
        (r(4, 3),),
        ValueError,
        "eps must be positive",
    ),
    ErrorSample(lambda x: F.instance_norm(x), (r(4, 3),), ShapeError, r"\(N, C, \*spatial\)"),
    ErrorSample(
        lambda x: F.instance_norm(x, use_input_stats=False),
        (r(2, 3, 4),),
        ShapeError,
        "must be given",
    ),
    ErrorSample(
        lambda x: F.group_norm(x, 4), (r(2, 6, 3),), ShapeError, "num_groups=4 equal groups"
    ),
    ErrorSample(lambda x: F.local_response_norm(x, 3), (r(2, 3),), ShapeError, "3 or more dims"),
    ErrorSample(lambda x: F.normalize(x, dim=2), (r(2, 3),), ShapeError, "dim=2 is out of range"),
    ErrorSample(
        lambda a, b: F.cosine_similarity(a, b),
        (r(2, 3), r(2, 4)),
        ShapeError,
        r"cosine_similarity: shapes \(2, 3\) and \(2, 4\)",
    ),
    ErrorSample(
        lambda a, b: F.pairwise_distance(a, b),
        (r(3, 4), r(2, 4)),
        ShapeError,
        "pairwise_distance: shapes",
    ),
    ErrorSample(
        lambda i, w: F.embedding(i, w),
        (r(2, 3), r(6, 3)),
        DTypeError,
        "indices must be an integer tensor, got float32",
    ),
    ErrorSample(
        lambda i, w: F.embedding(i, w), (IDX, r(6, 3, 1)), ShapeError, "weight must be 2-D"
    ),
    ErrorSample(
        lambda i, w: F.embedding(i, w, padding_idx=6),
        (IDX, r(6, 3)),
        ValueError,
        "must be within num_embeddings=6",
    ),
    ErrorSample(
        lambda i, w, o: F.embedding_bag(i, w, o),
        (IDX, r(6, 3), OFFSETS),
        ShapeError,
        "offsets has to be None",
    ),
    ErrorSample(
        lambda i, w: F.embedding_bag(i, w), (BAG_IDX, r(6, 3)), ShapeError, "needs offsets"
    ),
    ErrorSample(
        lambda i, w: F.embedding_bag(i, w),
        (IDX.reshape(2, 2, 2), r(6, 3)),
        ShapeError,
        "1-D or 2-D",
    ),
    ErrorSample(
        lambda i, w, p: F.embedding_bag(i, w, per_sample_weights=p),
        (IDX, r(6, 3), r(2, 4)),
        UnsupportedOpError,
        "only supported for mode='sum'",
    ),
    ErrorSample(
        lambda i, w, p: F.embedding_bag(i, w, mode="sum", per_sample_weights=p),
        (IDX, r(6, 3), r(4, 2)),
        ShapeError,
        "same shape as the input",
    ),
    ErrorSample(
        lambda i, w: F.embedding_bag(i, w, mode="median"),
        (IDX, r(6, 3)),
        ValueError,
        "one of sum, mean or max",
    ),
    ErrorSample(lambda i: F.one_hot(i), (IDX,), TraceError, "pass num_classes explicitly"),
    ErrorSample(lambda x: F.one_hot(x, 3), (r(3),), DTypeError, "integer"),
]


def _ids(items):
    return [getattr(s, "name", "") or f"error{k}" for k, s in enumerate(items)]


@pytest.mark.parametrize("sample", SAMPLES, ids=_ids(SAMPLES))
def test_forward_matches_torch(sample):
    graph = verify(trace_sample(sample.fn, sample.args))
    (got,) = run_graph(graph, sample.args)
    want = sample.ref(*sample.args)
    want = np.asarray(want.detach().numpy() if hasattr(want, "detach") else want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want.astype(got.dtype), rtol=sample.rtol, atol=sample.atol)


@pytest.mark.parametrize("sample", SAMPLES, ids=_ids(SAMPLES))
def test_inferred_types_match_eval_shape(sample):
    check_types_against_jax(trace_sample(sample.fn, sample.args))


GRAD_SAMPLES = [s for s in SAMPLES if s.grad]


def _first_per_family_by_default(samples: list) -> list:
    """The first gradient sample of each family (`bn`, `gn`, `bag`, ...: the name before its
    first '-') runs by default; the others are in the slow tier that CI also runs."""
    seen, params = set(), []
    for sample, name in zip(samples, _ids(samples), strict=True):
        family = name.split("-")[0]
        params.append(
            pytest.param(sample, marks=(pytest.mark.slow,) if family in seen else (), id=name)
        )
        seen.add(family)
    return params


@pytest.mark.parametrize("sample", _first_per_family_by_default(GRAD_SAMPLES))
def test_gradients_float64(sample):
    with jax.enable_x64(True):
        args = tuple(
            a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a for a in sample.args
        )
        which = tuple(i for i, a in enumerate(args) if np.issubdtype(a.dtype, np.floating))
        if not which or any(a.size == 0 for a in args):
            pytest.skip("no float inputs or an empty input")
        lowered = lower(trace_sample(sample.fn, args))

        def f(*diff):
            full = list(args)
            for i, d in zip(which, diff, strict=True):
                full[i] = d
            (out,), _ = lowered.fn([], [], full, None)
            return jax.numpy.sum(out * jax.numpy.cos(jax.numpy.arange(out.size).reshape(out.shape)))

        check_grads(f, tuple(args[i] for i in which), order=1, modes=("rev",), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("err", ERRORS, ids=_ids(ERRORS))
def test_bad_inputs_raise_documented_error(err):
    with pytest.raises(err.error, match=err.match):
        trace_sample(err.fn, err.args)


def test_normalize_of_a_zero_row_has_a_finite_gradient_like_torch():
    x = np.array([[0, 0, 0], [1, 2, 2]], np.float32)
    lowered = lower(trace_sample(lambda a: F.normalize(a, dim=-1), (x,)))
    grad = jax.grad(lambda a: lowered.fn([], [], [a], None)[0][0].sum())(x)
    tx = t(x).requires_grad_()
    TF.normalize(tx, dim=-1).sum().backward()
    np.testing.assert_allclose(np.asarray(grad), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
