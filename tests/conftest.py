import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("EMBER_VERIFY", "1")  # verify the IR after every compiler pass
sys.path.insert(0, os.path.dirname(__file__))


def _slow_ids() -> set[str]:
    path = os.path.join(os.path.dirname(__file__), "slow_tests.txt")
    with open(path) as f:
        return {line.strip() for line in f if line.strip() and not line.startswith("#")}


SLOW_IDS = _slow_ids()


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        node = item.nodeid
        if node in SLOW_IDS or node.split("[")[0] in SLOW_IDS:
            item.add_marker(pytest.mark.slow)
