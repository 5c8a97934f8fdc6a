"""One host of a two-process run on this machine (tests/test_sharding.py).

`python tests/sharding_multihost.py PROCESS_ID NUM_PROCESSES PORT OUT.npz` joins a
`jax.distributed` job over localhost with 4 virtual CPU devices per process and trains
data parallel over all 8; `... single 1 0 OUT.npz` is the one-device reference. Process
0 (or the reference) writes the per-epoch losses and the final parameters.
"""

from __future__ import annotations

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
os.environ["JAX_PLATFORMS"] = "cpu"

import numpy as np  # noqa: E402

import ember as em  # noqa: E402
from ember import nn, optim  # noqa: E402


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(em.tanh(self.fc1(x)))


def main() -> None:
    who, count, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    single = who == "single"
    if not single:
        em.distributed.initialize(f"127.0.0.1:{port}", num_processes=count, process_id=int(who))
        assert em.distributed.process_count() == count
    import jax

    em.manual_seed(0)
    net = MLP()
    mesh = False if single else em.mesh(data=jax.device_count())
    model = em.compile(net, nn.CrossEntropyLoss(), optim.Adam(net.parameters(), lr=1e-2), mesh=mesh)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 12)).astype("float32")
    y = (x[:, :4] + 0.1 * x[:, 4:8]).argmax(1)
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=1)
    state = {k: np.asarray(jax.device_get(v)) for k, v in net.state_dict().items()}
    if single or em.distributed.is_main_process():
        np.savez(out, losses=np.array(history["loss"]), devices=jax.device_count(), **state)


if __name__ == "__main__":
    main()
