"""The block registry: every module in ``sim/blocks/`` that defines ``SPEC`` is a block.

A block is one config class (``golden/<block>.py``), one component (``hw/<block>.py``) and one
module here (``sim/blocks/<block>.py``) with its scenario builder; the CLI, the generic tests and
the bench find blocks here, so adding a block never edits a shared list. Studies and tools live
in ``sim/`` beside this package, so discovering blocks never imports them.

The contract of a block module
------------------------------
``SPEC = BlockSpec(...)`` with

* ``scenario(cfg, layouts, rng, vectors) -> sim.transactors.Scenario`` -- random stimulus with
  golden expectations and, for every output stream, the output cycles from the config's cycle
  model (``cfg.out_cycles(lengths)``, :class:`golden.params.BlockConfig`);
* optionally ``bench(report)`` -- a block-specific section of ``make bench``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

from golden.params import ConfigError

__all__ = ["BlockSpec", "all_blocks", "get_block"]


@dataclass(frozen=True)
class BlockSpec:
    """How the tools reach one block.

    Attributes
    ----------
    name : str
        Block name (CLI name, file names, Verilog module prefix).
    config : type
        The :class:`golden.params.BlockConfig` subclass.
    hw_class : str
        ``"module:Class"`` of the Amaranth component (imported on first use, so listing blocks
        imports no Amaranth); :meth:`component` builds it.
    scenario : callable
        ``scenario(cfg, layouts, rng, vectors) -> sim.transactors.Scenario``: random stimulus
        with golden expectations; ``layouts`` maps stream names to payload field lists;
        ``rng`` is a ``numpy.random.Generator``; ``vectors`` is the requested number of checked
        output items (the builder may round up). The scenario carries ``out_cycles`` for every
        output stream.
    summary : str
        One line for ``lobit blocks``.
    demo_configs : tuple of dict
        Parameter sets used by ``make demo`` / the bench synthesis table (default: defaults).
    netlist_params : dict
        Parameters for the gate-level netlist rung of the generic ladder test, where the default
        configuration would make an iCE40 netlist too slow to synthesize and simulate in the
        normal suite (for example one lane instead of four); empty means the defaults.
    bench : callable or None
        ``bench(report)``: adds the block's own section to ``make bench``'s report dict.
    """
    name: str
    config: type
    hw_class: str
    scenario: Callable
    summary: str
    demo_configs: tuple = field(default_factory=lambda: ({},))
    netlist_params: dict = field(default_factory=dict)
    bench: Callable | None = None

    def component(self, cfg):
        """The block's Amaranth component for the validated configuration ``cfg``."""
        module, cls = self.hw_class.split(":")
        return getattr(importlib.import_module(module), cls)(cfg)


def all_blocks() -> dict:
    """``{name: BlockSpec}`` of every module in this package that defines ``SPEC``."""
    specs = {}
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, BlockSpec):
            specs[spec.name] = spec
    return specs


def get_block(name: str) -> BlockSpec:
    """The :class:`BlockSpec` of block ``name``; :class:`ConfigError` names the known blocks."""
    blocks = all_blocks()
    if name not in blocks:
        raise ConfigError(f"unknown block {name!r}: known blocks are {', '.join(sorted(blocks))}.")
    return blocks[name]
