"""Validated block configurations shared by the golden models and the hardware.

Every block has exactly one configuration class, derived from :class:`BlockConfig`. It declares
its parameters once (name, type, default, allowed range, one-line description); the golden model,
the Amaranth component, the CLI (``lobit blocks``, ``--param k=v``) and the JSON sidecar all read
the same declaration, so a parameter is validated in one place and named the same everywhere.

A bad value raises :class:`ConfigError` with one sentence that names the block, the parameter, the
value and the allowed range, at construction time.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

__all__ = ["ConfigError", "Param", "BlockConfig", "DotProductTiming"]


class ConfigError(ValueError):
    """A block parameter or a stimulus value is outside its documented range."""


@dataclass(frozen=True)
class Param:
    """Declaration of one block parameter.

    Parameters
    ----------
    name : str
        Parameter name, identical in golden model, component, CLI and sidecar.
    kind : type
        ``int``, ``bool`` or ``str``.
    default :
        Default value.
    doc : str
        One-line description shown by ``lobit blocks``.
    lo, hi : int, optional
        Inclusive range for ``int`` parameters.
    choices : tuple of str, optional
        Allowed values for ``str`` parameters.
    """
    name: str
    kind: type
    default: object
    doc: str
    lo: int | None = None
    hi: int | None = None
    choices: tuple | None = None

    def allowed(self) -> str:
        if self.kind is bool:
            return "true or false"
        if self.kind is int:
            return f"an integer in {self.lo}..{self.hi}"
        return "one of " + ", ".join(self.choices)

    def validate(self, block: str, value):
        where = f"{block} parameter {self.name}={value!r}"
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ConfigError(f"{where} is invalid: allowed values are {self.allowed()}.")
        if self.kind is int:
            if isinstance(value, bool):
                raise ConfigError(f"{where} is invalid: allowed values are {self.allowed()}.")
            try:
                value = operator.index(value)
            except TypeError:
                raise ConfigError(f"{where} is invalid: allowed values are {self.allowed()}.") from None
            if not self.lo <= value <= self.hi:
                raise ConfigError(f"{where} is out of range: allowed values are {self.allowed()}.")
            return value
        if not isinstance(value, str) or value not in self.choices:
            raise ConfigError(f"{where} is invalid: allowed values are {self.allowed()}.")
        return value

    def parse(self, block: str, text: str):
        """Convert a command-line string to this parameter's type, then validate it."""
        if self.kind is bool:
            low = text.strip().lower()
            table = {"1": True, "true": True, "yes": True, "on": True,
                     "0": False, "false": False, "no": False, "off": False}
            if low not in table:
                raise ConfigError(f"{block} parameter {self.name}={text!r} is invalid: "
                                  f"allowed values are {self.allowed()}.")
            return table[low]
        if self.kind is int:
            try:
                value = int(text, 0)
            except ValueError:
                raise ConfigError(f"{block} parameter {self.name}={text!r} is invalid: "
                                  f"allowed values are {self.allowed()}.") from None
            return self.validate(block, value)
        return self.validate(block, text.strip())

    def describe(self) -> dict:
        d = {"name": self.name, "type": self.kind.__name__, "default": self.default, "doc": self.doc}
        if self.kind is int:
            d["range"] = [self.lo, self.hi]
        elif self.kind is str:
            d["choices"] = list(self.choices)
        return d


class BlockConfig:
    """Base class of every block configuration.

    Subclasses set ``BLOCK`` (the block name used by the CLI, file names and module names),
    ``PARAMS`` (a tuple of :class:`Param`) and may override :meth:`_check` for rules that involve
    several parameters. Instances are immutable and hashable.
    """
    BLOCK: str = ""
    PARAMS: tuple = ()
    #: short tags used to build a distinct Verilog module name per parameter set
    TAGS: dict = {}

    def __init__(self, **kwargs):
        known = {p.name: p for p in self.PARAMS}
        for name in kwargs:
            if name not in known:
                raise ConfigError(f"{self.BLOCK} has no parameter {name!r}: "
                                  f"known parameters are {', '.join(known)}.")
        values = {}
        for p in self.PARAMS:
            values[p.name] = p.validate(self.BLOCK, kwargs.get(p.name, p.default))
        object.__setattr__(self, "_values", values)
        for k, v in values.items():
            object.__setattr__(self, k, v)
        self._check()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _check(self):
        """Cross-parameter validation; raise :class:`ConfigError`."""

    @classmethod
    def param(cls, name) -> Param:
        for p in cls.PARAMS:
            if p.name == name:
                return p
        raise ConfigError(f"{cls.BLOCK} has no parameter {name!r}: "
                          f"known parameters are {', '.join(p.name for p in cls.PARAMS)}.")

    @classmethod
    def from_strings(cls, pairs: dict):
        """Build a config from ``{name: text}`` pairs as given on the command line."""
        parsed = {name: cls.param(name).parse(cls.BLOCK, text) for name, text in pairs.items()}
        return cls(**parsed)

    def to_dict(self) -> dict:
        return dict(self._values)

    def replace(self, **changes):
        d = self.to_dict()
        d.update(changes)
        return type(self)(**d)

    @property
    def module_name(self) -> str:
        """A Verilog module name unique to this parameter set, e.g. ``mac_array_r4c4_a8b8_acc32``."""
        parts = [self.BLOCK]
        for p in self.PARAMS:
            v = self._values[p.name]
            tag = self.TAGS.get(p.name, p.name)
            if p.kind is bool:
                parts.append(f"{tag}{int(v)}")
            else:
                parts.append(f"{tag}{v}")
        return "_".join(parts)

    def __eq__(self, other):
        return type(self) is type(other) and self._values == other._values

    def __hash__(self):
        return hash((type(self), tuple(sorted(self._values.items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({args})"


class DotProductTiming:
    """Cycle model shared by the accumulator configs (``dga``, ``fp_acc``, ``int_acc``).

    One addend per cycle, dot products back to back; the result of a dot product is transferred
    ``latency`` cycles after its ``last`` addend (input always valid, output always ready).
    Subclasses provide ``latency``.
    """

    def out_cycles(self, lengths) -> list:
        """Cycle of each result, counted from the first addend's transfer."""
        ends, total = [], -1
        for n in lengths:
            total += int(n)
            ends.append(total + self.latency)
        return ends
