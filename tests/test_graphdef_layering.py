"""graphdef must stay backend-free: importing it with JAX blocked works."""

import os
import subprocess
import sys
import textwrap

EMBER_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ember")


def test_graphdef_imports_without_jax():
    # ember/__init__ pulls in the runtime, so load graphdef as a top-level package:
    # that proves graphdef itself (and all it imports) never needs JAX.
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {EMBER_DIR!r})

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "jax" or name.startswith(("jax.", "jaxlib", "optax", "ember")):
                    raise ImportError(name + " is blocked in this test")

        sys.meta_path.insert(0, Block())
        import graphdef as g
        from graphdef import layers
        from graphdef import functional as F

        class Net(g.Module):
            def __init__(self):
                super().__init__()
                self.fc = layers.Linear(4, 2)

            def forward(self, x):
                return F.relu(self.fc(x))

        graph = g.trace(Net(), g.TensorSpec((3, 4)))
        g.verify(graph)
        assert str(g.Graph.parse(str(graph))) == str(graph)
        assert not any(m == "jax" or m.startswith("jax.") for m in sys.modules)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
