"""Sharding cases, run in a subprocess with 8 virtual CPU devices (tests/test_sharding.py).

`python tests/sharding_cases.py CASE...` runs each case (a function below); a failed
assertion exits non-zero with its traceback. The rest of the suite keeps one device.
"""

from __future__ import annotations

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("EMBER_VERIFY", "1")
sys.path.insert(0, os.path.dirname(__file__))

import tempfile  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import port_models as pm  # noqa: E402
import pytest  # noqa: E402

import ember as em  # noqa: E402
import ember.nn.functional as F  # noqa: E402
from ember import nn, optim  # noqa: E402

STEPS = 20
RTOL = 1e-5
GPT = pm.GPTConfig(block_size=16, vocab_size=64, n_layer=2, n_head=4, n_embd=32)
GPT_RULES = {
    "*.attn.c_attn.weight": ("model", None),  # column parallel: heads split over `model`
    "*.attn.c_attn.bias": ("model",),
    "*.attn.c_proj.weight": (None, "model"),  # row parallel: all-reduced output
    "*.mlp.c_fc.weight": ("model", None),
    "*.mlp.c_fc.bias": ("model",),
    "*.mlp.c_proj.weight": (None, "model"),
}
MLP_RULES = {"fc1.weight": ("model", None), "fc1.bias": ("model",), "fc2.weight": (None, "model")}


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(24, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(em.relu(self.fc1(x)))


def mlp_run(**options):
    em.manual_seed(0)
    net = MLP()
    model = em.compile(
        net,
        loss=nn.CrossEntropyLoss(),
        optimizer=optim.Adam(net.parameters(), lr=1e-2),
        **options,
    )
    rng = np.random.default_rng(0)
    teacher = rng.standard_normal((24, 10))
    losses = []
    for _ in range(STEPS):
        x = rng.standard_normal((32, 24)).astype("float32")
        y = (x @ teacher).argmax(1)
        losses.append(float(model.train_step(x, y)["loss"]))
    return model, net, losses


def gpt_run(**options):
    em.manual_seed(0)
    net = pm.define_gpt(em, nn, F)(GPT)
    # SGD: Adam would turn round-off in near-zero gradients (the key rows of c_attn have an
    # exactly zero true gradient in their bias) into visible differences; AdamW's sharded
    # state is covered by the MLP and the checkpoint case
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    model = em.compile(net, loss=None, output=1, optimizer=opt, **options)
    rng = np.random.default_rng(1)
    batches = [rng.integers(0, GPT.vocab_size, (8, GPT.block_size + 1)) for _ in range(2)]
    losses = []
    for step in range(STEPS):
        data = batches[step % 2]
        losses.append(float(model.train_step((data[:, :-1], data[:, 1:]))["loss"]))
    return model, net, losses


def assert_same_run(reference, run, what, atol=1e-6):
    _, ref_net, ref_losses = reference
    _, net, losses = run
    np.testing.assert_allclose(losses, ref_losses, rtol=RTOL, err_msg=f"{what}: losses")
    assert losses[-1] < losses[0], f"{what}: did not train: {losses}"
    ref_state = ref_net.state_dict()
    for name, value in net.state_dict().items():
        mine, theirs = np.asarray(value), np.asarray(ref_state[name])
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=atol, err_msg=f"{what} {name}")


def laid_out(array, spec, mesh) -> bool:
    want = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec))
    return array.sharding.is_equivalent_to(want, array.ndim)


def strategies(rules):
    return {
        "dp": dict(mesh=em.mesh(data=8)),
        "fsdp": dict(mesh=em.mesh(fsdp=8), sharding="fsdp"),
        "tp": dict(mesh=em.mesh(data=2, model=4), sharding=rules),
        "tp+fsdp": dict(mesh=em.mesh(data=2, model=4), sharding=("fsdp", rules)),
    }


def case_mlp_trajectories():
    reference = mlp_run(mesh=False)
    assert reference[0].mesh is None
    for name, options in strategies(MLP_RULES).items():
        assert_same_run(reference, mlp_run(**options), f"MLP {name}")


def case_gpt_trajectories():
    reference = gpt_run(mesh=False)
    for name, options in strategies(GPT_RULES).items():
        run = gpt_run(**options)
        assert_same_run(reference, run, f"GPT {name}")
        if name == "tp":
            weight = run[0].state["params"]["transformer.h.0.attn.c_attn.weight"]
            assert laid_out(weight, ("model", None), run[0].mesh)
            text = str(run[0].graph("train", (np.zeros((8, 16), "int32"),) * 2))
            assert 'meta{sharding=["data", null, "model"]}' in text  # column-parallel output


def case_gpt_scan_layers():
    """Scan over layers under every strategy: the stacked per-layer weights keep their
    layouts and the run matches the unrolled one-device run."""
    reference = gpt_run(mesh=False)
    for name, options in strategies(GPT_RULES).items():
        run = gpt_run(scan_layers=True, **options)
        assert_same_run(reference, run, f"GPT scan_layers {name}")
        text = str(run[0].graph("train", (np.zeros((8, 16), "int32"),) * 2))
        assert text.count(" = scan(") == 1, text


def case_fsdp_memory():
    for model, _, _ in (mlp_run(mesh=em.mesh(fsdp=8), sharding="fsdp"), gpt_run(sharding="fsdp")):
        state = model.state
        leaves = jax.tree_util.tree_leaves((state["params"], state["opt_state"]))
        sharded = 0
        for leaf in leaves:
            if leaf.size >= 8 and any(s % 8 == 0 for s in leaf.shape):
                sharded += 1
                sizes = {shard.data.size for shard in leaf.addressable_shards}
                assert sizes == {leaf.size // 8}, (leaf.shape, leaf.sharding, sizes)
                assert len(leaf.addressable_shards) == 8
        assert sharded >= 6
        per_device = model.state_bytes_per_device()
        assert len(set(per_device.values())) == 1  # balanced


def case_sync_batchnorm_uses_the_whole_batch():
    """BatchNorm statistics on a batch split over 8 devices are the whole batch's (what
    PyTorch's SyncBatchNorm does), so the run equals the one-device run."""

    def run(**options):
        em.manual_seed(0)
        net = nn.SyncBatchNorm.convert_sync_batchnorm(
            nn.Sequential(nn.Linear(24, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
        )
        model = em.compile(
            net,
            loss=nn.CrossEntropyLoss(),
            optimizer=optim.SGD(net.parameters(), lr=0.1),
            **options,
        )
        rng = np.random.default_rng(0)
        teacher = rng.standard_normal((24, 10))
        losses = []
        for _ in range(STEPS):
            # rows scaled by position: each device's slice has different statistics
            x = (rng.standard_normal((32, 24)) * np.arange(1, 33)[:, None]).astype("float32")
            losses.append(float(model.train_step(x, (x @ teacher).argmax(1))["loss"]))
        return model, net, losses

    assert_same_run(run(mesh=False), run(mesh=em.mesh(data=8)), "SyncBatchNorm dp", atol=1e-5)


def case_default_is_data_parallel():
    model, _, losses = mlp_run()
    assert model.mesh is not None and dict(model.mesh.shape) == {"data": 8}
    x = model.state["params"]["fc1.weight"]
    assert x.sharding.is_fully_replicated and len(x.sharding.device_set) == 8


def case_fit_eval_predict():
    """fit with a ragged evaluation tail, steps_per_execution, predict: as on one device."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((200, 24)).astype("float32")
    y = rng.integers(0, 10, 200)
    results = []
    for options in (dict(mesh=False), dict(sharding="fsdp", steps_per_execution=3)):
        em.manual_seed(0)
        net = MLP()
        model = em.compile(
            net,
            nn.CrossEntropyLoss(),
            optim.SGD(net.parameters(), lr=0.1),
            ["accuracy"],
            **options,
        )
        history = model.fit(x, y, batch_size=40, epochs=2, verbose=0, validation_data=(x, y))
        evaluated = model.evaluate(x[:37], y[:37], batch_size=16, verbose=0)  # tails of 5
        predicted = np.asarray(model.predict(x[:13]))
        results.append((history["loss"], history["val_accuracy"], evaluated, predicted))
    (h0, a0, e0, p0), (h1, a1, e1, p1) = results
    np.testing.assert_allclose(h1, h0, rtol=RTOL)
    np.testing.assert_allclose(a1, a0, rtol=RTOL)
    np.testing.assert_allclose(e1["loss"], e0["loss"], rtol=RTOL)
    np.testing.assert_allclose(p1, p0, rtol=RTOL, atol=1e-6)


def case_checkpoint_across_meshes():
    with tempfile.TemporaryDirectory() as tmp:
        model, net, _ = gpt_run(sharding="fsdp")
        model.save_checkpoint(tmp)
        saved = {k: np.asarray(v) for k, v in net.state_dict().items()}
        saved_opt = [np.asarray(v) for v in jax.tree_util.tree_leaves(model.state["opt_state"])]
        for options in (dict(mesh=False), dict(mesh=em.mesh(data=2, model=4), sharding=GPT_RULES)):
            em.manual_seed(5)  # different initial values: the restore must replace them all
            other = pm.define_gpt(em, nn, F)(GPT)
            opt = optim.SGD(other.parameters(), lr=0.1, momentum=0.9)
            restored = em.compile(other, loss=None, output=1, optimizer=opt, **options)
            restored.restore_checkpoint(tmp)
            assert restored.step == STEPS
            for k, v in other.state_dict().items():
                np.testing.assert_array_equal(np.asarray(v), saved[k], err_msg=k)
            leaves = jax.tree_util.tree_leaves(restored.state["opt_state"])
            for a, b in zip(leaves, saved_opt, strict=True):
                np.testing.assert_array_equal(np.asarray(a), b)
            if options.get("sharding"):
                weight = restored.state["params"]["transformer.h.0.attn.c_attn.weight"]
                assert laid_out(weight, ("model", None), restored.mesh)
            data = np.random.default_rng(9).integers(0, GPT.vocab_size, (8, GPT.block_size + 1))
            assert np.isfinite(float(restored.train_step((data[:, :-1], data[:, 1:]))["loss"]))


def case_errors():
    net = MLP()
    opt = optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(em.ShapeError, match=r"fc2\.weight.*\(10, 64\).*'model'.*size 4"):
        em.compile(
            net,
            nn.MSELoss(),
            opt,
            mesh=em.mesh(data=2, model=4),
            sharding={"fc2.weight": ("model", None)},
        )
    with pytest.raises(ValueError, match=r"mesh axis 'tensor'.*\['data', 'model'\]"):
        em.compile(
            net,
            nn.MSELoss(),
            opt,
            mesh=em.mesh(data=2, model=4),
            sharding={"fc1.weight": ("tensor", None)},
        )
    with pytest.raises(em.ShapeError, match=r"has 1 entries but parameter fc1\.weight"):
        em.compile(
            net,
            nn.MSELoss(),
            opt,
            mesh=em.mesh(data=2, model=4),
            sharding={"fc1.weight": ("model",)},
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        em.compile(
            net,
            nn.MSELoss(),
            opt,
            mesh=em.mesh(data=2, model=4),
            sharding={"fc1.weight": ("model", None), "*.attn.qkv.weight": ("model", None)},
        )
    assert any("'*.attn.qkv.weight'" in str(w.message) for w in caught), caught
    model = em.compile(net, nn.CrossEntropyLoss(), opt, mesh=em.mesh(data=8))
    with pytest.raises(em.ShapeError, match=r"12 examples.*8 data-parallel.*multiple of 8"):
        model.train_step(np.zeros((12, 24), "float32"), np.zeros(12, "int32"))
    with pytest.raises(ValueError, match="needs 6 devices, there are 8"):
        em.mesh(data=2, model=3)
    before = np.asarray(net.fc1.weight)
    np.testing.assert_array_equal(np.asarray(net.fc1.weight), before)  # nothing lost


if __name__ == "__main__":
    assert jax.device_count() == 8, jax.devices()
    for case in sys.argv[1:]:
        globals()[case]()
        print(f"ok {case}", flush=True)
