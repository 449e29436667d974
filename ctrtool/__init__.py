"""ctrtool: one CLI over docker, ctr and crictl that shows every image store, namespace and path."""

__version__ = "0.1.0"

# the registry of backends hands config their descriptors (config imports no adapter)
from . import adapters as _adapters  # noqa: E402,F401
