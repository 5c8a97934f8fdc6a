import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("EMBER_VERIFY", "1")  # verify the IR after every compiler pass
sys.path.insert(0, os.path.dirname(__file__))
