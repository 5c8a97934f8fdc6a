"""The IR core (graphdef), the tracer (frontend) and the PyTorch-style frontend (nn) stay
backend-free: importing and tracing with JAX and optax blocked works."""

import os
import subprocess
import sys
import textwrap

EMBER_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ember")


def _run(body: str) -> subprocess.CompletedProcess:
    # `ember/__init__` pulls in the runtime, so register a bare `ember` package whose
    # path is the real one: submodules import for real, the top-level __init__ does not.
    code = textwrap.dedent(
        f"""
        import sys, types

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "jax" or name.startswith(("jax.", "jaxlib", "optax")):
                    raise ImportError(name + " is blocked in this test")
                if name.startswith(("ember.runtime", "ember.compiler", "ember.training",
                                    "ember.optim")):
                    raise ImportError(name + " is a backend layer, blocked in this test")

        sys.meta_path.insert(0, Block())
        pkg = types.ModuleType("ember")
        pkg.__path__ = [{EMBER_DIR!r}]
        sys.modules["ember"] = pkg
        """
    ) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_ir_core_and_frontend_import_without_jax():
    out = _run(
        """
        import ember.graphdef as g
        from ember import nn
        import ember.nn.functional as F
        from ember.frontend.trace import trace

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)
                self.bn = nn.BatchNorm1d(2)

            def forward(self, x):
                return F.relu(self.bn(self.fc(x)))

        graph = trace(Net(), g.TensorSpec((3, 4)))
        g.verify(graph)
        assert str(g.Graph.parse(str(graph))) == str(graph)
        assert str(g.Graph.from_json(graph.to_json())) == str(graph)
        assert not any(m == "jax" or m.startswith(("jax.", "optax")) for m in sys.modules)
        print("ok")
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_ir_core_does_not_import_the_frontend():
    out = _run(
        """
        import ember.graphdef
        assert not any(m.startswith(("ember.nn", "ember.frontend")) for m in sys.modules), [
            m for m in sys.modules if m.startswith("ember.")]
        print("ok")
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_star_import_does_not_shadow_python_builtins():
    namespace: dict = {}
    exec("from ember import *", namespace)  # noqa: S102
    import builtins

    shadowed = [n for n in namespace if n != "__builtins__" and hasattr(builtins, n)]
    assert not shadowed, shadowed
    assert {"Tensor", "Module", "nn", "optim", "no_grad", "float32", "relu"} <= set(namespace)
    import ember as em

    assert em.int == "int32" and em.sum is not sum and callable(em.compile)
