"""The README's Python blocks run, in order, in one namespace (so its example cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run_and_train():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    namespace: dict = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 (our own README)
    history, net = namespace["history"], namespace["net"]
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
    assert tuple(net.state_dict()["fc1.weight"].shape) == (128, 784)
    assert np.isfinite(namespace["loss"].item())  # the literal loop's last loss
