"""The adapter interface by resource: images, containers (and pods), stores; each a part of
:class:`ctrtool.adapters.base.Adapter`, with its defaults (``Unsupported`` or ``NotImplementedError``)."""
