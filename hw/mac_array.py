"""Output-stationary systolic MAC array (signed INT8 x INT8 -> wide accumulators).

See ``docs/blocks/mac_array.md`` for the timing diagram. The golden model and cycle model are in
:mod:`golden.mac_array`; this component is correct when it is bit- and cycle-identical to them.
"""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from golden.mac_array import MacArrayConfig

from .block import BlockComponent

__all__ = ["MacArray"]


def _ctl_layout():
    return data.StructLayout({"valid": 1, "first": 1, "last": 1})


class MacArray(BlockComponent):
    """Output-stationary ``rows x cols`` systolic array computing ``C = A @ B`` per tile.

    Parameters
    ----------
    cfg : :class:`golden.mac_array.MacArrayConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout{a: rows x signed(a_width), b: cols x signed(b_width), last: 1}))``
        One beat per k: ``a[i] = A[i, k]``, ``b[j] = B[k, j]``; ``last`` marks the tile's final k.
        The input skew is applied inside. ``inp.ready`` depends combinationally on ``out.ready``
        (global stall) and on ``inp.payload.last`` (a tile's last beat is held back until
        ``max(rows, cols)`` cycles after the previous tile's last beat, so that results not yet
        drained are never overwritten).
    out : ``Out(stream.Signature(StructLayout{data: cols x signed(acc_width), row, last, ovf}))``
        One output row per beat, rows 0..rows-1 in order; ``last`` marks row ``rows-1``; ``ovf``
        is the OR of the row's overflow flags (policy in :mod:`golden.mac_array`).
    overflow : ``Out(1)``
        Sticky: set when a row with ``ovf`` is transferred; cleared only by reset.

    Timing
    ------
    With the input always valid and the output always ready, row i of a tile whose last beat is
    transferred in cycle T is transferred in cycle ``T + latency + i``, ``latency = cols + 1``
    (+1 with ``pipelined``). Double-buffered accumulators let tile t+1 stream in while tile t
    drains, so back-to-back tiles with ``K >= max(rows, cols)`` have no bubbles. When ``out`` is
    not ready while a row is pending, the whole array stalls (a global clock enable).
    """

    CONFIG = MacArrayConfig


    def _members(self, c):
        in_layout = data.StructLayout({
            "a": data.ArrayLayout(signed(c.a_width), c.rows),
            "b": data.ArrayLayout(signed(c.b_width), c.cols),
            "last": 1,
        })
        out_layout = data.StructLayout({
            "data": data.ArrayLayout(signed(c.acc_width), c.cols),
            "row": unsigned(max(1, bits_for(c.rows - 1))),
            "last": 1,
            "ovf": 1,
        })
        return {
            "inp": In(stream.Signature(in_layout)),
            "out": Out(stream.Signature(out_layout)),
            "overflow": Out(1),
        }


    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        R, C = c.rows, c.cols
        W = c.acc_width
        S = self._cfg.spacing

        en = Signal()                     # the whole array advances by one step
        row_done = Signal(R)              # row i of some tile is complete (at most one bit set)
        m.d.comb += en.eq(~(row_done.any() & ~self.out.ready))

        # --- input acceptance --------------------------------------------------------------
        since_last = Signal(range(S + 1), init=S)     # en-cycles since the last accepted `last`
        too_soon = Signal()
        expect_first = Signal(init=1)
        accept = Signal()
        m.d.comb += [
            too_soon.eq(since_last < S),
            self.inp.ready.eq(en & ~(self.inp.payload.last & too_soon)),
            accept.eq(self.inp.valid & self.inp.ready),
        ]
        with m.If(en):
            with m.If(accept & self.inp.payload.last):
                m.d.sync += since_last.eq(1)
            with m.Elif(too_soon):
                m.d.sync += since_last.eq(since_last + 1)
            with m.If(accept):
                m.d.sync += expect_first.eq(self.inp.payload.last)

        # --- input register and skew ---------------------------------------------------------
        # Row i: (a, ctl) delayed by 1 + i registers; column j: b delayed by 1 + j registers.
        def delay_chain(name, shape, value, depth):
            prev = value
            for d in range(depth):
                reg = Signal(shape, name=f"{name}_d{d}")
                with m.If(en):
                    m.d.sync += reg.eq(prev)
                prev = reg
            return prev

        row_a, row_ctl = [], []
        for i in range(R):
            ctl = Signal(_ctl_layout(), name=f"ctl_in{i}")
            m.d.comb += [ctl.valid.eq(accept), ctl.first.eq(expect_first),
                         ctl.last.eq(self.inp.payload.last)]
            row_a.append(delay_chain(f"a_skew{i}", signed(c.a_width), self.inp.payload.a[i], 1 + i))
            row_ctl.append(delay_chain(f"ctl_skew{i}", _ctl_layout(), ctl, 1 + i))
        col_b = [delay_chain(f"b_skew{j}", signed(c.b_width), self.inp.payload.b[j], 1 + j)
                 for j in range(C)]

        # --- processing elements -------------------------------------------------------------
        shadow = [[None] * C for _ in range(R)]
        shadow_ovf = [[None] * C for _ in range(R)]
        b_from_above = list(col_b)
        for i in range(R):
            a_left, ctl_left = row_a[i], row_ctl[i]
            for j in range(C):
                b_top = b_from_above[j]
                pw = c.a_width + c.b_width
                if c.pipelined:
                    prod = Signal(signed(pw), name=f"pe{i}_{j}_prod")
                    ctl = Signal(_ctl_layout(), name=f"pe{i}_{j}_ctlp")
                    with m.If(en):
                        m.d.sync += [prod.eq(a_left * b_top), ctl.eq(ctl_left)]
                else:
                    prod = Signal(signed(pw), name=f"pe{i}_{j}_prod", attrs={"keep": 1})
                    ctl = ctl_left
                    m.d.comb += prod.eq(a_left * b_top)

                acc = Signal(signed(W), name=f"pe{i}_{j}_acc")
                acc_ovf = Signal(name=f"pe{i}_{j}_accovf")
                res = Signal(signed(W), name=f"pe{i}_{j}_res")
                res_ovf = Signal(name=f"pe{i}_{j}_resovf")
                total = Signal(signed(W + 1), name=f"pe{i}_{j}_sum")
                base = Mux(ctl.first, 0, acc)
                m.d.comb += total.eq(base + prod)
                ovf_now = total[W] ^ total[W - 1]
                if c.overflow == "wrap":
                    m.d.comb += res.eq(total[:W])
                else:
                    sat = Mux(total[W], Const(c.acc_min, signed(W)), Const(c.acc_max, signed(W)))
                    m.d.comb += res.eq(Mux(ovf_now, sat, total[:W]))
                m.d.comb += res_ovf.eq(ovf_now | (acc_ovf & ~ctl.first))

                sh = Signal(signed(W), name=f"pe{i}_{j}_shadow")
                sh_ovf = Signal(name=f"pe{i}_{j}_shovf")
                with m.If(en & ctl.valid):
                    m.d.sync += [acc.eq(res), acc_ovf.eq(res_ovf)]
                    with m.If(ctl.last):
                        m.d.sync += [sh.eq(res), sh_ovf.eq(res_ovf)]
                shadow[i][j], shadow_ovf[i][j] = sh, sh_ovf

                if j == C - 1:
                    with m.If(en):
                        m.d.sync += row_done[i].eq(ctl.valid & ctl.last)
                else:
                    a_next = Signal(signed(c.a_width), name=f"pe{i}_{j}_a")
                    ctl_next = Signal(_ctl_layout(), name=f"pe{i}_{j}_ctl")
                    with m.If(en):
                        m.d.sync += [a_next.eq(a_left), ctl_next.eq(ctl_left)]
                    a_left, ctl_left = a_next, ctl_next
                if i < R - 1:
                    b_next = Signal(signed(c.b_width), name=f"pe{i}_{j}_b")
                    with m.If(en):
                        m.d.sync += b_next.eq(b_top)
                    b_from_above[j] = b_next

        # --- drain: one-hot AND-OR row select ------------------------------------------------
        for j in range(C):
            terms = [Mux(row_done[i], shadow[i][j], 0) for i in range(R)]
            col = terms[0]
            for t in terms[1:]:
                col = col | t
            m.d.comb += self.out.payload.data[j].eq(col)
        row_idx = 0
        for i in range(1, R):
            row_idx = row_idx | Mux(row_done[i], i, 0)
        row_ovf = [Cat(*shadow_ovf[i]).any() for i in range(R)]
        m.d.comb += [
            self.out.valid.eq(row_done.any()),
            self.out.payload.row.eq(row_idx),
            self.out.payload.last.eq(row_done[R - 1]),
            self.out.payload.ovf.eq(Cat(*[row_done[i] & row_ovf[i] for i in range(R)]).any()),
        ]
        with m.If(self.out.valid & self.out.ready & self.out.payload.ovf):
            m.d.sync += self.overflow.eq(1)
        return m
