"""ctrtool: one CLI over docker, ctr and crictl that shows every image store, namespace and path."""

__version__ = "0.1.0"
