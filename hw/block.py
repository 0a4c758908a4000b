"""Common base of the lobit block components.

Every block in :mod:`hw` is an Amaranth :class:`~amaranth.lib.wiring.Component` built from one
validated configuration (a :class:`golden.params.BlockConfig` subclass), with a ``latency``
property and a ``timing_info()`` dictionary that :func:`hw.emit.sidecar` writes to the JSON
sidecar. :class:`BlockComponent` holds that shared part once; a block only says which
configuration class it takes, how its signature members follow from the configuration, and its
throughput and cycle formula.
"""

from amaranth.lib import wiring

__all__ = ["BlockComponent"]


class BlockComponent(wiring.Component):
    """Base of every lobit block component: one validated config, latency, sidecar timing.

    Parameters
    ----------
    cfg : :class:`golden.params.BlockConfig`, optional
        The validated configuration (an instance of :attr:`CONFIG`); keyword arguments build one
        when it is omitted. Configuration errors are raised here, at construction.
    **kwargs
        Parameters of :attr:`CONFIG`, used only when ``cfg`` is omitted.

    Subclass interface
    ------------------
    CONFIG : type
        The golden :class:`golden.params.BlockConfig` subclass of the block.
    THROUGHPUT : int or str or None
        The ``"throughput"`` entry of :meth:`timing_info`; ``None`` omits the key.
    FORMULA : str
        The ``"formula"`` entry of :meth:`timing_info`: the cycle formula in words.
    _members(cfg)
        Returns the signature members (``{name: In(...) / Out(...)}``) for ``cfg``.
    _timing_extra()
        Further :meth:`timing_info` entries, placed between ``"throughput"`` and ``"formula"``.
    latency
        Defaults to ``cfg.latency``; blocks whose latency comes from elsewhere override it.
    """

    CONFIG = None
    THROUGHPUT = None
    FORMULA = ""

    def __init__(self, cfg=None, **kwargs):
        self._cfg = cfg if cfg is not None else self.CONFIG(**kwargs)
        super().__init__(self._members(self._cfg))

    def _members(self, cfg):
        """Signature members of the component for the configuration ``cfg``."""
        raise NotImplementedError(f"{type(self).__name__} must define _members(cfg)")

    @property
    def cfg(self):
        """The validated configuration."""
        return self._cfg

    @property
    def latency(self):
        """Cycles from an input transfer to the transfer of its result (output always ready).

        The exact reference points are given in the Timing section of the class docstring.
        """
        return self._cfg.latency

    def _timing_extra(self):
        """Block-specific :meth:`timing_info` entries (none by default)."""
        return {}

    def timing_info(self):
        """Latency, throughput and cycle formula, as written to the JSON sidecar."""
        info = {"latency": self.latency}
        if self.THROUGHPUT is not None:
            info["throughput"] = self.THROUGHPUT
        info.update(self._timing_extra())
        info["formula"] = self.FORMULA
        return info
