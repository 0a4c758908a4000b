"""MAC array with FP8 processing elements (``pe="fp8"``): golden vs an exact-Fraction oracle,
the trainer's vectorized fp8 arithmetic vs the golden tile, and the hardware ladder (Amaranth
cycle by cycle, Icarus, Verilator, native, iCE40 netlist) with gaps, stalls and mutations."""

from fractions import Fraction

import numpy as np
import pytest

from golden.mac_array import (
    MacArrayConfig,
    assemble_gemm,
    fp8_gemm,
    gemm_tile,
    random_tile,
    tile_gemm,
)
from golden.params import ConfigError
from hw.mac_array import MacArray
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks.mac_array import tile_rows, tiles_scenario
from sim.transactors import Scenario, pack

from .conftest import require

# --- an independent oracle: exact Fractions, every rounding written out -------------------------

FP8 = {"e4m3": (4, 3), "e5m2": (5, 2)}


def _dec(code, e, m, inf_nan):
    """``("nan",)``, ``("inf", sign)`` or ``("num", sign, |value| as a Fraction)``."""
    s = (code >> (e + m)) & 1
    E = (code >> m) & ((1 << e) - 1)
    M = code & ((1 << m) - 1)
    bias = (1 << (e - 1)) - 1
    if inf_nan and E == (1 << e) - 1:
        return ("nan",) if M else ("inf", s)
    if E == 0:
        return ("num", s, Fraction(M, 1 << m) * Fraction(2) ** (1 - bias))
    return ("num", s, (1 + Fraction(M, 1 << m)) * Fraction(2) ** (E - bias))


def _round(s, x, e, m, inf_nan, mode):
    """Round ``|x|`` (a Fraction) to FP(e, m): ``(("num", s, value), saturated)``."""
    bias = (1 << (e - 1)) - 1
    top = (1 << e) - 2 if inf_nan else (1 << e) - 1
    vmax = (2 - Fraction(1, 1 << m)) * Fraction(2) ** (top - bias)
    if x == 0:
        return ("num", s, Fraction(0)), False
    E = 0
    while Fraction(2) ** E > x:
        E -= 1
    while Fraction(2) ** (E + 1) <= x:
        E += 1
    E = max(E, 1 - bias)
    q = Fraction(2) ** (E - m)
    n = x / q
    fl = n.numerator // n.denominator
    rem = n - fl
    if mode == "rne" and (rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1)):
        fl += 1
    v = fl * q
    if v > vmax:
        return ("num", s, vmax), True
    return ("num", s, v), False


def _mul(a, b, acc):
    """The product rounded to ``acc``; ``acc=None``: the exact product."""
    if a[0] == "nan" or b[0] == "nan":
        return ("nan",), False
    if a[0] == "inf" or b[0] == "inf":
        other = b if a[0] == "inf" else a
        if other[0] == "num" and other[2] == 0:
            return ("nan",), False
        return ("inf", a[1] ^ b[1]), False
    if acc is None:
        return ("num", a[1] ^ b[1], a[2] * b[2]), False
    return _round(a[1] ^ b[1], a[2] * b[2], *acc)


def _add(x, y, acc):
    if x[0] == "nan" or y[0] == "nan":
        return ("nan",), False
    if x[0] == "inf" and y[0] == "inf":
        return (("inf", x[1]), False) if x[1] == y[1] else (("nan",), False)
    if x[0] == "inf" or y[0] == "inf":
        return (x if x[0] == "inf" else y), False
    t = (-x[2] if x[1] else x[2]) + (-y[2] if y[1] else y[2])
    if t == 0:
        return ("num", x[1] & y[1], Fraction(0)), False
    return _round(int(t < 0), abs(t), *acc)


def _oracle_group(K, gmax):
    """DGA group size: 2**r, r = log2(K)/2 rounded half to even, clamped to 4..gmax (integers)."""
    r = 0
    while K > 2 ** (2 * r + 1) or (K == 2 ** (2 * r + 1) and r % 2 == 1):
        r += 1
    return min(max(2 ** r, 4), gmax)


def _oracle_gemm(kw, A, B, group=None, product_mode=None, exact=None):
    """Every element: exact products rounded to the accumulator (``product="exact"``: not
    rounded, so each addition rounds once), then the order's additions. ``product_mode`` /
    ``group`` / ``exact`` override the product rounding / group size / exactness (wrong models)."""
    ae, am = FP8[kw.get("a_fmt", "e4m3")]
    be, bm = FP8[kw.get("b_fmt", "e4m3")]
    inf_nan = kw.get("inf_nan", True)
    mode = kw.get("rounding", "rne")
    acc = (kw.get("exp_bits", 5), kw.get("man_bits", 6), inf_nan, mode)
    pacc = acc[:3] + (product_mode or mode,)
    if (kw.get("product") == "exact") if exact is None else exact:
        pacc = None
    order = kw.get("order", "dga")
    K = A.shape[1]
    G = group or (kw.get("group_size", 64) if order == "static" else
                  _oracle_group(K, kw.get("gmax", 256)))
    out = np.empty((A.shape[0], B.shape[1]), dtype=object)
    flags = np.zeros(out.shape, dtype=bool)
    zero = ("num", 0, Fraction(0))
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            ovf = False
            ps = []
            for k in range(K):
                p, o = _mul(_dec(int(A[i, k]), ae, am, inf_nan),
                            _dec(int(B[k, j]), be, bm, inf_nan), pacc)
                ps.append(p)
                ovf |= o
            if order == "seq":
                S = zero
                for p in ps:
                    S, o = _add(S, p, acc)
                    ovf |= o
            else:
                S = Acc = zero
                n = 0
                for p in ps:
                    if n > 0 and n >= G:
                        S, o = _add(S, Acc, acc)
                        ovf |= o
                        n = 0
                    Acc, o = _add(Acc if n > 0 else zero, p, acc)
                    ovf |= o
                    n += 1
                S, o = _add(S, Acc, acc)
                ovf |= o
            out[i, j], flags[i, j] = S, ovf
    return out, flags


def _decoded(kw, C):
    e, m, inf_nan = kw.get("exp_bits", 5), kw.get("man_bits", 6), kw.get("inf_nan", True)
    out = np.empty(C.shape, dtype=object)
    for idx, c in np.ndenumerate(C):
        out[idx] = _dec(int(c), e, m, inf_nan)
    return out


def _same(x, y):
    """Elementwise equality of two object arrays of oracle tuples."""
    assert x.shape == y.shape
    return np.array([a == b for a, b in zip(x.ravel(), y.ravel())]).reshape(x.shape)


GOLDEN_CONFIGS = [
    dict(order="seq"),
    dict(order="dga", a_fmt="e4m3", b_fmt="e5m2"),
    dict(order="dga", a_fmt="e5m2", b_fmt="e4m3", adders=1),
    dict(order="static", group_size=3, a_fmt="e5m2", b_fmt="e5m2", rounding="rtz"),
    dict(order="static", group_size=5, inf_nan=False, exp_bits=6, man_bits=5, a_fmt="e5m2",
         b_fmt="e5m2"),
    dict(order="dga", inf_nan=False, b_fmt="e5m2", gmax=4),
    dict(order="seq", exp_bits=8, man_bits=23, a_fmt="e4m3", b_fmt="e5m2"),
    dict(order="seq", exp_bits=4, man_bits=4, rounding="rtz"),
    dict(order="dga", product="exact"),
    dict(order="static", group_size=3, product="exact", adders=1),
    dict(order="seq", product="exact", rounding="rtz"),
]


def _operands(cfg, rng, M, K, N, extreme):
    """Random tile operands (:func:`golden.mac_array.random_tile`); ``extreme=-1``: tiny ones
    (exponent fields 0..2: subnormal and zero products and sums)."""
    if extreme >= 0:
        A, _ = random_tile(cfg.replace(rows=M), K, rng, extreme)
        _, B = random_tile(cfg.replace(cols=N), K, rng, extreme)
        return A, B

    def tiny(name, shape):
        e, m = FP8[name]
        return (rng.integers(0, 2, shape) << (e + m)) | (rng.integers(0, 3, shape) << m) | \
            rng.integers(0, 1 << m, shape)
    return tiny(cfg.a_fmt, (M, K)), tiny(cfg.b_fmt, (K, N))


def _moderate(cfg, rng, M, K, N):
    """Operands of normal-distributed values rounded to the FP8 formats (no saturation)."""
    from golden.minifloat import encode
    return (encode(cfg.fmt_a, rng.normal(size=(M, K)))[0],
            encode(cfg.fmt_b, rng.normal(size=(K, N)))[0])


CASES = ((1, 0.3), (4, 0.1), (17, 0.05), (70, 0.0), (33, 0.02), (9, -1))


@pytest.mark.parametrize("kw", GOLDEN_CONFIGS, ids=lambda kw: MacArrayConfig(pe="fp8", **kw).module_name)
def test_golden_vs_exact_oracle(kw):
    """fp8_gemm = the Fraction oracle, bit for bit (NaN as a class) and flag for flag, on random
    and corner operands (zeros of both signs, subnormals, max, Inf, NaN) for K = 1 .. 70."""
    cfg = MacArrayConfig(pe="fp8", **kw)
    rng = np.random.default_rng(7)
    for K, extreme in CASES:
        A, B = _operands(cfg, rng, 3, K, 2, extreme)
        C, ovf = fp8_gemm(cfg, A, B)
        ref, ref_ovf = _oracle_gemm(kw, A, B)
        assert _same(_decoded(kw, C), ref).all(), (K, C, ref)
        assert np.array_equal(ovf, ref_ovf), K
        if cfg.inf_nan:                                       # NaN is the canonical code
            assert all(r[0] == "nan" for r in ref[C == cfg.fmt.nan_code])
            assert (C == cfg.fmt.nan_code).sum() == sum(r[0] == "nan" for r in ref.ravel())


def test_oracle_covers_the_corners():
    """The operands above really produce saturation, NaN, Inf, zero and subnormal results (a -0
    result cannot occur: the first product is added to +0, and a nonzero sum of format values
    never rounds to zero)."""
    seen = set()
    for kw in GOLDEN_CONFIGS:
        cfg = MacArrayConfig(pe="fp8", **kw)
        rng = np.random.default_rng(7)
        for K, extreme in CASES:
            A, B = _operands(cfg, rng, 3, K, 2, extreme)
            ref, ovf = _oracle_gemm(kw, A, B)
            seen |= {"ovf"} if ovf.any() else set()
            f = cfg.fmt
            for r in ref.ravel():
                if r[0] != "num":
                    seen.add(r[0])
                elif r[2] == 0:
                    seen.add("-0" if r[1] else "0")
                elif 0 < r[2] < Fraction(2) ** (1 - f.bias):
                    seen.add("subnormal")
    assert seen >= {"ovf", "nan", "inf", "0", "subnormal"}, seen
    assert "-0" not in seen


def test_wrong_models_fail_the_oracle():
    """The comparison is live: a group boundary one off, a product rounded toward zero, and the
    sequential order in place of DGA each disagree with the oracle on these operands (E4M3 x
    E4M3: the E5M7 product needs rounding into E5M6)."""
    kw = dict(order="dga")
    cfg = MacArrayConfig(pe="fp8", **kw)
    rng = np.random.default_rng(3)
    A, B = _moderate(cfg, rng, 4, 70, 4)
    ref, _ = _oracle_gemm(kw, A, B)
    G = cfg.register_value(70)
    assert G == _oracle_group(70, 256) == 8
    assert _same(_decoded(kw, fp8_gemm(cfg, A, B)[0]), ref).all()
    assert not _same(_decoded(kw, fp8_gemm(cfg, A, B, group_size=G + 1)[0]), ref).all()
    assert not _same(_decoded(kw, fp8_gemm(cfg.replace(order="seq"), A, B)[0]), ref).all()
    wrong, _ = _oracle_gemm(kw, A, B, product_mode="rtz")
    assert not _same(_decoded(kw, fp8_gemm(cfg, A, B)[0]), wrong).all()
    # one rounding per MAC (exact products) against the two-rounding oracle, and back
    ex = cfg.replace(product="exact")
    assert _same(_decoded(kw, fp8_gemm(ex, A, B)[0]), _oracle_gemm(kw, A, B, exact=True)[0]).all()
    assert not _same(_decoded(kw, fp8_gemm(ex, A, B)[0]), ref).all()


@pytest.mark.parametrize("K", [1, 2, 8, 96, 128, 512, 640, 2048, 4608, 25088])
def test_group_size_from_k(K):
    assert MacArrayConfig(pe="fp8").register_value(K) == _oracle_group(K, 256)
    assert MacArrayConfig(pe="fp8", order="static", group_size=7).register_value(K) == 7
    assert MacArrayConfig(pe="fp8", order="seq").register_value(K) is None


def test_gemm_is_the_stitched_tiles():
    """A whole GEMM (any M, N) equals its zero-padded array tiles, element for element."""
    cfg = MacArrayConfig(pe="fp8", rows=3, cols=2, b_fmt="e5m2")
    rng = np.random.default_rng(5)
    A, B = _operands(cfg, rng, 7, 21, 5, 0.02)
    C, ovf = fp8_gemm(cfg, A, B)
    parts = [gemm_tile(cfg, At, Bt)[0] for At, Bt in tile_gemm(cfg, A, B)]
    assert np.array_equal(assemble_gemm(cfg, parts, 7, 5), C)
    _, row_ovf = gemm_tile(cfg, A[:3], B[:, :2])
    assert np.array_equal(row_ovf, ovf[:3, :2].any(axis=1))


@pytest.mark.parametrize("order", ["seq", "static", "dga"])
def test_trainer_fp8_mode_is_the_array(order):
    """train.fastgolden.fp_accumulate (the trainer's fp8 mode) equals the array's golden tile
    on FP8 tensors scaled as the trainer scales them (E4M3 x E4M3 and E4M3 x E5M2)."""
    from golden.minifloat import decode, encode
    from train.arith import E4M3, E5M2, E5M6, fp8_tensor
    from train.fastgolden import fp_accumulate
    rng = np.random.default_rng(11)
    for (fa, a_name), (fb, b_name), (M, K, N) in (((E4M3, "e4m3"), (E4M3, "e4m3"), (16, 96, 8)),
                                                  ((E4M3, "e4m3"), (E5M2, "e5m2"), (6, 300, 4))):
        a, _ = fp8_tensor(fa, np.maximum(rng.normal(size=(M, K)), 0))
        b, _ = fp8_tensor(fb, rng.normal(size=(K, N)) * rng.exponential(size=(K, N)))
        cfg = MacArrayConfig(pe="fp8", order=order, a_fmt=a_name, b_fmt=b_name)
        C, _ = fp8_gemm(cfg, encode(fa, a)[0], encode(fb, b)[0])
        assert np.array_equal(decode(E5M6, C), fp_accumulate(E5M6, a, b, order))


def test_parameters_and_names():
    int8 = MacArrayConfig()
    assert int8.module_name == "mac_array_r4_c4_a8_b8_acc32_p0_wrap"      # unchanged
    assert int8.latency == 5 and not int8.grouped
    f = MacArrayConfig(pe="fp8", rows=2, cols=3)
    assert f.latency == 3 + 2 and f.grouped
    assert MacArrayConfig(pe="fp8", rows=2, cols=3, order="seq").latency == 4
    assert MacArrayConfig(pe="fp8", rows=2, cols=3, pipelined=True).latency == 6
    assert "S + A" in f.timing_info()["formula"]
    assert f.timing_info()["order"] == "dga"
    assert f.module_name != f.replace(order="static").module_name
    with pytest.raises(ConfigError, match="man_bits=3 is out of range: allowed values are 4..23"):
        MacArrayConfig(pe="fp8", man_bits=3)
    with pytest.raises(ConfigError, match="product='exact' is invalid for a_fmt=e4m3, b_fmt=e5m2"):
        MacArrayConfig(pe="fp8", product="exact", b_fmt="e5m2")
    assert MacArrayConfig(pe="fp8", product="exact").module_name.endswith("_ad2_exact")
    with pytest.raises(ConfigError, match="pe='fp16' is invalid"):
        MacArrayConfig(pe="fp16")
    with pytest.raises(ConfigError, match="E4M3 bit pattern 256 is out of range"):
        fp8_gemm(f, np.full((2, 1), 256), np.zeros((1, 3), dtype=np.int64))


# --- hardware -------------------------------------------------------------------------------------

HW_CONFIGS = [
    dict(order="dga"),
    dict(order="dga", adders=1, a_fmt="e5m2"),
    dict(order="static", group_size=3, b_fmt="e5m2", pipelined=True),
    dict(order="seq", rows=3, cols=2, rounding="rtz"),
    dict(order="dga", adders=1, product="exact"),
    dict(order="seq", product="exact", pipelined=True),
]


def _hw(kw, rows=2, cols=2):
    kw = dict(kw)
    cfg = MacArrayConfig(pe="fp8", rows=kw.pop("rows", rows), cols=kw.pop("cols", cols), **kw)
    return cfg, MacArray(cfg)


@pytest.mark.parametrize("kw", HW_CONFIGS, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
def test_amaranth_cycle_by_cycle(kw):
    """Every output row in the cycle the model gives (the grouped orders one cycle later than
    INT8: the final S + A), bit-exact; then the same tiles with random gaps and stalls; a cycle
    model one cycle early (the INT8 latency for grouped PEs) fails."""
    cfg, dut = _hw(kw)
    sc, _ = tiles_scenario(cfg, layouts_of(dut), np.random.default_rng(2), n_tiles=5, K=(1, 14),
                           extreme=0.05)
    res = run_amaranth(dut, sc, seed=1)
    assert res.ok, res.mismatches[:5]
    assert res.out_cycles == sc.out_cycles
    res = run_amaranth(dut, sc, seed=2, gap=0.3, stall=0.3)
    assert res.ok, res.mismatches[:5]
    sc.out_cycles = {"out": [c - 1 for c in sc.out_cycles["out"]]}
    res = run_amaranth(dut, sc, seed=1)
    assert any("cycle model says" in m for m in res.mismatches)


def test_back_to_back_k1_tiles_and_group_boundaries():
    """K = 1 tiles back to back (a flush in every step, beside the next first product) and K at
    the DGA group boundaries, at full rate: rows exactly where the model puts them."""
    cfg, dut = _hw(dict(order="dga", adders=1), rows=2, cols=3)
    rng = np.random.default_rng(8)
    tiles = [random_tile(cfg, K, rng, 0.02) for K in (1, 1, 1, 4, 5, 8, 9, 1, 16, 17, 1)]
    sc, _ = tiles_scenario(cfg, layouts_of(dut), rng, tiles=tiles)
    res = run_amaranth(dut, sc, seed=0)
    assert res.ok, res.mismatches[:5]
    assert res.out_cycles == sc.out_cycles


def test_hw_wrong_group_boundary_and_corrupted_golden_fail():
    """Expectations from a golden with the group size one larger, or with one bit flipped, fail
    on the hardware (the mutation checks of the ladder, on the FP8 array)."""
    cfg, dut = _hw(dict(order="static", group_size=4))
    lay = layouts_of(dut)
    rng = np.random.default_rng(6)
    tiles = [random_tile(cfg, 30, rng) for _ in range(3)]
    good, _ = tiles_scenario(cfg, lay, rng, tiles=tiles)
    assert run_amaranth(dut, good, seed=3, gap=0.2, stall=0.2).ok
    wrong = cfg.replace(group_size=5)
    rows = [pack(lay["out"], r) for A, B in tiles for r in tile_rows(wrong, A, B)]
    assert rows != good.outputs["out"]
    bad = Scenario(inputs=good.inputs, outputs={"out": rows}, out_cycles=good.out_cycles,
                   check_ports=good.check_ports)
    assert not run_amaranth(dut, bad, seed=3).ok
    outs = list(good.outputs["out"])
    outs[2] ^= 1 << 3
    bad = Scenario(inputs=good.inputs, outputs={"out": outs}, out_cycles=good.out_cycles,
                   check_ports=good.check_ports)
    res = run_amaranth(dut, bad, seed=3, gap=0.2, stall=0.2)
    assert not res.ok and res.mismatches[0].startswith("out[2]")


def _ladder_scenario(cfg, dut, seed=9):
    sc, _ = tiles_scenario(cfg, layouts_of(dut), np.random.default_rng(seed), n_tiles=8,
                           K=(1, 24), extreme=0.05)
    return sc


@pytest.mark.cocotb
def test_icarus_dga(tmp_path):
    from sim.runner import run_cocotb
    require("iverilog")
    cfg, dut = _hw(dict(order="dga", b_fmt="e5m2"))
    sc = _ladder_scenario(cfg, dut)
    res = run_cocotb(cfg, dut, sc, simulator="icarus", build_dir=tmp_path, seed=4, gap=0.25,
                     stall=0.25)
    assert res.ok, res.mismatches[:5]
    assert res.checked == 8 * cfg.rows + 1


@pytest.mark.slow
@pytest.mark.cocotb
@pytest.mark.parametrize("kw", HW_CONFIGS, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
def test_verilator_and_native(tmp_path, kw):
    """Verilator under cocotb (gaps/stalls, then full rate with every row's cycle checked) and
    the native path (the same, plus a corrupted golden that must fail there)."""
    from sim.native import run_native
    from sim.runner import run_cocotb
    require("verilator")
    cfg, dut = _hw(kw)
    sc = _ladder_scenario(cfg, dut)
    res = run_cocotb(cfg, dut, sc, simulator="verilator", build_dir=tmp_path, seed=4, gap=0.25,
                     stall=0.25)
    assert res.ok, res.mismatches[:5]
    res = run_cocotb(cfg, dut, sc, simulator="verilator", build_dir=tmp_path, seed=4)
    assert res.ok, res.mismatches[:5]
    res = run_native(cfg, dut, sc, seed=4, gap=0.25, stall=0.25)
    assert res.ok, res.mismatches[:5]
    res = run_native(cfg, dut, sc, seed=4)
    assert res.ok and res.out_cycles == sc.out_cycles, res.mismatches[:5]
    outs = sc.outputs["out"]
    outs[5] ^= 1 << 4
    res = run_native(cfg, dut, sc, seed=4, gap=0.25, stall=0.25)
    assert not res.ok and any(m.startswith("out[5]") for m in res.mismatches)


@pytest.mark.slow
@pytest.mark.synth
@pytest.mark.cocotb
@pytest.mark.parametrize("kw", [dict(order="dga"), dict(order="seq", adders=1)],
                         ids=["dga", "seq"])
def test_netlist(tmp_path, kw):
    """The synthesized iCE40 netlist of a 2x2 FP8 array passes the same test (Icarus)."""
    from hw.synth import netlist
    from sim.runner import run_cocotb
    require("iverilog")
    cfg, dut = _hw(kw)
    sc = _ladder_scenario(cfg, dut, seed=10)
    sources = netlist(cfg, dut, workdir=tmp_path / "synth", target="ice40", cache=False)
    res = run_cocotb(cfg, dut, sc, simulator="icarus", build_dir=tmp_path / "sim", seed=4,
                     gap=0.25, stall=0.25, sources=sources)
    assert res.ok, res.mismatches[:5]


@pytest.mark.slow
def test_trainer_step_gemms_are_the_array():
    """Every FP8 GEMM of one MNIST-1D training step (forward E4M3 x E4M3, dW E4M3 x E5M2, dX
    E5M2 x E4M3): the trainer's fp_accumulate equals the array's golden for seq, static, dga."""
    from golden.minifloat import FpFormat, decode, encode
    from sim.fp8_array_study import training_step_gemms
    from train.fastgolden import fp_accumulate
    E5M6 = FpFormat(5, 6)
    for name, fa, A, fb, B in training_step_gemms(batch=16):
        for order in ("seq", "static", "dga"):
            cfg = MacArrayConfig(pe="fp8", order=order, a_fmt=fa, b_fmt=fb)
            C, _ = fp8_gemm(cfg, encode(cfg.fmt_a, A)[0], encode(cfg.fmt_b, B)[0])
            assert np.array_equal(decode(E5M6, C), fp_accumulate(E5M6, A, B, order)), (name, order)
