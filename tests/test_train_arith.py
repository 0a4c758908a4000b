"""The trainer's vectorized arithmetic equals the golden models bit for bit."""

import numpy as np
import pytest

from golden.dga import acc_dga, acc_dga_exp, acc_group, acc_seq
from golden.mac_array import MacArrayConfig, gemm_tile, random_tile, tile_gemm
from golden.minifloat import FpFormat, decode, encode, fp_mul
from golden.rlsru import RlsruConfig, generate
from train.arith import Int8Arith, quantize_tensor
from train.fastgolden import PERIOD16, RandomStream, fp_accumulate, int_gemm, round_fp

E4M3, E5M2, E5M6 = FpFormat(4, 3), FpFormat(5, 2), FpFormat(5, 6)


# --- INT8 GEMM vs gemm_tile --------------------------------------------------------------------

def _tiled(cfg, A, B):
    """GEMM through golden gemm_tile, tile by tile (per-element flags from the row flags)."""
    M, N = A.shape[0], B.shape[1]
    R, C = cfg.rows, cfg.cols
    out = np.zeros((-(-M // R) * R, -(-N // C) * C), dtype=np.int64)
    rows = np.zeros((-(-M // R) * R, -(-N // C)), dtype=bool)
    nct = -(-N // C)
    for t, (At, Bt) in enumerate(tile_gemm(cfg, A, B)):
        mt, nt = divmod(t, nct)
        res, f = gemm_tile(cfg, At, Bt)
        out[mt * R:(mt + 1) * R, nt * C:(nt + 1) * C] = res
        rows[mt * R:(mt + 1) * R, nt] = f
    return out[:M, :N], rows[:M]


def _row_flags(cfg, ovf):
    M, N = ovf.shape
    C = cfg.cols
    pad = np.zeros((M, -(-N // C) * C), dtype=bool)
    pad[:, :N] = ovf
    return pad.reshape(M, -1, C).any(axis=2)


@pytest.mark.parametrize("acc,policy,K,extreme", [
    (32, "wrap", 300, 0.0), (32, "wrap", 700, 0.5), (16, "wrap", 40, 0.5),
    (16, "saturate", 40, 0.5), (18, "wrap", 25, 0.9), (18, "saturate", 25, 0.9)])
def test_int_gemm_equals_gemm_tile(acc, policy, K, extreme):
    cfg = MacArrayConfig(rows=8, cols=8, acc_width=acc, overflow=policy)
    rng = np.random.default_rng(K + acc)
    M, N = 21, 13
    A, _ = random_tile(MacArrayConfig(rows=M, cols=1), K, rng, extreme)
    _, B = random_tile(MacArrayConfig(rows=1, cols=N), K, rng, extreme)
    C, ovf = int_gemm(cfg, A, B, chunk=5)
    want, rows = _tiled(cfg, A, B)
    assert np.array_equal(C, want)
    assert np.array_equal(_row_flags(cfg, ovf), rows)
    if acc < 32:
        assert ovf.any()                         # the overflow path was exercised


def test_int_gemm_policy_mutation_is_caught():
    cfg = MacArrayConfig(rows=4, cols=4, acc_width=16, overflow="wrap")
    rng = np.random.default_rng(0)
    A, B = random_tile(cfg, 60, rng, 0.9)
    wrong, _ = int_gemm(MacArrayConfig(rows=4, cols=4, acc_width=16, overflow="saturate"), A, B)
    assert not np.array_equal(wrong, gemm_tile(cfg, A, B)[0])


def test_int8_forward_is_the_golden_pipeline():
    """One forward GEMM of the int8 mode = golden quantizer codes through gemm_tile, dequantized."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 24)).astype(np.float32)
    w = rng.standard_normal((24, 8)).astype(np.float32)
    ar = Int8Arith("rne")
    y, (qx, sx, qw, sw) = ar.forward(x, w)
    assert np.array_equal(qx, quantize_tensor(x)[0])
    cfg = MacArrayConfig(rows=8, cols=8)
    acc, _ = _tiled(cfg, qx.astype(np.int64), qw.astype(np.int64))
    assert np.array_equal(y, acc.astype(np.float32) * np.float32(sx * sw))


# --- minifloat rounding and FP12 accumulation --------------------------------------------------

@pytest.mark.parametrize("fmt", [E4M3, E5M2, E5M6])
def test_round_fp_equals_encode(fmt):
    rng = np.random.default_rng(fmt.m)
    x = rng.standard_normal(200_000) * np.exp2(rng.integers(-30, 20, 200_000))
    codes = np.arange(1 << fmt.width)
    v = decode(fmt, codes)
    v = v[np.isfinite(v)]
    mids = (v[:-1] + v[1:]) / 2                  # ties between neighbours (same sign half)
    x = np.concatenate([x, v, mids, -mids, np.nextafter(mids, 0), [fmt.max_value * 1.5, 0.0, -0.0]])
    want = decode(fmt, encode(fmt, x)[0])
    got = round_fp(fmt, x)
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("fa,fb", [(E4M3, E4M3), (E5M2, E4M3)])
def test_products_into_fp12_equal_fp_mul(fa, fb):
    """Every operand pair: the exact product rounded once to E5M6 = golden fp_mul(fout=E5M6)."""
    a, b = np.meshgrid(np.arange(1 << fa.width), np.arange(1 << fb.width), indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    va, vb = decode(fa, a), decode(fb, b)
    ok = np.isfinite(va) & np.isfinite(vb)
    want = decode(E5M6, fp_mul(fa, a[ok], fb, b[ok], fout=E5M6).bits)
    got = round_fp(E5M6, va[ok] * vb[ok])
    assert np.array_equal(got, want)


def _golden_acc(mode, a, b):
    """Golden: products via fp_mul into E5M6, dot products via golden.dga."""
    M, K = a.shape
    N = b.shape[1]
    ab = encode(E4M3, a)[0]
    bb = encode(E4M3, b)[0]
    p = fp_mul(E4M3, np.repeat(ab[:, None, :], N, 1), E4M3,
               np.repeat(bb.T[None, :, :], M, 0), fout=E5M6).bits.reshape(M * N, K)
    f = {"seq": lambda q: acc_seq(E5M6, q), "static": lambda q: acc_group(E5M6, q, 64),
         "dga": lambda q: acc_dga(E5M6, q), "dga_exp": lambda q: acc_dga_exp(E5M6, q)}[mode]
    return decode(E5M6, f(p).bits).reshape(M, N)


@pytest.mark.parametrize("mode", ["seq", "static", "dga", "dga_exp"])
@pytest.mark.parametrize("K,scale", [(300, 1.0), (150, 60.0)])
def test_fp_accumulate_equals_golden_dga(mode, K, scale):
    rng = np.random.default_rng(K)
    a = round_fp(E4M3, rng.standard_normal((5, K)) * scale * np.exp2(rng.integers(-6, 3, (5, K))))
    b = round_fp(E4M3, rng.standard_normal((K, 4)) * np.exp2(rng.integers(-6, 3, (K, 4))))
    got = fp_accumulate(E5M6, a, b, mode)
    want = _golden_acc(mode, a, b)
    assert np.array_equal(got, want)


def test_fp_accumulate_modes_differ():
    """Mutation guard: the four orders give different results on long dot products."""
    rng = np.random.default_rng(9)
    a = round_fp(E4M3, rng.standard_normal((4, 400)) + 2)
    b = round_fp(E4M3, rng.standard_normal((400, 4)) + 1)
    res = {m: fp_accumulate(E5M6, a, b, m) for m in ("seq", "static", "dga", "dga_exp")}
    assert not np.array_equal(res["seq"], res["static"])
    assert not np.array_equal(res["static"], res["dga"])
    assert not np.array_equal(res["dga"], res["dga_exp"])


# --- RLSRU stream --------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["per_lane", "leap", "split", "replay"])
def test_random_stream_equals_generate(scheme):
    cfg = RlsruConfig(lanes=16, frac_bits=8, scheme=scheme, seed=0x1234)
    st = RandomStream(cfg)
    sizes = [37, 16 * 50, 1000]
    parts = [st.take(n) for n in sizes]
    beats = [-(-n // 16) for n in sizes]
    g = generate(cfg, sum(beats))
    c = 0
    for n, nb, got in zip(sizes, beats, parts):
        start = 0 if scheme == "replay" else c
        assert np.array_equal(got, g[start:start + nb].reshape(-1)[:n]), (scheme, n)
        c += nb


@pytest.mark.parametrize("scheme", ["split", "per_lane"])
def test_random_stream_wraps_with_the_lfsr_period(scheme):
    cfg = RlsruConfig(lanes=4, frac_bits=8, scheme=scheme, seed=77)
    st = RandomStream(cfg)
    g = generate(cfg, PERIOD16 + 3)
    assert np.array_equal(st.beats(PERIOD16 - 2, 5), g[PERIOD16 - 2:PERIOD16 + 3])


def test_leap_stream_long_run():
    """Far into the stream (past the start-up phase of the bit recurrence)."""
    cfg = RlsruConfig(lanes=16, frac_bits=8, scheme="leap", seed=5)
    st = RandomStream(cfg)
    st.take(16 * 1500)
    tail = st.take(16 * 20)
    assert np.array_equal(tail, generate(cfg, 1520)[1500:].reshape(-1))
