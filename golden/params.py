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

__all__ = ["ConfigError", "Param", "BlockConfig"]


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

    Timing contract
    ---------------
    The configuration is the one owner of a block's timing; the component, the sidecar and the
    scenario builders read it from here.

    ``latency``
        Every subclass defines it (checked when the class is defined): a class attribute for a
        constant (``latency = 0`` for a block that answers in the cycle of the request), a
        property when it depends on the parameters. It counts the cycles from the transfer of
        the input beat that completes a transaction to the transfer of its (first) output beat.
    ``TRANSACTION``
        What one transaction is, in words (``"input beat"``, ``"dot product"``, ...).
    :meth:`out_cycles`
        The output-cycle model: ``out_cycles(lengths)`` gives the cycle of every output transfer
        when the input is always valid and the output always ready, for transactions of
        ``lengths[i]`` input beats streamed back to back (cycle 0 = the first input transfer).
        The default is one output per transaction, ``latency`` cycles after its last input
        beat; a block with another rule (the MAC array drains a tile row by row) overrides it
        together with :meth:`timing_formula`.
    :meth:`timing_info`
        What the JSON sidecar records: latency, ``THROUGHPUT``, the formula generated by
        :meth:`timing_formula` with this configuration's numbers, and :meth:`_timing_extra`.
    """
    BLOCK: str = ""
    PARAMS: tuple = ()
    #: short tags used to build a distinct Verilog module name per parameter set
    TAGS: dict = {}
    #: one transaction of the cycle model, in words
    TRANSACTION: str = "input beat"
    #: sustained throughput, in words (sidecar)
    THROUGHPUT: str = "1 input beat per cycle"
    #: a further sentence for the generated formula (handshake details), or ""
    TIMING_NOTE: str = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "BLOCK" in cls.__dict__ and not hasattr(cls, "latency"):
            raise TypeError(f"{cls.__name__} must define latency (the timing contract of "
                            f"golden.params.BlockConfig).")

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

    def out_cycles(self, lengths) -> list:
        """Cycle of every output transfer (input always valid, output always ready).

        Parameters
        ----------
        lengths : sequence of int
            Input beats of each transaction, streamed back to back from cycle 0 (``[1] * n``
            for ``n`` beats of a block that answers every beat).

        Returns
        -------
        list of int
            One entry per output transfer, in order.
        """
        ends, total = [], -1
        for n in lengths:
            n = operator.index(n)
            if n < 1:
                raise ConfigError(f"{self.BLOCK} transaction length {n} is out of range: "
                                  f"allowed values are >= 1.")
            total += n
            ends.append(total + self.latency)
        return ends

    def timing_formula(self) -> str:
        """The cycle model of :meth:`out_cycles` in words, with this configuration's numbers."""
        text = (f"cycle 0 = first input transfer; the output of a {self.TRANSACTION} whose last "
                f"input beat is transferred in cycle T is transferred in cycle T + {self.latency} "
                f"(latency {self.latency}) when the output is ready")
        return text + (f"; {self.TIMING_NOTE}" if self.TIMING_NOTE else "")

    def _timing_extra(self) -> dict:
        """Block-specific sidecar timing entries (none by default)."""
        return {}

    def timing_info(self) -> dict:
        """Latency, throughput, the generated cycle formula and extras, as in the JSON sidecar."""
        info = {"latency": self.latency, "throughput": self.THROUGHPUT}
        info.update(self._timing_extra())
        info["formula"] = self.timing_formula()
        return info

    def __eq__(self, other):
        return type(self) is type(other) and self._values == other._values

    def __hash__(self):
        return hash((type(self), tuple(sorted(self._values.items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({args})"
