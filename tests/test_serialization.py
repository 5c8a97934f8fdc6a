"""em.save / em.load and safetensors interop: round trips, PyTorch both ways, atomic
writes, hostile files (never a foreign exception, never code execution), modules refused."""

from __future__ import annotations

import json
import math
import os
import pathlib
import pickle
import struct
from collections import OrderedDict

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file as torch_load_file
from safetensors.torch import save_file as torch_save_file

from ember import nn
from ember import serialization as ser
from ember.errors import CheckpointError, StateDictError
from ember.nn.parameter import Parameter
from ember.safetensors_reader import DTYPE_TO_CODE

DTYPES = [
    np.float16,
    ml_dtypes.bfloat16,
    np.float32,
    np.float64,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.bool_,
]


def _arrays():
    rng = np.random.default_rng(0)
    out = {}
    for dt in DTYPES:
        name = np.dtype(dt).name
        if np.dtype(dt) == np.bool_:
            out[name] = rng.random((2, 3)) > 0.5
        elif np.issubdtype(np.dtype(dt), np.integer):
            info = np.iinfo(dt)
            out[name] = np.array([[info.min, 0, info.max], [1, -1 if info.min < 0 else 2, 3]], dt)
        else:
            out[name] = np.array([[1.5, -0.0, np.inf], [np.nan, 3.25, -2.0]], dt)
    return out


def _same(a, b):
    """Same type, dtype, shape and bits (so NaN and -0.0 compare exactly)."""
    assert type(a) is type(b), (type(a), type(b))
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def _assert_tree_equal(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_tree_equal(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_tree_equal(x, y)
    elif isinstance(a, np.ndarray | np.generic):
        _same(a, b)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


# -- round trips ------------------------------------------------------------------------


def test_round_trip_nested_every_dtype_and_plain_values(tmp_path):
    obj = {
        "model": _arrays(),
        "numbers": [0, -7, 2**70, 1.0, 0.1, -0.0, float("inf"), float("-inf"), float("nan")],
        "text": ["", "héllo ✓", "a.b/c"],
        "flags": (True, False, None),
        7: {"int key": 1},
        "empty": ({}, [], (), OrderedDict()),
        "ordered": OrderedDict([("b", 1), ("a", np.arange(3, dtype=np.int32))]),
        "scalars": [np.float32(2.5), np.int64(-3), np.bool_(True)],
        "shapes": [np.zeros(()), np.zeros((0, 4), np.float32), np.ones((1, 1, 1), np.int8)],
        "views": [np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2], np.arange(3, dtype=">i4")],
    }
    path = tmp_path / "ckpt.safetensors"
    ser.save(obj, path)
    back = ser.load(path)
    expected = dict(obj)
    expected["views"] = [
        np.ascontiguousarray(v).astype(v.dtype.newbyteorder("=")) for v in obj["views"]
    ]
    _assert_tree_equal(expected, back)
    assert all(v.flags.writeable for v in back["model"].values())


def test_round_trip_jax_torch_and_parameter_leaves(tmp_path):
    param = Parameter(np.arange(6, dtype=np.float32).reshape(2, 3))
    obj = {
        "jax_bf16": jnp.arange(4, dtype=jnp.bfloat16),
        "jax_f32": jnp.ones((2, 2)),
        "torch_bf16": torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
        "torch_param": torch.nn.Parameter(torch.ones(3)),  # requires_grad: detached
        "torch_i64": torch.tensor([1, 2], dtype=torch.int64),
        "ember_param": param,
    }
    path = tmp_path / "mixed.safetensors"
    ser.save(obj, path)
    back = ser.load(path, map_location="cpu", weights_only=False)
    assert back["jax_bf16"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(back["jax_bf16"].astype(np.float32), [0, 1, 2, 3])
    _same(back["torch_bf16"], np.array([1.5, -2.0], ml_dtypes.bfloat16))
    _same(back["torch_param"], np.ones(3, np.float32))
    _same(back["torch_i64"], np.array([1, 2], np.int64))
    _same(back["ember_param"], param.numpy())


def test_flat_state_dict_file_is_a_plain_safetensors_file(tmp_path):
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    path = tmp_path / "net.safetensors"
    ser.save(net.state_dict(), path)
    assert list(ser.load(path)) == list(net.state_dict())  # module order kept
    assert set(torch_load_file(path)) == set(net.state_dict())
    assert set(ser.load_safetensors(path)) == set(net.state_dict())


# -- PyTorch interop ------------------------------------------------------------------


def _torch_net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-0.5, 0.5)
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
        net[1].num_batches_tracked.fill_(7)
    return net.eval()


def test_torch_file_loads_into_ember_module(tmp_path):
    tnet = _torch_net()
    path = tmp_path / "torch.safetensors"
    torch_save_file(tnet.state_dict(), path)
    sd = ser.load_safetensors(path)
    assert sd["1.num_batches_tracked"].dtype == np.int64  # stored dtype kept

    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).eval()
    net.load_state_dict(sd)
    ours = net.state_dict()
    for k, v in tnet.state_dict().items():
        np.testing.assert_array_equal(ours[k], v.numpy())
    assert ours["1.num_batches_tracked"].dtype == np.int32  # cast to ember's buffer dtype

    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    with torch.no_grad():
        expected = tnet(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(net(x), expected, rtol=1e-5, atol=1e-6)
    # em.load reads the same plain file as a flat dict
    assert set(ser.load(path)) == set(sd)


@pytest.mark.parametrize("writer", ["save_safetensors", "save"])
def test_ember_file_loads_into_torch_module(tmp_path, writer):
    tnet = _torch_net()
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).eval()
    net.load_state_dict({k: v.numpy() for k, v in tnet.state_dict().items()})
    path = tmp_path / "ember.safetensors"
    getattr(ser, writer)(net.state_dict(), path)

    fresh = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).eval()
    sd = torch_load_file(path)
    assert sd["1.num_batches_tracked"].dtype == torch.int32
    fresh.load_state_dict(sd)  # torch casts int32 -> its int64 buffer
    assert fresh[1].num_batches_tracked.item() == 7

    x = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    with torch.no_grad():
        got = fresh(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, net(x), rtol=1e-5, atol=1e-6)


def test_bfloat16_interop_both_ways(tmp_path):
    t = torch.tensor([[1.0, -2.5, 3.140625]], dtype=torch.bfloat16)
    torch_save_file({"w": t}, tmp_path / "t.safetensors")
    w = ser.load_safetensors(tmp_path / "t.safetensors")["w"]
    assert w.dtype == ml_dtypes.bfloat16
    assert w.view(np.int16).tobytes() == t.view(torch.int16).numpy().tobytes()

    ser.save_safetensors({"w": w}, tmp_path / "e.safetensors", metadata={"format": "pt"})
    back = torch_load_file(tmp_path / "e.safetensors")["w"]
    assert back.dtype == torch.bfloat16 and torch.equal(back, t)
    with safe_open(tmp_path / "e.safetensors", framework="np") as f:
        assert f.metadata() == {"format": "pt"}


def test_failed_load_state_dict_leaves_module_unchanged(tmp_path):
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    before = net.state_dict()
    wrong = {k: np.ones_like(v) for k, v in before.items()}
    wrong["0.weight"] = np.ones((3, 5), np.float32)  # a (3, 5) Linear's weight
    ser.save_safetensors(wrong, tmp_path / "wrong.safetensors")
    with pytest.raises(StateDictError, match=r"0\.weight.*\(3, 5\).*\(3, 4\)"):
        net.load_state_dict(ser.load_safetensors(tmp_path / "wrong.safetensors"))
    after = net.state_dict()
    for k in before:
        _same(before[k], after[k])


def test_save_safetensors_refuses_what_is_not_a_flat_array_dict(tmp_path):
    path = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match="em.save"):
        ser.save_safetensors({"a": {"b": np.zeros(2)}}, path)
    with pytest.raises(TypeError, match="em.save"):
        ser.save_safetensors({"lr": 0.1}, path)
    with pytest.raises(TypeError, match="not usable as a tensor name"):
        ser.save_safetensors({0: np.zeros(2)}, path)
    with pytest.raises(TypeError, match="str -> str"):
        ser.save_safetensors({"a": np.zeros(2)}, path, metadata={"epoch": 3})
    with pytest.raises(TypeError, match="dtype complex128"):  # the format has C64 only
        ser.save_safetensors({"a": np.zeros(2, np.complex128)}, path)
    assert not path.exists()


# -- atomic writes ------------------------------------------------------------------------


def test_crash_before_rename_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    ser.save({"w": np.arange(3.0), "step": 1}, path)
    old_bytes = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        ser.save({"w": np.zeros(1000), "step": 2}, path)
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    assert ser.load(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors"]


def test_crash_while_writing_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    ser.save({"step": 1}, path)

    def half_write(tensors, filename, metadata=None):
        pathlib.Path(filename).write_bytes(b"\x10\x00\x00")
        raise KeyboardInterrupt

    monkeypatch.setattr(ser, "save_file", half_write)
    with pytest.raises(KeyboardInterrupt):
        ser.save({"step": 2}, path)
    assert ser.load(path) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]


def test_new_file_permissions_and_missing_directory(tmp_path):
    ser.save({"a": 1}, tmp_path / "a.safetensors")
    (tmp_path / "ref").write_bytes(b"")
    assert os.stat(tmp_path / "a.safetensors").st_mode == os.stat(tmp_path / "ref").st_mode
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ser.save({"a": 1}, tmp_path / "nope" / "a.safetensors")


# -- hostile files --------------------------------------------------------------------


def _raw(path, header, data=b"", length=None):
    body = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(body) if length is None else length) + body + data)
    return path


def _small_file(tmp_path):
    path = tmp_path / "small.safetensors"
    ser.save({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, "x"], 3: None}, path)
    return path


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere"):
        ser.load(tmp_path / "nothere.safetensors")
    with pytest.raises(FileNotFoundError, match="nothere"):
        ser.load_safetensors(tmp_path / "nothere.safetensors")


def test_truncated_file_at_every_length(tmp_path):
    good = _small_file(tmp_path).read_bytes()
    path = tmp_path / "cut.safetensors"
    for cut in range(len(good)):
        path.write_bytes(good[:cut])
        for reader in (ser.load, ser.load_safetensors):
            with pytest.raises(CheckpointError, match=r"cut\.safetensors.*(truncated|JSON)"):
                reader(path)


def test_a_bit_flip_anywhere_in_the_header_is_detected(tmp_path):
    """One flipped bit per header byte (cycling through the 8 bit positions; all 8 bits
    in the length field): the checksum, JSON and offset checks catch every one."""
    good = _small_file(tmp_path).read_bytes()
    n = struct.unpack("<Q", good[:8])[0]
    path = tmp_path / "flip.safetensors"
    flips = [(i, b) for i in range(8) for b in range(8)] + [(i, i % 8) for i in range(8, 8 + n)]
    for i, bit in flips:
        bad = bytearray(good)
        bad[i] ^= 1 << bit
        path.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match="flip.safetensors"):
            ser.load(path)


def test_bit_flips_in_a_plain_file_header(tmp_path):
    path = tmp_path / "plain.safetensors"
    torch_save_file({"weight": torch.ones(2, 3)}, path)
    good = path.read_bytes()
    for old, new, match in [
        (b'"F32"', b'"F33"', "dtype 'F33'"),
        (b'"F32"', b'"F16"', "span 24 bytes"),
        (b"[2,3]", b"[2,2]", "span 24 bytes"),
        (b"[0,24]", b"[0,25]", "span 25 bytes"),
        (b'{"weight"', b'{"weight\x00', "not valid JSON"),
        (b'{"weight"', b'\x7b"weight\xff', "not valid JSON"),
    ]:
        assert old in good
        path.write_bytes(good.replace(old, new, 1))
        with pytest.raises(CheckpointError, match=match):
            ser.load_safetensors(path)


@pytest.mark.parametrize(
    "length, match",
    [
        (2**64 - 1, "over the 100000000-byte limit"),
        (10**9, "over the 100000000-byte limit"),
        (10**6, "says 1000000 bytes but only"),
    ],
)
def test_oversized_header_length(tmp_path, length, match):
    path = _raw(tmp_path / "big.safetensors", {"a": {}}, length=length)
    with pytest.raises(CheckpointError, match=match):
        ser.load(path)


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    "header, data, match",
    [
        ({"a": {**F32, "data_offsets": [0, 16]}, "b": F32}, b"\0" * 8, "span 16 bytes"),
        ({"a": {**F32, "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, "truncated"),
        ({"a": F32, "b": {**F32, "data_offsets": [4, 12]}}, b"\0" * 12, "overlaps"),
        ({"a": {**F32, "data_offsets": [8, 16]}}, b"\0" * 16, "leaves a gap"),
        ({"a": F32}, b"\0" * 12, "4 unexpected bytes"),
        ({"a": {**F32, "dtype": "F8_E4M3"}}, b"\0" * 8, "dtype 'F8_E4M3'"),
        ({"a": {**F32, "dtype": "O"}}, b"\0" * 8, "dtype 'O'"),
        ({"a": {**F32, "shape": [-2]}}, b"\0" * 8, "invalid shape"),
        ({"a": {**F32, "shape": [2.0]}}, b"\0" * 8, "invalid shape"),
        ({"a": {**F32, "shape": [True, 2]}}, b"\0" * 8, "invalid shape"),
        ({"a": {**F32, "shape": [2**40, 2**40]}}, b"\0" * 8, "span 8 bytes"),
        ({"a": {**F32, "data_offsets": [8, 0]}}, b"\0" * 8, "invalid data_offsets"),
        ({"a": {**F32, "data_offsets": "0-8"}}, b"\0" * 8, "invalid data_offsets"),
        ({"a": {**F32, "extra": 1}}, b"\0" * 8, "exactly dtype, shape and data_offsets"),
        ({"a": [1, 2]}, b"", "exactly dtype, shape and data_offsets"),
        ({"__metadata__": {"k": 1}}, b"", "strings to strings"),
        ([1, 2, 3], b"", "JSON list, not an object"),
        (b'{"a": {}, "a": {}}', b"", "duplicate key 'a'"),
        (b"[" * 100_000, b"", "not valid JSON"),
    ],
)
def test_header_that_lies(tmp_path, header, data, match):
    path = _raw(tmp_path / "lies.safetensors", header, data)
    for reader in (ser.load, ser.load_safetensors):
        with pytest.raises(CheckpointError, match=match):
            reader(path)


def _ember_file(path, root, tensors, version=1):
    structure = json.dumps({"version": version, "root": root})
    table = {k: [DTYPE_TO_CODE[v.dtype], list(v.shape)] for k, v in tensors.items()}
    meta = {"ember": structure, "ember_sha256": ser._digest(structure, table)}
    header, data = {"__metadata__": meta}, b""
    for k, v in tensors.items():
        header[k] = {
            "dtype": table[k][0],
            "shape": table[k][1],
            "data_offsets": [len(data), len(data) + v.nbytes],
        }
        data += v.tobytes()
    return _raw(path, header, data)


@pytest.mark.parametrize(
    "root, match",
    [
        ({"array": "missing"}, "missing or reused tensor 'missing'"),
        ({"list": [{"array": "w"}, {"array": "w"}]}, "reused tensor 'w'"),
        ({"dict": []}, r"\['w'\] are not referenced"),
        ({"set": [{"array": "w"}]}, "unknown node 'set'"),
        ({"list": [[1, 2], {"array": "w"}]}, "unexpected node"),
        ({"dict": [[{"array": "w"}, 1]]}, "invalid dict key"),
        ({"dict": [["a"]]}, "not a \\[key, value\\] pair"),
        ({"array": "w", "scalar": True}, "scalar 'w' has shape"),
        ({"float": "1e999"}, "unknown node 'float'"),
        ({"__reduce__": ["os.system", "touch pwned"]}, "unknown node '__reduce__'"),
    ],
)
def test_ember_structure_that_lies(tmp_path, root, match):
    path = _ember_file(tmp_path / "s.safetensors", root, {"w": np.zeros(2, np.float32)})
    with pytest.raises(CheckpointError, match=match):
        ser.load(path)


def test_future_version_and_missing_checksum(tmp_path):
    path = _ember_file(tmp_path / "v.safetensors", None, {}, version=99)
    with pytest.raises(CheckpointError, match="version 99"):
        ser.load(path)
    path = _raw(tmp_path / "nosum.safetensors", {"__metadata__": {"ember": '{"version":1}'}})
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        ser.load(path)


class _Evil:
    """Unpickling this creates the marker file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickle_payload_renamed_safetensors_is_never_executed(tmp_path, protocol):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"weight": _Evil(marker)}, protocol=protocol)
    path = tmp_path / "model.safetensors"
    path.write_bytes(payload)
    for reader in (ser.load, ser.load_safetensors):
        with pytest.raises(CheckpointError, match="model.safetensors"):
            reader(path)
    assert not marker.exists()
    pickle.loads(payload)  # the control: this payload does run code when unpickled
    assert marker.exists()


def test_pickle_and_torch_save_files_get_a_conversion_hint(tmp_path):
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(CheckpointError, match="Python pickle.*never unpickles.*save_file"):
        ser.load(path)
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "t.pt")
    with pytest.raises(CheckpointError, match="zip archive.*torch.save"):
        ser.load(tmp_path / "t.pt")
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(CheckpointError, match=r"numpy \.npy"):
        ser.load_safetensors(tmp_path / "a.npy")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="0 bytes, too short"):
        ser.load(tmp_path / "empty.safetensors")


# -- modules are saved through their state dict ----------------------------------------


def test_saving_a_module_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "net.safetensors"
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    with pytest.raises(TypeError, match=r"Sequential module.*state dict.*code.*state_dict\(\)"):
        ser.save(net, path)
    with pytest.raises(TypeError, match=r"at obj\['model'\]"):
        ser.save({"model": net, "epoch": 1}, path)
    with pytest.raises(TypeError, match="Linear module"):
        ser.save([torch.nn.Linear(2, 2)], path)
    assert not path.exists()


@pytest.mark.parametrize(
    "obj, match",
    [
        ({"s": {1, 2}}, r"builtins\.set object at obj\['s'\]: em\.save stores data only"),
        (lambda x: x, "function object: em.save stores data only"),
        (_Evil("x"), "_Evil object"),
        ({(1, 2): 3}, "dict key"),
        ({"b": b"bytes"}, "bytes object"),
        ({"a": np.array(["x"])}, "dtype <U1"),
        ((lambda x: x.append(x) or x)([]), r"obj\[0\]: the list contains itself"),
    ],
)
def test_objects_that_are_not_data_are_refused(tmp_path, obj, match):
    with pytest.raises(TypeError, match=match):
        ser.save(obj, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("runner", ["loop", "compiled", "scanned"])
def test_optimizer_state_dict_saves_and_resumes_training_exactly(tmp_path, runner):
    """nanoGPT's resume: `em.save({"model": net.state_dict(), "optimizer":
    opt.state_dict()})`, then a fresh model and optimizer `load_state_dict` both, the state
    is moved with `.to(device)` as resume scripts do, and training goes on exactly as the
    uninterrupted run; groups and per-parameter state look like PyTorch's."""
    import ember as em
    from ember import optim

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
            self.head = nn.Linear(4, 1)

        def forward(self, x):
            for block in self.blocks:
                x = em.tanh(block(x))
            return self.head(x)

    rng = np.random.default_rng(0)
    batches = [
        (
            rng.standard_normal((8, 4)).astype(np.float32),
            rng.standard_normal((8, 1)).astype(np.float32),
        )
        for _ in range(6)
    ]

    def make():
        em.manual_seed(0)
        net = Net()
        groups = [
            {"params": list(net.blocks.parameters()), "weight_decay": 0.1},
            {"params": list(net.head.parameters()), "lr": 0.02},
        ]
        opt = optim.AdamW(groups, lr=0.05)
        if runner == "loop":

            def step(x, y):
                opt.zero_grad()
                nn.MSELoss()(net(em.tensor(x)), em.tensor(y)).backward()
                opt.step()

            return net, opt, step
        model = em.compile(net, loss=nn.MSELoss(), optimizer=opt, scan_layers=runner == "scanned")
        return net, opt, model.train_step

    net, opt, step = make()
    for x, y in batches:
        step(x, y)
    want = {k: np.asarray(v) for k, v in net.state_dict().items()}

    net, opt, step = make()
    for x, y in batches[:3]:
        step(x, y)
    assert float(opt.state[net.head.weight]["step"]) == 3.0  # torch's per-parameter view
    sd = opt.state_dict()
    ref = torch.optim.AdamW(
        [
            {"params": [torch.zeros(1) for _ in range(6)], "weight_decay": 0.1},
            {"params": [torch.zeros(1) for _ in range(2)]},
        ]
    ).state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in ref["param_groups"]]
    assert sd["param_groups"][1]["lr"] == 0.02 and sd["param_groups"][0]["weight_decay"] == 0.1
    ser.save({"model": net.state_dict(), "optimizer": sd}, tmp_path / "ckpt.em")

    net, opt, step = make()
    opt.param_groups[1]["lr"] = 1.0  # overwritten by the load
    checkpoint = ser.load(tmp_path / "ckpt.em")
    net.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    assert opt.param_groups[1]["lr"] == 0.02
    for state in opt.state.values():  # the resume scripts' "move the state to the device"
        for k, v in state.items():
            if isinstance(v, em.Tensor):
                state[k] = v.to("cpu")
    for x, y in batches[3:]:
        step(x, y)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(np.asarray(value), want[name], err_msg=name)

    small = optim.AdamW(list(Net().parameters())[:2])
    with pytest.raises(em.ShapeError, match="saved groups hold"):
        small.load_state_dict(checkpoint["optimizer"])


def test_save_and_load_take_open_files_like_torch(tmp_path):
    """word_language_model: `with open(path, "wb") as f: torch.save(..., f)`;
    time_sequence_prediction: `torch.save(data, open(path, "wb"))`, then `torch.load(f)`."""
    import ember as em

    rng = np.random.default_rng(0)
    sd = {"weight": rng.standard_normal((3, 2)).astype(np.float32), "bias": np.zeros(3, np.float32)}
    data = np.sin(np.arange(12.0)).reshape(3, 4)
    for lib, path in ((torch, tmp_path / "t.pt"), (em, tmp_path / "e.safetensors")):
        with open(path, "wb") as f:
            lib.save({"model": sd, "data": data, "epoch": 3}, f)
        with open(path, "rb") as f:
            back = lib.load(f, weights_only=False) if lib is torch else lib.load(f)
        assert back["epoch"] == 3
        np.testing.assert_array_equal(back["data"], data)
        for k, v in sd.items():
            np.testing.assert_array_equal(np.asarray(back["model"][k]), v)
    with open(tmp_path / "e.safetensors", "rb") as f:  # the same file by path
        assert em.load(tmp_path / "e.safetensors")["epoch"] == em.load(f)["epoch"]
