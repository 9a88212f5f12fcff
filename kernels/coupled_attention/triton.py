"""Fused causal attention with an id-based positional term: Triton forward and backward.

Same function as :func:`kernels.coupled_attention.naive.coupled_attention_reference`
(whose docstring gives the RoPE / ALiBi / FIRE equations), computed without ever
materialising a ``[T, T]`` tensor: flash-attention style tiles with an online
softmax, causal on token order, the positional term evaluated per tile from the
per-token ``position_ids``:

- RoPE: tiles are rotated in registers by ``cos/sin(p * theta_m)`` computed from
  the ids (``theta_m`` the reference's inverse frequencies; the angle is reduced
  modulo 2*pi exactly before cos/sin, so large ids stay accurate). The stationary
  tile of each program (Q in the forward and dQ kernels, K in dK/dV) is rotated
  in-kernel once. The streamed operand would be rotated once per (tile, program),
  i.e. T/block times per token, which measured 1.4-1.7x slower on an H100; by
  default the ``_prepare`` prologue kernel rotates it once per token instead
  (``BlockConfig.fused_rope=True`` keeps the all-in-loop variant);
- ALiBi: ``-slope_h * |p_i - p_j|`` added to each score tile;
- FIRE: the 1 -> hidden -> H ReLU MLP of the normalised distance evaluated per
  score element (fused; its parameters get gradients).

Launches: forward = [_prepare (K, RoPE only)] + _attn_fwd; backward = _prepare
(delta = rowsum(O * dO), and Q rotated and scaled for dK/dV) + _attn_bwd_dkdv + _attn_bwd_dq.

Scores are kept in the base-2 domain (``q`` pre-multiplied by ``scale * log2(e)``,
biases by ``log2(e)``) so the softmax uses ``exp2``. The forward saves the per-row
log-sum-exp (base 2); the backward recomputes the tiles (flash-attention 2):
one kernel accumulates dK/dV (and FIRE's parameter-gradient partial sums) per key
block, one accumulates dQ per query block.

Masked rows (a left-pad query whose keys are all padding) give zero output and
zero gradients, like the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict

import torch
import triton
import triton.language as tl

LOG2E = 1.4426950408889634
# 2*pi split for an exact Cody-Waite reduction: TWO_PI_HI is float32(2*pi); TWO_PI_LO = 2*pi - TWO_PI_HI.
TWO_PI_HI = tl.constexpr(6.2831854820251465)
TWO_PI_LO = tl.constexpr(-1.7484555314695172e-07)
INV_TWO_PI = tl.constexpr(0.15915494309189535)
FIRE_EPS = tl.constexpr(1e-6)  # the reference's clamp_min on FIRE's normaliser
FIRE_PARAM_NAMES = ("w1", "b1", "w2", "b2", "log_c", "threshold_l")


# ----------------------------------------------------------------------------------------------
# helpers (all elementwise, orientation-agnostic)
# ----------------------------------------------------------------------------------------------


@triton.jit
def _mm(a, b, PRECISION: tl.constexpr):
    """a @ b in float32. PRECISION "upcast" works around the interpreter's bf16 tl.dot (Triton 3.9 multiplies
    the raw uint16 bits): the operands are widened exactly and multiplied in float32."""
    if PRECISION == "upcast":
        return tl.dot(a.to(tl.float32), b.to(tl.float32), input_precision="ieee")
    else:
        return tl.dot(a, b, input_precision=PRECISION)


@triton.jit
def _mma(a, b, acc, PRECISION: tl.constexpr):
    """acc + a @ b (see :func:`_mm`)."""
    if PRECISION == "upcast":
        return tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
    else:
        return tl.dot(a, b, acc, input_precision=PRECISION)


@triton.jit
def _cos_sin(angle, FAST_TRIG: tl.constexpr):
    """cos/sin of a float32 angle. The reduction to [-pi, pi] is exact for |angle| < 2^22 (the
    product turns * TWO_PI_HI and the angle are both multiples of the angle's ulp, and the
    difference fits 24 bits), so large ids lose nothing beyond the reference's own float32 angle.
    FAST_TRIG (CUDA only) then uses the hardware's sin/cos.approx (abs. error < 1e-6 on [-pi, pi])
    instead of libdevice's accurate routines, which cost ~20 instructions each."""
    turns = tl.floor(angle * INV_TWO_PI + 0.5)
    reduced = tl.fma(-turns, TWO_PI_HI, angle)
    reduced = tl.fma(-turns, TWO_PI_LO, reduced)
    if FAST_TRIG:
        cos = tl.inline_asm_elementwise("cos.approx.f32 $0, $1;", "=f,f", [reduced], dtype=tl.float32, is_pure=True, pack=1)
        sin = tl.inline_asm_elementwise("sin.approx.f32 $0, $1;", "=f,f", [reduced], dtype=tl.float32, is_pure=True, pack=1)
        return cos, sin
    else:
        return tl.cos(reduced), tl.sin(reduced)


@triton.jit
def _rotate(x1, x2, cos, sin):
    """RoPE rotation of the rotate-half pair (x1, x2)."""
    return x1 * cos - x2 * sin, x1 * sin + x2 * cos


@triton.jit
def _unrotate(g1, g2, cos, sin):
    """Transpose of :func:`_rotate` (chain rule back through the rotation)."""
    return g1 * cos + g2 * sin, g2 * cos - g1 * sin


@triton.jit
def _log1p(x):
    """Accurate log(1 + x) for x >= 0 (Goldberg's trick; tl has no log1p)."""
    u = 1.0 + x
    exact = u == 1.0
    return tl.where(exact, x, tl.log(u) * (x / tl.where(exact, 1.0, u - 1.0)))


@triton.jit
def _fire_normalised(relative, inverse_norm, c):
    """FIRE's input ``sign(r) * log1p(c |r|) / N_i`` for ``relative = p_i - p_j`` (float32, exact integers).

    Returns (x, 1 + c|r|)."""
    distance = tl.abs(relative)
    numerator = _log1p(c * distance)
    numerator = tl.where(relative < 0, -numerator, numerator)
    return numerator * inverse_norm, 1.0 + c * distance


@triton.jit
def _fire_row_terms(pos_q, FIRE_SC):
    """Per query row: 1/N_i, and the factors of dN_i/dlog_c and dN_i/dL (zero where clamped).

    N_i = max(log1p(c * max(|L|, |p_i|)), eps).
    """
    c = tl.load(FIRE_SC)
    threshold = tl.load(FIRE_SC + 1)
    query = tl.abs(pos_q)
    abs_threshold = tl.abs(threshold)
    m = tl.maximum(abs_threshold, query)
    raw = _log1p(c * m)
    unclamped = raw >= FIRE_EPS
    norm = tl.where(unclamped, raw, FIRE_EPS)
    inverse_norm = 1.0 / norm
    # d log1p(c m)/d c = m / (1 + c m);  d/dm = c / (1 + c m)
    dnorm_dc = tl.where(unclamped, m / (1.0 + c * m), 0.0)
    # torch.maximum's backward: the whole gradient to the larger, half each on a tie
    dm_dl = tl.where(abs_threshold > query, 1.0, tl.where(abs_threshold == query, 0.5, 0.0))
    dm_dl = tl.where(threshold < 0, -dm_dl, tl.where(threshold == 0, 0.0, dm_dl))
    dnorm_dl = tl.where(unclamped, c / (1.0 + c * m) * dm_dl, 0.0)
    return inverse_norm, dnorm_dc * inverse_norm, dnorm_dl * inverse_norm


@triton.jit
def _fire_bias(x, W1, B1, W2_HEAD, B2_HEAD, FIRE_HIDDEN: tl.constexpr):
    """f_h(x) = b2_h + sum_k w2_hk relu(w1_k x + b1_k), elementwise over the tile x."""
    bias = tl.zeros_like(x) + tl.load(B2_HEAD)
    for unit in range(FIRE_HIDDEN):  # a real loop: unrolled, the 32 units blow the registers
        pre = x * tl.load(W1 + unit) + tl.load(B1 + unit)
        bias += tl.load(W2_HEAD + unit) * tl.maximum(pre, 0.0)
    return bias


@triton.jit
def _positional_bias(
    pos_row, pos_col, slope2, W1, B1, W2_HEAD, B2_HEAD, fire_c, fire_inv_norm,
    USE_ALIBI: tl.constexpr, USE_FIRE: tl.constexpr, FIRE_HIDDEN: tl.constexpr,
):
    """Base-2 additive bias for a tile; pos_row/pos_col and fire_inv_norm already broadcast to 2-D.

    pos_row holds the query ids, pos_col the key ids (whatever the tile's orientation), as float32:
    ids below 2^24 are exact and so is their difference; converting the id vectors once per tile
    instead of every element keeps the int->float conversions (a quarter-rate pipe) off the tile."""
    relative = pos_row - pos_col
    bias = tl.zeros(relative.shape, tl.float32)
    if USE_ALIBI:
        bias -= slope2 * tl.abs(relative)
    if USE_FIRE:
        x, _ = _fire_normalised(relative, fire_inv_norm, fire_c)
        bias += _fire_bias(x, W1, B1, W2_HEAD, B2_HEAD, FIRE_HIDDEN) * 1.4426950408889634
    return bias


@triton.jit
def _program_tile(H, T, BLOCK: tl.constexpr, HALF: tl.constexpr, HALF_PAD: tl.constexpr,
                  HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr):
    """This program's tile: (its first token, batch*H + head, batch, head, token offsets [BLOCK],
    half-dim offsets [HALF_PAD], dim offsets [D_PAD], and the in-range masks of the three)."""
    start = tl.program_id(0) * BLOCK
    batch_head = tl.program_id(1)
    b = batch_head // H
    h = batch_head % H
    offs_t = start + tl.arange(0, BLOCK)
    offs_h = tl.arange(0, HALF_PAD)
    offs_d = tl.arange(0, D_PAD)
    t_ok = offs_t < T
    half_ok = offs_h < HALF
    d_ok = offs_d < HEAD_DIM
    return start, batch_head, b, h, offs_t, offs_h, offs_d, t_ok, half_ok, d_ok


@triton.jit
def _load_pair(HEAD, offs_t, t_ok, offs_h, half_ok, stride_t, stride_d, HALF: tl.constexpr):
    """The rotate-half pair of rows ``offs_t`` of one head: x[:, :HALF] and x[:, HALF:], [BLOCK, HALF_PAD]
    each, 0 outside."""
    ptrs = HEAD + offs_t[:, None] * stride_t + offs_h[None, :] * stride_d
    mask = t_ok[:, None] & half_ok[None, :]
    return tl.load(ptrs, mask=mask, other=0.0), tl.load(ptrs + HALF * stride_d, mask=mask, other=0.0)


@triton.jit
def _rope(x1, x2, pos, inv_freq, FAST_TRIG: tl.constexpr):
    """RoPE of the rotate-half pair (x1, x2) [BLOCK, HALF_PAD] of tokens with float32 ids ``pos`` [BLOCK]."""
    cos, sin = _cos_sin(pos[:, None] * inv_freq[None, :], FAST_TRIG)
    return _rotate(x1, x2, cos, sin)


@triton.jit
def _unrope_grad(g1, g2, POS_ROW, offs_t, t_ok, spt, inv_freq, FAST_TRIG: tl.constexpr):
    """Chain rule back through :func:`_rope` for the gradient pair (g1, g2) of tokens ``offs_t``.

    cos/sin are recomputed rather than kept live through the loop (registers); the volatile
    load stops the compiler from merging this with the first computation."""
    pos_again = tl.load(POS_ROW + offs_t * spt, mask=t_ok, other=0, volatile=True).to(tl.float32)
    cos, sin = _cos_sin(pos_again[:, None] * inv_freq[None, :], FAST_TRIG)
    return _unrotate(g1, g2, cos, sin)


@triton.jit
def _store_pair(OUT_HEAD, offs_t, offs_h, x1, x2, mask, HEAD_DIM: tl.constexpr, HALF: tl.constexpr):
    """Store the pair (x1, x2) as rows ``offs_t`` of a contiguous [T, D] head, in its dtype."""
    ptrs = OUT_HEAD + offs_t[:, None] * HEAD_DIM + offs_h[None, :]
    tl.store(ptrs, x1.to(OUT_HEAD.dtype.element_ty), mask=mask)
    tl.store(ptrs + HALF, x2.to(OUT_HEAD.dtype.element_ty), mask=mask)


@triton.jit
def _bias_scalars(SLOPES, FIRE_SC, h, USE_ALIBI: tl.constexpr, USE_FIRE: tl.constexpr):
    """Head ``h``'s ALiBi slope in base 2 and FIRE's c (each 0.0 when that term is off)."""
    slope2 = 0.0
    if USE_ALIBI:
        slope2 = tl.load(SLOPES + h) * 1.4426950408889634
    fire_c = 0.0
    if USE_FIRE:
        fire_c = tl.load(FIRE_SC)
    return slope2, fire_c


@triton.jit
def _stationary_queries(
    Q_HEAD, INV_FREQ, pos_q, offs_m, row_ok, offs_h, half_ok, sqt, sqd, qk_scale, dtype,
    HALF: tl.constexpr, USE_ROPE: tl.constexpr, FAST_TRIG: tl.constexpr,
):
    """The query tile of the forward and dQ kernels: (q1, q2) rotated, times qk_scale, in ``dtype``;
    and the inverse frequencies [HALF_PAD]."""
    q1, q2 = _load_pair(Q_HEAD, offs_m, row_ok, offs_h, half_ok, sqt, sqd, HALF)
    q1 = q1.to(tl.float32)
    q2 = q2.to(tl.float32)
    inv_freq = tl.load(INV_FREQ + offs_h, mask=half_ok, other=0.0)
    if USE_ROPE:
        q1, q2 = _rope(q1, q2, pos_q, inv_freq, FAST_TRIG)
    q1 = (q1 * qk_scale).to(dtype)
    q2 = (q2 * qk_scale).to(dtype)
    return q1, q2, inv_freq


@triton.jit
def _streamed_keys(
    K_HEAD, POS_B, inv_freq, start_n, T, offs_h, half_ok, skt, skd, spt, dtype,
    HALF: tl.constexpr, BLOCK_N: tl.constexpr, USE_ALIBI: tl.constexpr, USE_FIRE: tl.constexpr,
    STREAM_ROPE: tl.constexpr, FAST_TRIG: tl.constexpr,
):
    """The streamed key tile from token ``start_n`` of the forward and dQ kernels: (k1, k2) [N, HALF_PAD]
    in ``dtype``, the key ids [N] as float32 (zeros unless a term needs them), the token offsets [N] and
    their in-range mask [N]. K is already rotated unless STREAM_ROPE."""
    NEEDS_POS: tl.constexpr = (STREAM_ROPE or USE_ALIBI) or USE_FIRE
    offs_n = start_n + tl.arange(0, BLOCK_N)
    col_ok = offs_n < T
    if NEEDS_POS:
        pos_k = tl.load(POS_B + offs_n * spt, mask=col_ok, other=0).to(tl.float32)
    else:
        pos_k = tl.zeros([BLOCK_N], tl.float32)
    k1, k2 = _load_pair(K_HEAD, offs_n, col_ok, offs_h, half_ok, skt, skd, HALF)
    if STREAM_ROPE:  # rotate every streamed tile here (slow: see BlockConfig.fused_rope)
        k1, k2 = _rope(k1.to(tl.float32), k2.to(tl.float32), pos_k, inv_freq, FAST_TRIG)
        k1 = k1.to(dtype)
        k2 = k2.to(dtype)
    return k1, k2, pos_k, offs_n, col_ok


@triton.jit
def _causal_mask(s, offs_m, offs_n, col_ok, KPM_B, smt, HAS_MASK: tl.constexpr, DIAGONAL: tl.constexpr):
    """-inf where the [M, N] score tile ``s`` is masked: keys after the query (on the diagonal block),
    past the end, or padding."""
    if DIAGONAL:
        allowed = (offs_m[:, None] >= offs_n[None, :]) & col_ok[None, :]
        if HAS_MASK:
            real = tl.load(KPM_B + offs_n * smt, mask=col_ok, other=0) != 0
            allowed = allowed & real[None, :]
        s = tl.where(allowed, s, float("-inf"))
    elif HAS_MASK:
        real = tl.load(KPM_B + offs_n * smt, mask=col_ok, other=0) != 0
        s = tl.where(real[None, :], s, float("-inf"))
    return s


@triton.jit
def _key_range(start_m, T, BLOCK_M: tl.constexpr, DIAGONAL: tl.constexpr):
    """The keys [start, end) that the query block ``start_m`` visits in pass DIAGONAL of the forward and dQ
    kernels: 0, the key blocks before it (all visible, all < T); 1, the diagonal block (causal mask, sequence end)."""
    if DIAGONAL:
        return start_m, tl.minimum(start_m + BLOCK_M, T)
    else:
        return 0, start_m


@triton.jit
def _scores(
    q1, q2, k1, k2, pos_q, pos_k, offs_m, offs_n, col_ok, KPM_B, smt,
    slope2, W1, B1, W2_HEAD, B2_HEAD, fire_c, fire_inv_norm,
    USE_ALIBI: tl.constexpr, USE_FIRE: tl.constexpr, FIRE_HIDDEN: tl.constexpr,
    HAS_MASK: tl.constexpr, DIAGONAL: tl.constexpr, PRECISION: tl.constexpr,
):
    """The masked base-2 score tile [M, N] of the forward and dQ kernels: the stationary queries (q1, q2)
    [M, HALF_PAD] times the streamed keys (k1, k2) [N, HALF_PAD], plus the positional bias."""
    s = _mm(q1, tl.trans(k1), PRECISION)
    s = _mma(q2, tl.trans(k2), s, PRECISION)  # [M, N], base 2
    if USE_ALIBI or USE_FIRE:
        s += _positional_bias(
            pos_q[:, None], pos_k[None, :], slope2, W1, B1, W2_HEAD, B2_HEAD, fire_c, fire_inv_norm[:, None],
            USE_ALIBI, USE_FIRE, FIRE_HIDDEN,
        )
    return _causal_mask(s, offs_m, offs_n, col_ok, KPM_B, smt, HAS_MASK, DIAGONAL)


# ----------------------------------------------------------------------------------------------
# forward
# ----------------------------------------------------------------------------------------------


@triton.jit
def _fwd_inner(
    acc, l_i, m_i, q1, q2, pos_q, offs_m,
    K_HEAD, V_HEAD, POS_B, KPM_B, inv_freq, offs_h, half_ok, offs_d, d_ok,
    skt, skd, svt, svd, spt, smt, T,
    slope2, W1, B1, W2_HEAD, B2_HEAD, fire_c, fire_inv_norm,
    start, end,
    HALF: tl.constexpr, BLOCK_N: tl.constexpr,
    USE_ROPE: tl.constexpr, USE_ALIBI: tl.constexpr, USE_FIRE: tl.constexpr, FIRE_HIDDEN: tl.constexpr,
    HAS_MASK: tl.constexpr, DIAGONAL: tl.constexpr, PRECISION: tl.constexpr, FAST_TRIG: tl.constexpr,
    STREAM_ROPE: tl.constexpr,
):
    for start_n in range(start, end, BLOCK_N):
        k1, k2, pos_k, offs_n, col_ok = _streamed_keys(  # [N, HALF_PAD] each, [N] each
            K_HEAD, POS_B, inv_freq, start_n, T, offs_h, half_ok, skt, skd, spt, q1.dtype,
            HALF, BLOCK_N, USE_ALIBI, USE_FIRE, STREAM_ROPE, FAST_TRIG,
        )
        s = _scores(  # [M, N], base 2
            q1, q2, k1, k2, pos_q, pos_k, offs_m, offs_n, col_ok, KPM_B, smt,
            slope2, W1, B1, W2_HEAD, B2_HEAD, fire_c, fire_inv_norm,
            USE_ALIBI, USE_FIRE, FIRE_HIDDEN, HAS_MASK, DIAGONAL, PRECISION,
        )
        m_new = tl.maximum(m_i, tl.max(s, 1))
        if HAS_MASK:
            m_new_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # rows with no key yet
        else:
            m_new_safe = m_new
        p = tl.math.exp2(s - m_new_safe[:, None])
        alpha = tl.math.exp2(m_i - m_new_safe)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(V_HEAD + offs_n[:, None] * svt + offs_d[None, :] * svd, mask=col_ok[:, None] & d_ok[None, :], other=0.0)
        acc = acc * alpha[:, None]
        acc = _mma(p.to(v.dtype), v, acc, PRECISION)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _attn_fwd(
    Q, K, V, POS, INV_FREQ, SLOPES, KPM, W1, B1, W2, B2, FIRE_SC, OUT, LSE,
    sqb, sqh, sqt, sqd, skb, skh, skt, skd, svb, svh, svt, svd, sob, soh, sot, sod,
    spb, spt, smb, smt,
    H, T, qk_scale,
    HEAD_DIM: tl.constexpr, HALF: tl.constexpr, HALF_PAD: tl.constexpr, D_PAD: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    USE_ROPE: tl.constexpr, USE_ALIBI: tl.constexpr, USE_FIRE: tl.constexpr, FIRE_HIDDEN: tl.constexpr,
    HAS_MASK: tl.constexpr, PRECISION: tl.constexpr, FAST_TRIG: tl.constexpr, STREAM_ROPE: tl.constexpr,
):
    start_m, batch_head, b, h, offs_m, offs_h, offs_d, row_ok, half_ok, d_ok = _program_tile(
        H, T, BLOCK_M, HALF, HALF_PAD, HEAD_DIM, D_PAD)
    POS_B = POS + b * spb
    KPM_B = KPM + b * smb
    pos_q = tl.load(POS_B + offs_m * spt, mask=row_ok, other=0).to(tl.float32)
    q1, q2, inv_freq = _stationary_queries(  # [M, HALF_PAD] each, [HALF_PAD]
        Q + b * sqb + h * sqh, INV_FREQ, pos_q, offs_m, row_ok, offs_h, half_ok, sqt, sqd, qk_scale,
        Q.dtype.element_ty, HALF, USE_ROPE, FAST_TRIG,
    )

    slope2, fire_c = _bias_scalars(SLOPES, FIRE_SC, h, USE_ALIBI, USE_FIRE)
    fire_inv_norm = tl.zeros([BLOCK_M], tl.float32)
    if USE_FIRE:
        fire_inv_norm, _, _ = _fire_row_terms(pos_q, FIRE_SC)

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, D_PAD], tl.float32)
    K_HEAD = K + b * skb + h * skh
    V_HEAD = V + b * svb + h * svh
    W2_HEAD = W2 + h * FIRE_HIDDEN
    B2_HEAD = B2 + h
    for DIAGONAL in tl.static_range(2):  # the keys before this query block, then the diagonal block
        start, end = _key_range(start_m, T, BLOCK_M, DIAGONAL)
        acc, l_i, m_i = _fwd_inner(
            acc, l_i, m_i, q1, q2, pos_q, offs_m, K_HEAD, V_HEAD, POS_B, KPM_B, inv_freq, offs_h, half_ok, offs_d, d_ok,
            skt, skd, svt, svd, spt, smt, T, slope2, W1, B1, W2_HEAD, B2_HEAD, fire_c, fire_inv_norm, start, end,
            HALF, BLOCK_N, USE_ROPE, USE_ALIBI, USE_FIRE, FIRE_HIDDEN, HAS_MASK, DIAGONAL, PRECISION, FAST_TRIG, STREAM_ROPE,
        )
    if HAS_MASK:
        empty = l_i == 0.0
        l_safe = tl.where(empty, 1.0, l_i)
        out = acc / l_safe[:, None]
        lse = tl.where(empty, float("inf"), m_i + tl.log2(l_safe))  # +inf: p = 0 in the backward
    else:
        out = acc / l_i[:, None]
        lse = m_i + tl.log2(l_i)
    o_ptrs = OUT + b * sob + h * soh + offs_m[:, None] * sot + offs_d[None, :] * sod
    tl.store(o_ptrs, out.to(OUT.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])
    tl.store(LSE + batch_head * T + offs_m, lse, mask=row_ok)


# ----------------------------------------------------------------------------------------------
# backward: dK, dV (+ FIRE partial sums), one program per key block
# ----------------------------------------------------------------------------------------------


@triton.jit
def _bwd_dkdv_inner(
    dk1, dk2, dv, fire_acc_a, fire_acc_b, fire_scalars,
    k1, k2, v, pos_k, offs_n, key_real,
    Q_HEAD, DO_HEAD, LSE_HEAD, DELTA_HEAD, POS_B, inv_freq, offs_h, half_ok, offs_d, d_ok,
    sqt, sqd, sdt, sdd, spt, T, qk_scale,
    slope2, W1, B1, W2_HEAD, B2_HEAD, FIRE_SC, fire_c, hidden_index,
    start, end,
    HALF: tl.constexpr, BLOCK_M: tl.constexpr,
    USE_ROPE: tl.constexpr, USE_ALIBI: tl.constexpr, USE_FIRE: tl.constexpr, FIRE_HIDDEN: tl.constexpr,
    HAS_MASK: tl.constexpr, DIAGONAL: tl.constexpr, PRECISION: tl.constexpr, FAST_TRIG: tl.constexpr,
    STREAM_ROPE: tl.constexpr, PRESCALED: tl.constexpr,
):
    NEEDS_POS: tl.constexpr = (STREAM_ROPE or USE_ALIBI) or USE_FIRE
    for start_m in range(start, end, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        row_ok = offs_m < T
        # q^T halves: [HALF_PAD, M]
        qT_ptrs = Q_HEAD + offs_h[:, None] * sqd + offs_m[None, :] * sqt
        qT_mask = half_ok[:, None] & row_ok[None, :]
        if NEEDS_POS:
            pos_q = tl.load(POS_B + offs_m * spt, mask=row_ok, other=0).to(tl.float32)
        if PRESCALED:  # q already rotated and multiplied by qk_scale (_prepare)
            qT1 = tl.load(qT_ptrs, mask=qT_mask, other=0.0)
            qT2 = tl.load(qT_ptrs + HALF * sqd, mask=qT_mask, other=0.0)
        else:
            qT1 = tl.load(qT_ptrs, mask=qT_mask, other=0.0).to(tl.float32)
            qT2 = tl.load(qT_ptrs + HALF * sqd, mask=qT_mask, other=0.0).to(tl.float32)
            if STREAM_ROPE:
                cos, sin = _cos_sin(inv_freq[:, None] * pos_q[None, :], FAST_TRIG)
                qT1, qT2 = _rotate(qT1, qT2, cos, sin)
            qT1 = (qT1 * qk_scale).to(k1.dtype)
            qT2 = (qT2 * qk_scale).to(k1.dtype)
        lse = tl.load(LSE_HEAD + offs_m, mask=row_ok, other=float("inf"))
        delta = tl.load(DELTA_HEAD + offs_m, mask=row_ok, other=0.0)
        sT = _mm(k1, qT1, PRECISION)
        sT = _mma(k2, qT2, sT, PRECISION)  # [N, M], base 2
        if USE_FIRE:
            fire_inv_norm, fire_dnorm_dc, fire_dnorm_dl = _fire_row_terms(pos_q, FIRE_SC)
        else:
            fire_inv_norm = tl.zeros([BLOCK_M], tl.float32)
        if USE_ALIBI or USE_FIRE:
            sT += _positional_bias(
                pos_q[None, :], pos_k[:, None], slope2, W1, B1, W2_HEAD, B2_HEAD, fire_c, fire_inv_norm[None, :],
                USE_ALIBI, USE_FIRE, FIRE_HIDDEN,
            )
        if DIAGONAL:
            allowed = offs_m[None, :] >= offs_n[:, None]
            if HAS_MASK:
                allowed = allowed & key_real[:, None]
            sT = tl.where(allowed, sT, float("-inf"))
        elif HAS_MASK:
            sT = tl.where(key_real[:, None], sT, float("-inf"))
        pT = tl.math.exp2(sT - lse[None, :])  # rows >= T and empty rows have lse = +inf -> 0
        do = tl.load(DO_HEAD + offs_m[:, None] * sdt + offs_d[None, :] * sdd, mask=row_ok[:, None] & d_ok[None, :], other=0.0)
        dv = _mma(pT.to(do.dtype), do, dv, PRECISION)
        dpT = _mm(v, tl.trans(do), PRECISION)  # [N, M]
        dsT = pT * (dpT - delta[None, :])  # dL/dS (natural units) = dL/dbias
        dsT_low = dsT.to(k1.dtype)
        dk1 = _mma(dsT_low, tl.trans(qT1), dk1, PRECISION)
        dk2 = _mma(dsT_low, tl.trans(qT2), dk2, PRECISION)
        if USE_FIRE:
            relative = pos_q[None, :] - pos_k[:, None]
            x, one_plus = _fire_normalised(relative, fire_inv_norm[None, :], fire_c)
            dbias_dx = tl.zeros_like(x)
            for unit in range(FIRE_HIDDEN):  # a real loop: unrolled, the 32 units blow the registers
                w1 = tl.load(W1 + unit)
                w2 = tl.load(W2_HEAD + unit)
                active = (x * w1 + tl.load(B1 + unit)) > 0.0
                ds_active = tl.where(active, dsT, 0.0)
                sum_a = tl.sum(tl.sum(ds_active, 1), 0)
                sum_b = tl.sum(tl.sum(ds_active * x, 1), 0)
                fire_acc_a += tl.where(hidden_index == unit, sum_a, 0.0)
                fire_acc_b += tl.where(hidden_index == unit, sum_b, 0.0)
                dbias_dx += tl.where(active, w2 * w1, 0.0)
            dx = dsT * dbias_dx
            # dx/dc = r / (1 + c|r|) / N_i - x * (dN_i/dc) / N_i
            dx_dc = relative / one_plus * fire_inv_norm[None, :] - x * fire_dnorm_dc[None, :]
            dx_dl = -x * fire_dnorm_dl[None, :]
            grad_c = tl.sum(tl.sum(dx * dx_dc, 1), 0)
            grad_l = tl.sum(tl.sum(dx * dx_dl, 1), 0)
            sum_ds = tl.sum(tl.sum(dsT, 1), 0)
            fire_scalars += tl.where(hidden_index == 0, sum_ds, 0.0)
            fire_scalars += tl.where(hidden_index == 1, grad_c * fire_c, 0.0)  # d/dlog_c = c d/dc
            fire_scalars += tl.where(hidden_index == 2, grad_l, 0.0)
    return dk1, dk2, dv, fire_acc_a, fire_acc_b, fire_scalars


@triton.jit
def _attn_bwd_dkdv(
    Q, K, V, POS, INV_FREQ, SLOPES, KPM, W1, B1, W2, B2, FIRE_SC,
    DO, LSE, DELTA, DK, DV, FIRE_PARTIAL,
    sqb, sqh, sqt, sqd, skb, skh, skt, skd, svb, svh, svt, svd, sdb, sdh, sdt, sdd,
    spb, spt, smb, smt,
    H, T, qk_scale, n_key_blocks,
    HEAD_DIM: tl.constexpr, HALF: tl.constexpr, HALF_PAD: tl.constexpr, D_PAD: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    USE_ROPE: tl.constexpr, USE_ALIBI: tl.constexpr, USE_FIRE: tl.constexpr,
    FIRE_HIDDEN: tl.constexpr, HIDDEN_PAD: tl.constexpr,
    HAS_MASK: tl.constexpr, PRECISION: tl.constexpr, FAST_TRIG: tl.constexpr,
    STREAM_ROPE: tl.constexpr, PRESCALED: tl.constexpr,
):
    """dK, dV are written [B, H, T, D] contiguous; FIRE_PARTIAL[bh, key_block] gets
    (sum_e ds [z_k > 0], sum_e ds x [z_k > 0]) per hidden unit k, then (sum ds, dlog_c, dL)."""
    start_n, batch_head, b, h, offs_n, offs_h, offs_d, col_ok, half_ok, d_ok = _program_tile(
        H, T, BLOCK_N, HALF, HALF_PAD, HEAD_DIM, D_PAD)
    POS_B = POS + b * spb
    pos_k = tl.load(POS_B + offs_n * spt, mask=col_ok, other=0).to(tl.float32)
    if HAS_MASK:
        key_real = tl.load(KPM + b * smb + offs_n * smt, mask=col_ok, other=0) != 0
    else:
        key_real = col_ok

    k1, k2 = _load_pair(K + b * skb + h * skh, offs_n, col_ok, offs_h, half_ok, skt, skd, HALF)  # [N, HALF_PAD]
    k1 = k1.to(tl.float32)
    k2 = k2.to(tl.float32)
    inv_freq = tl.load(INV_FREQ + offs_h, mask=half_ok, other=0.0)
    if USE_ROPE:
        k1, k2 = _rope(k1, k2, pos_k, inv_freq, FAST_TRIG)
    k1 = k1.to(K.dtype.element_ty)
    k2 = k2.to(K.dtype.element_ty)
    v = tl.load(V + b * svb + h * svh + offs_n[:, None] * svt + offs_d[None, :] * svd,
                mask=col_ok[:, None] & d_ok[None, :], other=0.0)

    slope2, fire_c = _bias_scalars(SLOPES, FIRE_SC, h, USE_ALIBI, USE_FIRE)
    hidden_index = tl.arange(0, HIDDEN_PAD)
    fire_acc_a = tl.zeros([HIDDEN_PAD], tl.float32)
    fire_acc_b = tl.zeros([HIDDEN_PAD], tl.float32)
    fire_scalars = tl.zeros([HIDDEN_PAD], tl.float32)

    dk1 = tl.zeros([BLOCK_N, HALF_PAD], tl.float32)
    dk2 = tl.zeros([BLOCK_N, HALF_PAD], tl.float32)
    dv = tl.zeros([BLOCK_N, D_PAD], tl.float32)
    Q_HEAD = Q + b * sqb + h * sqh
    DO_HEAD = DO + b * sdb + h * sdh
    LSE_HEAD = LSE + batch_head * T
    DELTA_HEAD = DELTA + batch_head * T
    W2_HEAD = W2 + h * FIRE_HIDDEN
    B2_HEAD = B2 + h
    diagonal_end = tl.minimum(start_n + BLOCK_N, T)
    # the diagonal block (causal mask and the sequence end), then the query blocks after it (all keys visible)
    for DIAGONAL in tl.static_range(1, -1, -1):  # DIAGONAL = 1, then 0
        if DIAGONAL:
            start, end = start_n, diagonal_end
        else:
            start, end = diagonal_end, T
        dk1, dk2, dv, fire_acc_a, fire_acc_b, fire_scalars = _bwd_dkdv_inner(
            dk1, dk2, dv, fire_acc_a, fire_acc_b, fire_scalars, k1, k2, v, pos_k, offs_n, key_real,
            Q_HEAD, DO_HEAD, LSE_HEAD, DELTA_HEAD, POS_B, inv_freq, offs_h, half_ok, offs_d, d_ok,
            sqt, sqd, sdt, sdd, spt, T, qk_scale, slope2, W1, B1, W2_HEAD, B2_HEAD, FIRE_SC, fire_c, hidden_index,
            start, end,
            HALF, BLOCK_M, USE_ROPE, USE_ALIBI, USE_FIRE, FIRE_HIDDEN, HAS_MASK, DIAGONAL, PRECISION, FAST_TRIG, STREAM_ROPE, PRESCALED,
        )
    # dS was taken w.r.t. natural-unit scores; the q tiles carried scale * log2(e)
    dk1 = dk1 * (1.0 / 1.4426950408889634)
    dk2 = dk2 * (1.0 / 1.4426950408889634)
    if USE_ROPE:
        dk1, dk2 = _unrope_grad(dk1, dk2, POS_B, offs_n, col_ok, spt, inv_freq, FAST_TRIG)
    _store_pair(DK + batch_head * T * HEAD_DIM, offs_n, offs_h, dk1, dk2, col_ok[:, None] & half_ok[None, :], HEAD_DIM, HALF)
    dv_ptrs = DV + batch_head * T * HEAD_DIM + offs_n[:, None] * HEAD_DIM + offs_d[None, :]
    tl.store(dv_ptrs, dv.to(DV.dtype.element_ty), mask=col_ok[:, None] & d_ok[None, :])
    if USE_FIRE:
        partial = FIRE_PARTIAL + (batch_head * n_key_blocks + tl.program_id(0)) * (3 * HIDDEN_PAD)
        tl.store(partial + hidden_index, fire_acc_a)
        tl.store(partial + HIDDEN_PAD + hidden_index, fire_acc_b)
        tl.store(partial + 2 * HIDDEN_PAD + hidden_index, fire_scalars)


# ----------------------------------------------------------------------------------------------
# backward: dQ, one program per query block
# ----------------------------------------------------------------------------------------------


@triton.jit
def _bwd_dq_inner(
    dq1, dq2, q1, q2, do, lse, delta, pos_q, offs_m,
    K_HEAD, V_HEAD, POS_B, KPM_B, inv_freq, offs_h, half_ok, offs_d, d_ok,
    skt, skd, svt, svd, spt, smt, T,
    slope2, W1, B1, W2_HEAD, B2_HEAD, fire_c, fire_inv_norm,
    start, end,
    HALF: tl.constexpr, BLOCK_N: tl.constexpr,
    USE_ROPE: tl.constexpr, USE_ALIBI: tl.constexpr, USE_FIRE: tl.constexpr, FIRE_HIDDEN: tl.constexpr,
    HAS_MASK: tl.constexpr, DIAGONAL: tl.constexpr, PRECISION: tl.constexpr, FAST_TRIG: tl.constexpr,
    STREAM_ROPE: tl.constexpr,
):
    for start_n in range(start, end, BLOCK_N):
        k1, k2, pos_k, offs_n, col_ok = _streamed_keys(  # [N, HALF_PAD] each, [N] each
            K_HEAD, POS_B, inv_freq, start_n, T, offs_h, half_ok, skt, skd, spt, q1.dtype,
            HALF, BLOCK_N, USE_ALIBI, USE_FIRE, STREAM_ROPE, FAST_TRIG,
        )
        v = tl.load(V_HEAD + offs_n[:, None] * svt + offs_d[None, :] * svd, mask=col_ok[:, None] & d_ok[None, :], other=0.0)
        s = _scores(
            q1, q2, k1, k2, pos_q, pos_k, offs_m, offs_n, col_ok, KPM_B, smt,
            slope2, W1, B1, W2_HEAD, B2_HEAD, fire_c, fire_inv_norm,
            USE_ALIBI, USE_FIRE, FIRE_HIDDEN, HAS_MASK, DIAGONAL, PRECISION,
        )
        p = tl.math.exp2(s - lse[:, None])
        dp = _mm(do, tl.trans(v), PRECISION)
        ds = (p * (dp - delta[:, None])).to(k1.dtype)
        dq1 = _mma(ds, k1, dq1, PRECISION)
        dq2 = _mma(ds, k2, dq2, PRECISION)
    return dq1, dq2


@triton.jit
def _attn_bwd_dq(
    Q, K, V, POS, INV_FREQ, SLOPES, KPM, W1, B1, W2, B2, FIRE_SC,
    DO, LSE, DELTA, DQ,
    sqb, sqh, sqt, sqd, skb, skh, skt, skd, svb, svh, svt, svd, sdb, sdh, sdt, sdd,
    spb, spt, smb, smt,
    H, T, qk_scale, scale,
    HEAD_DIM: tl.constexpr, HALF: tl.constexpr, HALF_PAD: tl.constexpr, D_PAD: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    USE_ROPE: tl.constexpr, USE_ALIBI: tl.constexpr, USE_FIRE: tl.constexpr, FIRE_HIDDEN: tl.constexpr,
    HAS_MASK: tl.constexpr, PRECISION: tl.constexpr, FAST_TRIG: tl.constexpr, STREAM_ROPE: tl.constexpr,
):
    start_m, batch_head, b, h, offs_m, offs_h, offs_d, row_ok, half_ok, d_ok = _program_tile(
        H, T, BLOCK_M, HALF, HALF_PAD, HEAD_DIM, D_PAD)
    POS_B = POS + b * spb
    KPM_B = KPM + b * smb
    pos_q = tl.load(POS_B + offs_m * spt, mask=row_ok, other=0).to(tl.float32)
    q1, q2, inv_freq = _stationary_queries(  # [M, HALF_PAD] each, [HALF_PAD]
        Q + b * sqb + h * sqh, INV_FREQ, pos_q, offs_m, row_ok, offs_h, half_ok, sqt, sqd, qk_scale,
        Q.dtype.element_ty, HALF, USE_ROPE, FAST_TRIG,
    )
    do = tl.load(DO + b * sdb + h * sdh + offs_m[:, None] * sdt + offs_d[None, :] * sdd,
                 mask=row_ok[:, None] & d_ok[None, :], other=0.0)
    lse = tl.load(LSE + batch_head * T + offs_m, mask=row_ok, other=float("inf"))
    delta = tl.load(DELTA + batch_head * T + offs_m, mask=row_ok, other=0.0)

    slope2, fire_c = _bias_scalars(SLOPES, FIRE_SC, h, USE_ALIBI, USE_FIRE)
    fire_inv_norm = tl.zeros([BLOCK_M], tl.float32)
    if USE_FIRE:
        fire_inv_norm, _, _ = _fire_row_terms(pos_q, FIRE_SC)

    dq1 = tl.zeros([BLOCK_M, HALF_PAD], tl.float32)
    dq2 = tl.zeros([BLOCK_M, HALF_PAD], tl.float32)
    K_HEAD = K + b * skb + h * skh
    V_HEAD = V + b * svb + h * svh
    W2_HEAD = W2 + h * FIRE_HIDDEN
    B2_HEAD = B2 + h
    for DIAGONAL in tl.static_range(2):  # the keys before this query block, then the diagonal block
        start, end = _key_range(start_m, T, BLOCK_M, DIAGONAL)
        dq1, dq2 = _bwd_dq_inner(
            dq1, dq2, q1, q2, do, lse, delta, pos_q, offs_m, K_HEAD, V_HEAD, POS_B, KPM_B, inv_freq, offs_h, half_ok,
            offs_d, d_ok, skt, skd, svt, svd, spt, smt, T, slope2, W1, B1, W2_HEAD, B2_HEAD, fire_c, fire_inv_norm,
            start, end,
            HALF, BLOCK_N, USE_ROPE, USE_ALIBI, USE_FIRE, FIRE_HIDDEN, HAS_MASK, DIAGONAL, PRECISION, FAST_TRIG, STREAM_ROPE,
        )
    dq1 = dq1 * scale
    dq2 = dq2 * scale
    if USE_ROPE:
        dq1, dq2 = _unrope_grad(dq1, dq2, POS_B, offs_m, row_ok, spt, inv_freq, FAST_TRIG)
    _store_pair(DQ + batch_head * T * HEAD_DIM, offs_m, offs_h, dq1, dq2, row_ok[:, None] & half_ok[None, :], HEAD_DIM, HALF)


# ----------------------------------------------------------------------------------------------
# prologue: rotate the streamed operand once per token (and the backward's delta)
# ----------------------------------------------------------------------------------------------


@triton.jit
def _prepare(
    X, POS, INV_FREQ, XR, OUT, DO, DELTA,
    sxb, sxh, sxt, sxd, spb, spt, sob, soh, sot, sod, sdb, sdh, sdt, sdd,
    H, T, multiplier,
    HEAD_DIM: tl.constexpr, HALF: tl.constexpr, HALF_PAD: tl.constexpr, D_PAD: tl.constexpr,
    BLOCK: tl.constexpr, ROTATE: tl.constexpr, WITH_DELTA: tl.constexpr, FAST_TRIG: tl.constexpr,
):
    """XR[b, h, t] = rope(X[b, h, t], id) * multiplier in X's dtype (XR contiguous [B, H, T, D]);
    with WITH_DELTA also DELTA[b*H + h, t] = sum_d OUT * dO (the softmax backward's row term)."""
    _, batch_head, b, h, offs_t, offs_h, offs_d, row_ok, half_ok, d_ok = _program_tile(
        H, T, BLOCK, HALF, HALF_PAD, HEAD_DIM, D_PAD)
    if ROTATE:
        x1, x2 = _load_pair(X + b * sxb + h * sxh, offs_t, row_ok, offs_h, half_ok, sxt, sxd, HALF)
        pos = tl.load(POS + b * spb + offs_t * spt, mask=row_ok, other=0).to(tl.float32)
        inv_freq = tl.load(INV_FREQ + offs_h, mask=half_ok, other=0.0)
        x1, x2 = _rope(x1.to(tl.float32), x2.to(tl.float32), pos, inv_freq, FAST_TRIG)
        _store_pair(XR + batch_head * T * HEAD_DIM, offs_t, offs_h, x1 * multiplier, x2 * multiplier,
                    row_ok[:, None] & half_ok[None, :], HEAD_DIM, HALF)
    if WITH_DELTA:
        o_mask = row_ok[:, None] & d_ok[None, :]
        o = tl.load(OUT + b * sob + h * soh + offs_t[:, None] * sot + offs_d[None, :] * sod, mask=o_mask, other=0.0)
        do = tl.load(DO + b * sdb + h * sdh + offs_t[:, None] * sdt + offs_d[None, :] * sdd, mask=o_mask, other=0.0)
        delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)
        tl.store(DELTA + batch_head * T + offs_t, delta, mask=row_ok)


# ----------------------------------------------------------------------------------------------
# host side
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockConfig:
    """Tile sizes and launch parameters (forward, dK/dV, dQ).

    Constraints: block_m % block_n == 0, dkdv_block_n % dkdv_block_m == 0, dq_block_m % dq_block_n == 0,
    every block >= 16 (tl.dot's minimum)."""

    block_m: int = 128
    block_n: int = 64
    fwd_warps: int = 4
    fwd_stages: int = 3
    dkdv_block_m: int = 32
    dkdv_block_n: int = 128
    dq_block_m: int = 128
    dq_block_n: int = 32
    bwd_warps: int = 8
    bwd_stages: int = 3
    fast_trig: bool = True  # RoPE cos/sin through sin/cos.approx after exact reduction (CUDA only)
    # RoPE of the *streamed* operand (K in the forward and dQ kernels, Q in dK/dV): False rotates
    # each token once in the _prepare prologue (a [B, H, T, D] buffer, O(T D) work); True rotates
    # every streamed tile inside the attention loop, O(T^2 D / block) work, measured ~1.7x slower
    # (docs/benchmarks.md). The stationary tile is always rotated in-kernel, once per program.
    fused_rope: bool = False

    def validate(self) -> None:
        blocks = (self.block_m, self.block_n, self.dkdv_block_m, self.dkdv_block_n, self.dq_block_m, self.dq_block_n)
        if min(blocks) < 16 or any(b & (b - 1) for b in blocks):
            raise ValueError(f"block sizes must be powers of two >= 16, got {blocks}")
        if self.block_m % self.block_n or self.dkdv_block_n % self.dkdv_block_m or self.dq_block_m % self.dq_block_n:
            raise ValueError("diagonal blocks must tile evenly: block_m % block_n, dkdv_block_n % dkdv_block_m, dq_block_m % dq_block_n")


# Small tiles for the CPU interpreter (fast, and several blocks at test lengths).
INTERPRETER_CONFIG = BlockConfig(
    block_m=32, block_n=16, fwd_warps=4, fwd_stages=1,
    dkdv_block_m=16, dkdv_block_n=32, dq_block_m=32, dq_block_n=16, bwd_warps=4, bwd_stages=1,
)


class _BackwardTiles(TypedDict):
    """The backward kernels' fields of a :class:`BlockConfig`."""

    dkdv_block_m: int
    dkdv_block_n: int
    dq_block_m: int
    dq_block_n: int
    bwd_warps: int
    bwd_stages: int


def default_config(head_dim: int, use_fire: bool, device: torch.device, dtype: torch.dtype = torch.bfloat16) -> BlockConfig:
    """Tile sizes by head dim, dtype and positional term (interpreter: small tiles).

    Chosen so that ptxas reports no (or a few bytes of) register spills for sm_90; see docs/benchmarks.md."""
    if device.type != "cuda":
        return INTERPRETER_CONFIG
    small_backward = _BackwardTiles(dkdv_block_m=32, dkdv_block_n=64, dq_block_m=64, dq_block_n=32, bwd_warps=8, bwd_stages=2)
    if use_fire:  # the per-element MLP dominates; smaller tiles keep its temporaries in registers
        return BlockConfig(block_m=64, block_n=32, fwd_warps=4, fwd_stages=2, **small_backward)
    if dtype == torch.float32:  # exact float32 dots (no tensor cores): small tiles
        float32_backward: _BackwardTiles = {**small_backward, "dkdv_block_m": 16}
        return BlockConfig(block_m=64, block_n=32, fwd_warps=8, fwd_stages=2, **float32_backward)
    if head_dim <= 64:  # forward with 4 warps: 0.45 vs 0.55 ms (8 warps) at T=4096 on an H100
        return BlockConfig(block_m=128, block_n=64, fwd_warps=4, fwd_stages=3, bwd_warps=8, bwd_stages=3)
    return BlockConfig(block_m=128, block_n=64, fwd_warps=8, fwd_stages=2, **small_backward)


def _next_power_of_two(n: int, minimum: int = 16) -> int:
    return max(minimum, 1 << (max(n, 1) - 1).bit_length())


def _dot_precision(q: torch.Tensor) -> str:
    """float32: exact ("ieee", not tf32); 16-bit: tensor cores; bf16 under the interpreter: "upcast" (see _mm)."""
    if q.dtype == torch.float32:
        return "ieee"
    if q.dtype == torch.bfloat16 and not q.is_cuda:
        return "upcast"
    return "tf32"


def _launch_meta(q: torch.Tensor, config: BlockConfig) -> dict:
    head_dim = q.shape[-1]
    half = head_dim // 2
    return dict(
        FAST_TRIG=bool(config.fast_trig and q.is_cuda),
        HEAD_DIM=head_dim, HALF=half, HALF_PAD=_next_power_of_two(half), D_PAD=_next_power_of_two(head_dim),
    )


_CACHE: dict[tuple, torch.Tensor] = {}


def _cached(key: tuple, make) -> torch.Tensor:
    """Small constant tensors (inverse frequencies, placeholders) made once per device: every host-side
    op costs launch latency, which dominates at short lengths."""
    tensor = _CACHE.get(key)
    if tensor is None:
        tensor = _CACHE[key] = make()
    return tensor


def _inverse_frequency(base: float, head_dim: int, device: torch.device) -> torch.Tensor:
    """[D/2] float32, computed exactly as the reference's rope_angles (bit-identical angles)."""
    half = head_dim // 2
    return _cached(
        ("inv_freq", float(base), half, device),
        lambda: float(base) ** (-torch.arange(half, device=device, dtype=torch.float32) / half),
    )


def _placeholder(device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return _cached(("placeholder", device, dtype), lambda: torch.zeros(4, device=device, dtype=dtype))


def _prepare_launch(x, position_ids, inv_freq, multiplier, meta, *, out=None, grad_out=None, delta=None, rotate=True):
    """Launch _prepare: returns the rotated (and scaled) copy of x, [B, H, T, D] contiguous (or None)."""
    batch, heads, length, _ = x.shape
    rotated = torch.empty(x.shape, device=x.device, dtype=x.dtype) if rotate else None
    with_delta = delta is not None
    block = 64
    _prepare[(triton.cdiv(length, block), batch * heads)](
        x, position_ids, inv_freq, rotated if rotate else x, out if with_delta else x,
        grad_out if with_delta else x, delta if with_delta else inv_freq,
        *x.stride(), *position_ids.stride(),
        *(out.stride() if with_delta else x.stride()), *(grad_out.stride() if with_delta else x.stride()),
        heads, length, multiplier,
        BLOCK=block, ROTATE=rotate, WITH_DELTA=with_delta, num_warps=4,
        HEAD_DIM=meta["HEAD_DIM"], HALF=meta["HALF"], HALF_PAD=meta["HALF_PAD"], D_PAD=meta["D_PAD"],
        FAST_TRIG=meta["FAST_TRIG"],
    )
    return rotated


class CoupledAttentionFunction(torch.autograd.Function):
    """Autograd wrapper; use :func:`coupled_attention_triton`."""

    @staticmethod
    def forward(ctx, q, k, v, position_ids, inv_freq, slopes, key_padding_mask,
                w1, b1, w2, b2, log_c, threshold_l, scale, config, flags):
        use_rope, use_alibi, use_fire, has_mask = flags
        batch, heads, length, head_dim = q.shape
        fire_hidden = w1.shape[0] if use_fire else 1
        if use_fire:
            fire_scalars = torch.stack([log_c.detach().float().exp(), threshold_l.detach().float()])
            w1, b1, w2, b2 = (t.detach().float().contiguous() for t in (w1, b1, w2, b2))
        else:
            fire_scalars = w1 = b1 = w2 = b2 = _placeholder(q.device)
        meta = _launch_meta(q, config)
        stream_rope = use_rope and config.fused_rope
        # K as the forward and dQ kernels stream it: rotated once per token here unless fused_rope
        k_stream = _prepare_launch(k, position_ids, inv_freq, 1.0, meta) if use_rope and not config.fused_rope else k
        out = torch.empty_like(q)
        lse = torch.empty(batch * heads, length, device=q.device, dtype=torch.float32)
        _attn_fwd[(triton.cdiv(length, config.block_m), batch * heads)](
            q, k_stream, v, position_ids, inv_freq, slopes, key_padding_mask, w1, b1, w2, b2, fire_scalars, out, lse,
            *q.stride(), *k_stream.stride(), *v.stride(), *out.stride(),
            *position_ids.stride(), *key_padding_mask.stride(),
            heads, length, scale * LOG2E,
            BLOCK_M=config.block_m, BLOCK_N=config.block_n,
            USE_ROPE=use_rope, USE_ALIBI=use_alibi, USE_FIRE=use_fire, FIRE_HIDDEN=fire_hidden, HAS_MASK=has_mask,
            PRECISION=_dot_precision(q), STREAM_ROPE=stream_rope,
            num_warps=config.fwd_warps, num_stages=config.fwd_stages, **meta,
        )
        ctx.save_for_backward(q, k, v, k_stream, out, lse, position_ids, inv_freq, slopes, key_padding_mask,
                              w1, b1, w2, b2, fire_scalars)
        ctx.scale = scale
        ctx.config = config
        ctx.flags = flags
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (q, k, v, k_stream, out, lse, position_ids, inv_freq, slopes, key_padding_mask,
         w1, b1, w2, b2, fire_scalars) = ctx.saved_tensors
        use_rope, use_alibi, use_fire, has_mask = ctx.flags
        config: BlockConfig = ctx.config
        batch, heads, length, head_dim = q.shape
        fire_hidden = w1.shape[0] if use_fire else 1
        hidden_pad = _next_power_of_two(max(fire_hidden, 3), minimum=4)
        meta = _launch_meta(q, config)
        stream_rope = use_rope and config.fused_rope
        prescaled = use_rope and not config.fused_rope
        qk_scale = ctx.scale * LOG2E
        delta = torch.empty(batch * heads, length, device=q.device, dtype=torch.float32)  # [B*H, T]
        # one pass: delta = rowsum(O * dO), and Q as the dK/dV kernel streams it (rotated, times qk_scale)
        q_stream = _prepare_launch(q, position_ids, inv_freq, qk_scale, meta, out=out, grad_out=grad_out,
                                   delta=delta, rotate=prescaled)
        q_stream = q if q_stream is None else q_stream
        dq = torch.empty(q.shape, device=q.device, dtype=q.dtype)
        dk = torch.empty(q.shape, device=q.device, dtype=k.dtype)
        dv = torch.empty(q.shape, device=q.device, dtype=v.dtype)
        n_key_blocks = triton.cdiv(length, config.dkdv_block_n)
        fire_partial = (
            torch.empty(batch * heads, n_key_blocks, 3 * hidden_pad, device=q.device, dtype=torch.float32)
            if use_fire else _placeholder(q.device)
        )
        common = dict(
            USE_ROPE=use_rope, USE_ALIBI=use_alibi, USE_FIRE=use_fire, FIRE_HIDDEN=fire_hidden, HAS_MASK=has_mask,
            PRECISION=_dot_precision(q), STREAM_ROPE=stream_rope, **meta,
        )
        tail = (*grad_out.stride(), *position_ids.stride(), *key_padding_mask.stride())
        _attn_bwd_dkdv[(n_key_blocks, batch * heads)](
            q_stream, k, v, position_ids, inv_freq, slopes, key_padding_mask, w1, b1, w2, b2, fire_scalars,
            grad_out, lse, delta, dk, dv, fire_partial,
            *q_stream.stride(), *k.stride(), *v.stride(), *tail,
            heads, length, qk_scale, n_key_blocks,
            BLOCK_M=config.dkdv_block_m, BLOCK_N=config.dkdv_block_n, HIDDEN_PAD=hidden_pad, PRESCALED=prescaled,
            num_warps=config.bwd_warps, num_stages=config.bwd_stages, **common,
        )
        _attn_bwd_dq[(triton.cdiv(length, config.dq_block_m), batch * heads)](
            q, k_stream, v, position_ids, inv_freq, slopes, key_padding_mask, w1, b1, w2, b2, fire_scalars,
            grad_out, lse, delta, dq,
            *q.stride(), *k_stream.stride(), *v.stride(), *tail,
            heads, length, qk_scale, ctx.scale,
            BLOCK_M=config.dq_block_m, BLOCK_N=config.dq_block_n,
            num_warps=config.bwd_warps, num_stages=config.bwd_stages, **common,
        )
        fire_grads: list[torch.Tensor | None] = [None] * 6
        if use_fire:
            sums = fire_partial.view(batch, heads, n_key_blocks, 3, hidden_pad).sum(dim=(0, 2))  # [H, 3, HP]
            active_ds = sums[:, 0, :fire_hidden]  # [H, hidden]: sum ds [z > 0]
            active_ds_x = sums[:, 1, :fire_hidden]  # [H, hidden]: sum ds x [z > 0]
            grad_w1 = (w2 * active_ds_x).sum(0)
            grad_b1 = (w2 * active_ds).sum(0)
            grad_w2 = w1[None, :] * active_ds_x + b1[None, :] * active_ds
            # b2_h is added to every score of a row, and softmax ignores per-row shifts: its gradient is
            # exactly 0 (sums[:, 2, 0] = sum ds holds only rounding, e.g. of the bf16 output in delta)
            grad_b2 = torch.zeros_like(b2)
            grad_log_c = sums[:, 2, 1].sum()
            grad_threshold = sums[:, 2, 2].sum()
            fire_grads = [grad_w1, grad_b1, grad_w2, grad_b2, grad_log_c, grad_threshold]
        return (dq, dk, dv, None, None, None, None, *fire_grads, None, None, None)


def coupled_attention_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    position_ids: torch.Tensor,
    *,
    rope_base: float | None = None,
    alibi_slopes: torch.Tensor | None = None,
    fire_params: dict[str, torch.Tensor] | None = None,
    key_padding_mask: torch.Tensor | None = None,
    scale: float | None = None,
    config: BlockConfig | None = None,
) -> torch.Tensor:
    """Fused coupled-position causal attention (Triton; CUDA, or the CPU under TRITON_INTERPRET=1).

    q, k, v: [B, H, T, D] (float32/bfloat16/float16, D even, 16 <= D <= 256; any strides);
    position_ids: [B, T] integers (|id| < 2^24); alibi_slopes: [H] (fixed, no gradient);
    fire_params: w1 [hidden], b1 [hidden], w2 [H, hidden], b2 [H], log_c [], threshold_l [];
    key_padding_mask: [B, T] bool, True = real token. Returns [B, H, T, D] in q's dtype.
    Gradients flow to q, k, v and the FIRE parameters. With RoPE, the backward keeps one extra
    [B, H, T, D] tensor (the rotated K) from the forward.
    """
    if q.dim() != 4 or k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"q, k, v must all be [B, H, T, D]; got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if not (q.dtype == k.dtype == v.dtype) or q.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"q, k, v must share one dtype among float32/bfloat16/float16; got {q.dtype}, {k.dtype}, {v.dtype}")
    batch, heads, length, head_dim = q.shape
    if head_dim % 2 or not 16 <= head_dim <= 256:
        raise ValueError(f"head dim must be even and within 16..256, got {head_dim}")
    if position_ids.shape != (batch, length):
        raise ValueError(f"position_ids must be [B, T] = {(batch, length)}, got {tuple(position_ids.shape)}")
    if position_ids.dtype.is_floating_point or position_ids.dtype == torch.bool:
        raise ValueError(f"position_ids must be integers, got {position_ids.dtype}")
    device = q.device
    config = config or default_config(head_dim, fire_params is not None, device, q.dtype)
    config.validate()
    scale = 1.0 / math.sqrt(head_dim) if scale is None else float(scale)
    if length == 0 or batch * heads == 0:
        return torch.empty_like(q)

    if position_ids.device != device:
        position_ids = position_ids.to(device)
    use_rope = rope_base is not None
    inv_freq = _placeholder(device) if rope_base is None else _inverse_frequency(rope_base, head_dim, device)
    use_alibi = alibi_slopes is not None
    if alibi_slopes is not None:
        if alibi_slopes.shape != (heads,):
            raise ValueError(f"alibi_slopes must be [H] = ({heads},), got {tuple(alibi_slopes.shape)}")
        slopes = alibi_slopes.detach().to(device=device, dtype=torch.float32)
    else:
        slopes = _placeholder(device)
    has_mask = key_padding_mask is not None
    if key_padding_mask is not None:
        if key_padding_mask.shape != (batch, length):
            raise ValueError(f"key_padding_mask must be [B, T] = {(batch, length)}, got {tuple(key_padding_mask.shape)}")
        mask = key_padding_mask.to(device)
        if mask.dtype != torch.bool:
            mask = mask != 0
    else:
        mask = _placeholder(device, torch.bool).view(2, 2)
    use_fire = fire_params is not None
    if fire_params is not None:
        missing = [name for name in FIRE_PARAM_NAMES if name not in fire_params]
        if missing:
            raise ValueError(f"fire_params is missing {missing}; expected keys {FIRE_PARAM_NAMES}")
        w1, b1, w2, b2 = (fire_params[name] for name in ("w1", "b1", "w2", "b2"))
        hidden = w1.shape[0]
        if w1.shape != (hidden,) or b1.shape != (hidden,) or w2.shape != (heads, hidden) or b2.shape != (heads,):
            raise ValueError(
                f"FIRE shapes: w1 [hidden], b1 [hidden], w2 [H, hidden], b2 [H] with H={heads}; got "
                f"{tuple(w1.shape)}, {tuple(b1.shape)}, {tuple(w2.shape)}, {tuple(b2.shape)}"
            )
        log_c, threshold_l = fire_params["log_c"], fire_params["threshold_l"]
    else:
        w1 = b1 = w2 = b2 = log_c = threshold_l = _placeholder(device)
    flags = (use_rope, use_alibi, use_fire, has_mask)
    return CoupledAttentionFunction.apply(
        q, k, v, position_ids, inv_freq, slopes, mask, w1, b1, w2, b2, log_c, threshold_l, scale, config, flags
    )
