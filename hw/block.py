"""Common base of the lobit block components.

Every block in :mod:`hw` is an Amaranth :class:`~amaranth.lib.wiring.Component` built from one
validated configuration (a :class:`golden.params.BlockConfig` subclass). The configuration owns
the timing (latency, output-cycle model, sidecar formula); the component reads it from there, so
:class:`BlockComponent` holds the shared part once and a block only says which configuration
class it takes and how its signature members follow from the configuration.
"""

from amaranth.lib import wiring

__all__ = ["BlockComponent"]


class BlockComponent(wiring.Component):
    """Base of every lobit block component: one validated config; timing read from it.

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
    _members(cfg)
        Returns the signature members (``{name: In(...) / Out(...)}``) for ``cfg``.
    """

    CONFIG = None

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
        """Cycles from the input transfer that completes a transaction to its first output
        transfer (output always ready): ``cfg.latency``, the configuration's timing contract."""
        return self._cfg.latency

    def timing_info(self):
        """Latency, throughput and cycle formula, as written to the JSON sidecar."""
        return self._cfg.timing_info()
