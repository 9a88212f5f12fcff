"""Hierarchical sparse attention: Triton kernels (selection, forward, backward).

Same functions as :mod:`kernels.hsa.naive` (whose docstring gives the equations):

- :func:`select_chunks_triton`: scoring + top-K in one tiled kernel. A program holds a
  block of ``BLOCK_T`` retrieval queries and walks the landmarks of the chunks visible to
  them in tiles of ``BLOCK_C``: one ``[BLOCK_T, D_r] x [D_r, BLOCK_C]`` product per tile,
  merged into a running top-K kept in registers (rounds of row-max / replace-the-min, as
  many as the row with the most scores above its current K-th best needs: K for the first
  tiles, usually 0-2 later). Memory is O(T K): the
  ``[T, C]`` score matrix never exists, not even per block in device memory. (A chunked
  torch loop would also be linear in memory but writes and re-reads a ``[T_block, C]``
  score block and runs ``torch.topk`` on it: more traffic, and a host loop.)
  Recency ordering of the K slots is a small torch sort afterwards.
- :class:`HSAFunction`: the sparse attention given indices and weights, forward and backward.
  Forward: one program per (block of ``BLOCK_T`` tokens, batch x KV head). Per token the G query
  heads of the KV head are the rows of one tile (padded to 16), so each selected chunk's keys and
  values are loaded once for all G heads (the paper's hardware alignment); the tokens of a block
  go through batched (3-D) dots ``[BT, G, D] x [BT, D, S]``. A chunk fits one tile, so its softmax
  is exact (no online rescaling), and nothing is saved for the backward but the inputs.
  Backward: (1) a dq kernel with the forward's layout recomputes each slot's softmax and output
  O_k, giving dq, dw = sum_heads <dO, O_k> and Delta = <dO, O_k> per (token, head, slot);
  (2) a dk/dv kernel walks, per chunk, the (token, slot) pairs that selected it, found through an
  inverse index (a torch sort of the chunk ids, O(T K) memory, no host sync), gathering their q
  and dO rows into ``BLOCK_ROWS``-row tiles. The pairs of one chunk are cut into segments of at
  most ``segment_rows`` rows so that a chunk chosen by every token (an attention sink) does not
  serialise on one program; segments add their partial dk/dv into float32 buffers with atomics
  (so dk/dv are not bitwise deterministic; out, dq and dw are).

GPU defaults (BLOCK_T=1 with 4 warps; dk/dv 64-row tiles with 8 warps) were chosen from the
compiler's report for sm_90 (Triton 3.9's ptxas, offline): the largest tiles that compile without
register spills. They are not tuned by measurement (``config`` overrides them; bench/bench_hsa.py
--sweep compares some).

Repeated indices count once per slot; empty slots (-1) and slots whose chunk is not visible to
the token ((idx+1)*S > t) contribute nothing, as in the reference.
"""

from __future__ import annotations

import math
import os

import torch
import triton
import triton.language as tl

from kernels.hsa.naive import order_by_recency, slot_is_filled

LOG2E = 1.4426950408889634
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def _pow2(value: int, floor: int = 1) -> int:
    return max(floor, triton.next_power_of_2(int(value)))


def _precision(dtype: torch.dtype) -> str:
    """tl.dot input precision: exact for float32 (tests compare with the float32 reference), native for 16-bit."""
    return "ieee" if dtype == torch.float32 else "tf32"  # "tf32" is ignored for 16-bit operands


def _compute_dtype(tensor: torch.Tensor) -> torch.Tensor:
    """The Triton interpreter multiplies 16-bit tl.dot operands wrongly (Triton 3.9), so on the CPU the
    kernels run in float32; on the GPU tensors pass through unchanged."""
    return tensor.float() if INTERPRET and tensor.is_floating_point() else tensor


# ----------------------------------------------------------------------------------------------
# selection: scoring + top-K
# ----------------------------------------------------------------------------------------------


@triton.jit
def _token_block(kv_heads, BLOCK_T: tl.constexpr):
    """The program's tile of every HSA kernel: (block index, batch, KV head, its BLOCK_T tokens [BT])."""
    block = tl.program_id(0)
    bh = tl.program_id(1)
    tokens = block * BLOCK_T + tl.arange(0, BLOCK_T)  # [BT]
    return block, bh // kv_heads, bh % kv_heads, tokens


@triton.jit
def _select_kernel(
    LQ, LM, OUT_IDX,
    s_lq_b, s_lq_t, s_lq_h, s_lq_d,
    s_lm_b, s_lm_c, s_lm_h, s_lm_d,
    s_oi_b, s_oi_t, s_oi_h, s_oi_k,
    length, num_chunks, kv_heads, score_scale,
    CHUNK: tl.constexpr, TOP_K: tl.constexpr, K_PAD: tl.constexpr,
    RDIM: tl.constexpr, RDIM_PAD: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr, PRECISION: tl.constexpr,
):
    block, b, h, tokens = _token_block(kv_heads, BLOCK_T)  # tokens: [BT]
    dims = tl.arange(0, RDIM_PAD)
    lq = tl.load(
        LQ + b.to(tl.int64) * s_lq_b + tokens[:, None].to(tl.int64) * s_lq_t + h * s_lq_h + dims[None, :] * s_lq_d,
        mask=(tokens[:, None] < length) & (dims[None, :] < RDIM), other=0.0,
    )  # [BT, Dr]
    slots = tl.arange(0, K_PAD)
    best = tl.where(slots[None, :] < TOP_K, float("-inf"), float("inf")) + tl.zeros([BLOCK_T, K_PAD], tl.float32)
    best_idx = tl.zeros([BLOCK_T, K_PAD], tl.int32) - 1
    # chunks visible to the last token of the block: i < floor(t_last / S)
    last = tl.minimum(block * BLOCK_T + BLOCK_T, length) - 1
    chunk_end = tl.minimum(last // CHUNK, num_chunks)
    cols = tl.arange(0, BLOCK_C)
    for c0 in range(0, chunk_end, BLOCK_C):
        chunk = c0 + cols  # [BC]
        lm = tl.load(
            LM + b.to(tl.int64) * s_lm_b + chunk[None, :].to(tl.int64) * s_lm_c + h * s_lm_h + dims[:, None] * s_lm_d,
            mask=(chunk[None, :] < num_chunks) & (dims[:, None] < RDIM), other=0.0,
        )  # [Dr, BC]
        score = tl.dot(lq, lm, input_precision=PRECISION) * score_scale  # [BT, BC]
        visible = ((chunk[None, :] + 1) * CHUNK <= tokens[:, None]) & (chunk[None, :] < num_chunks)
        score = tl.where(visible, score, float("-inf"))
        kth = tl.min(best, axis=1)  # [BT] current K-th best per token
        # merge rounds needed: the most scores in one row that beat that row's K-th best (at most K)
        rounds = tl.minimum(tl.max(tl.sum(tl.where(score > kth[:, None], 1, 0), axis=1)), TOP_K)
        for _ in range(rounds):
            top = tl.max(score, axis=1)  # [BT]
            top_col = tl.argmax(score, axis=1)  # [BT]
            low = tl.min(best, axis=1)
            low_slot = tl.argmin(best, axis=1)
            insert = top > low
            replace = insert[:, None] & (slots[None, :] == low_slot[:, None])
            best = tl.where(replace, top[:, None], best)
            best_idx = tl.where(replace, (c0 + top_col)[:, None].to(tl.int32), best_idx)
            score = tl.where(cols[None, :] == top_col[:, None], float("-inf"), score)
    out_mask = (tokens[:, None] < length) & (slots[None, :] < TOP_K)
    tl.store(
        OUT_IDX + b.to(tl.int64) * s_oi_b + tokens[:, None].to(tl.int64) * s_oi_t + h * s_oi_h + slots[None, :] * s_oi_k,
        best_idx.to(tl.int64), mask=out_mask,
    )


def select_chunks_triton(
    landmark_q: torch.Tensor, landmarks: torch.Tensor, chunk_size: int, top_k: int,
    block_t: int | None = None, block_c: int | None = None,
) -> torch.Tensor:
    """Top-K visible chunks per token and KV head, most recent first, -1 for empty slots.

    landmark_q: [B, T, H_kv, D_r]; landmarks: [B, C, H_kv, D_r]; returns indices [B, T, H_kv, K] int64
    (no gradient; score them with :func:`kernels.hsa.naive.selected_scores`). Memory O(B T H_kv K).
    """
    batch, length, kv_heads, retrieval_dim = landmark_q.shape
    num_chunks = landmarks.shape[1]
    if landmarks.shape[0] != batch or landmarks.shape[2] != kv_heads or landmarks.shape[3] != retrieval_dim:
        raise ValueError(f"landmarks must be [B, C, H_kv, D_r] = [{batch}, C, {kv_heads}, {retrieval_dim}], got {list(landmarks.shape)}")
    indices = torch.empty(batch, length, kv_heads, top_k, dtype=torch.int64, device=landmark_q.device)
    if length == 0:
        return indices
    block_t = block_t or (16 if INTERPRET else 64)
    block_c = block_c or (16 if INTERPRET else 64)
    lq, lm = _compute_dtype(landmark_q), _compute_dtype(landmarks)
    dtype = lq.dtype if lq.dtype == lm.dtype else torch.float32
    lq, lm = lq.to(dtype), lm.to(dtype)
    grid = (triton.cdiv(length, block_t), batch * kv_heads)
    _select_kernel[grid](
        lq, lm, indices,
        *lq.stride(), *lm.stride(), *indices.stride(),
        length, num_chunks, kv_heads, 1.0 / math.sqrt(retrieval_dim),
        CHUNK=chunk_size, TOP_K=top_k, K_PAD=_pow2(top_k, 2),
        RDIM=retrieval_dim, RDIM_PAD=_pow2(retrieval_dim, 16),
        BLOCK_T=block_t, BLOCK_C=block_c, PRECISION=_precision(dtype),
        num_warps=4,
    )
    return order_by_recency(indices)


# ----------------------------------------------------------------------------------------------
# sparse attention: forward
# ----------------------------------------------------------------------------------------------


@triton.jit
def _slot_scores(q, k_tile, keys, qk_scale, CHUNK: tl.constexpr, PRECISION: tl.constexpr):
    """exp2 of the base-2 logits [BT, G, S] of a slot, shifted by their row max (the softmax's numerator)."""
    logits = tl.dot(q, tl.permute(k_tile, (0, 2, 1)), input_precision=PRECISION) * qk_scale  # [BT, G, S], base 2
    logits = tl.where(keys[None, None, :] < CHUNK, logits, float("-inf"))
    return tl.exp2(logits - tl.max(logits, axis=2)[:, :, None])


@triton.jit
def _load_slot(K, V, IDX, W, kv_base, vv_base, idx_base, w_base, q, tokens, slot, keys, dims,
               s_k_t, s_k_d, s_v_t, s_v_d, s_i_t, s_i_k, s_w_t, s_w_k, length, qk_scale,
               CHUNK: tl.constexpr, HEAD_DIM: tl.constexpr, PRECISION: tl.constexpr):
    """Slot ``slot`` of a block of tokens: its chunk's keys and values [BT, S, D] (zeros for an
    empty or invisible slot, or a token past the end), its weight [BT] (0 likewise), and the
    unnormalised softmax of the queries ``q`` [BT, G, D] over the chunk, [BT, G, S] (:func:`_slot_scores`)."""
    live = tokens < length
    chunk = tl.load(IDX + idx_base + tokens.to(tl.int64) * s_i_t + slot * s_i_k, mask=live, other=-1).to(tl.int32)  # [BT]
    valid = live & (chunk >= 0) & ((chunk + 1) * CHUNK <= tokens)
    weight = tl.load(W + w_base + tokens.to(tl.int64) * s_w_t + slot * s_w_k, mask=valid, other=0.0).to(tl.float32)
    pos = (tl.maximum(chunk, 0) * CHUNK)[:, None, None] + keys[None, :, None]  # [BT, S, 1]
    kv_mask = valid[:, None, None] & (keys[None, :, None] < CHUNK) & (dims[None, None, :] < HEAD_DIM)
    k_tile = tl.load(K + kv_base + pos.to(tl.int64) * s_k_t + dims[None, None, :] * s_k_d, mask=kv_mask, other=0.0)
    v_tile = tl.load(V + vv_base + pos.to(tl.int64) * s_v_t + dims[None, None, :] * s_v_d, mask=kv_mask, other=0.0)
    return k_tile, v_tile, weight, _slot_scores(q, k_tile, keys, qk_scale, CHUNK, PRECISION)


@triton.jit
def _slot_bases(b, kv_head, s_k_b, s_k_h, s_v_b, s_v_h, s_i_b, s_i_h, s_w_b, s_w_h):
    """Offsets of (batch ``b``, KV head ``kv_head``) in K, V, the indices and the weights (for :func:`_load_slot`)."""
    kv_base = b.to(tl.int64) * s_k_b + kv_head * s_k_h
    vv_base = b.to(tl.int64) * s_v_b + kv_head * s_v_h
    idx_base = b.to(tl.int64) * s_i_b + kv_head * s_i_h
    w_base = b.to(tl.int64) * s_w_b + kv_head * s_w_h
    return kv_base, vv_base, idx_base, w_base


@triton.jit
def _group_tile(Q, s_q_b, s_q_t, s_q_h, s_q_d, length, kv_heads, GROUP: tl.constexpr, G_PAD: tl.constexpr,
                S_PAD: tl.constexpr, HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, BLOCK_T: tl.constexpr):
    """The tile of the forward and dq kernels: BLOCK_T tokens x the GROUP query heads of one KV head.

    Returns batch, KV head, tokens [BT], head rows [G_PAD], dims [D_PAD], chunk key offsets [S_PAD],
    the query heads [G_PAD], the live tokens [BT], the [BT, G, D] mask of real (token, head, dim),
    and the tile's queries q [BT, G, D] from the [B, T, H, D] tensor Q (0 outside the mask)."""
    _, b, kv_head, tokens = _token_block(kv_heads, BLOCK_T)  # tokens: [BT]
    rows = tl.arange(0, G_PAD)
    dims = tl.arange(0, D_PAD)
    keys = tl.arange(0, S_PAD)
    heads = kv_head * GROUP + rows
    live = tokens < length
    mask = live[:, None, None] & (rows[None, :, None] < GROUP) & (dims[None, None, :] < HEAD_DIM)
    q = tl.load(_group_ptrs(Q, b, tokens, heads, dims, s_q_b, s_q_t, s_q_h, s_q_d), mask=mask, other=0.0)
    return b, kv_head, tokens, rows, dims, keys, heads, live, mask, q


@triton.jit
def _group_ptrs(X, b, tokens, heads, dims, s_b, s_t, s_h, s_d):
    """Pointers [BT, G, D] to (token, head, dim) of batch ``b`` in the [B, T, H, D] tensor X."""
    return X + b.to(tl.int64) * s_b + tokens[:, None, None].to(tl.int64) * s_t + heads[None, :, None] * s_h + dims[None, None, :] * s_d


@triton.jit
def _fwd_kernel(
    Q, K, V, IDX, W, OUT,
    s_q_b, s_q_t, s_q_h, s_q_d,
    s_k_b, s_k_t, s_k_h, s_k_d,
    s_v_b, s_v_t, s_v_h, s_v_d,
    s_i_b, s_i_t, s_i_h, s_i_k,
    s_w_b, s_w_t, s_w_h, s_w_k,
    s_o_b, s_o_t, s_o_h, s_o_d,
    length, kv_heads, qk_scale,
    GROUP: tl.constexpr, G_PAD: tl.constexpr, CHUNK: tl.constexpr, S_PAD: tl.constexpr,
    HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, TOP_K: tl.constexpr, BLOCK_T: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """One program: BLOCK_T tokens x the GROUP query heads of one KV head; batched [G, D] x [D, S] dots."""
    b, kv_head, tokens, rows, dims, keys, heads, live, q_mask, q = _group_tile(  # q: [BT, G, D]
        Q, s_q_b, s_q_t, s_q_h, s_q_d, length, kv_heads, GROUP, G_PAD, S_PAD, HEAD_DIM, D_PAD, BLOCK_T)
    kv_base, vv_base, idx_base, w_base = _slot_bases(b, kv_head, s_k_b, s_k_h, s_v_b, s_v_h, s_i_b, s_i_h, s_w_b, s_w_h)
    acc = tl.zeros([BLOCK_T, G_PAD, D_PAD], tl.float32)
    for slot in range(TOP_K):
        # each token's softmax over the S keys of its chunk: one tile, exact, no online rescaling
        k_tile, v_tile, weight, p = _load_slot(  # p: [BT, G, S]
            K, V, IDX, W, kv_base, vv_base, idx_base, w_base, q, tokens, slot, keys, dims,
            s_k_t, s_k_d, s_v_t, s_v_d, s_i_t, s_i_k, s_w_t, s_w_k, length, qk_scale, CHUNK, HEAD_DIM, PRECISION)
        p = p * (weight[:, None] / tl.sum(p, axis=2))[:, :, None]  # w_k * softmax
        acc += tl.dot(p.to(v_tile.dtype), v_tile, input_precision=PRECISION)  # [BT, G, D]
    tl.store(_group_ptrs(OUT, b, tokens, heads, dims, s_o_b, s_o_t, s_o_h, s_o_d), acc.to(OUT.dtype.element_ty), mask=q_mask)


# ----------------------------------------------------------------------------------------------
# sparse attention: backward
# ----------------------------------------------------------------------------------------------


@triton.jit
def _bwd_dq_kernel(
    Q, K, V, IDX, W, DO, DQ, DW, DELTA,
    s_q_b, s_q_t, s_q_h, s_q_d,
    s_k_b, s_k_t, s_k_h, s_k_d,
    s_v_b, s_v_t, s_v_h, s_v_d,
    s_i_b, s_i_t, s_i_h, s_i_k,
    s_w_b, s_w_t, s_w_h, s_w_k,
    s_do_b, s_do_t, s_do_h, s_do_d,
    s_dq_b, s_dq_t, s_dq_h, s_dq_d,
    s_dw_b, s_dw_t, s_dw_h, s_dw_k,
    s_de_b, s_de_t, s_de_h, s_de_k,
    length, kv_heads, qk_scale, scale,
    GROUP: tl.constexpr, G_PAD: tl.constexpr, CHUNK: tl.constexpr, S_PAD: tl.constexpr,
    HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, TOP_K: tl.constexpr, BLOCK_T: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """The forward's layout; per slot recomputes p and O_k, writes dw and Delta = <dO, O_k>, accumulates dq."""
    b, kv_head, tokens, rows, dims, keys, heads, live, q_mask, q = _group_tile(  # q: [BT, G, D]
        Q, s_q_b, s_q_t, s_q_h, s_q_d, length, kv_heads, GROUP, G_PAD, S_PAD, HEAD_DIM, D_PAD, BLOCK_T)
    do = tl.load(_group_ptrs(DO, b, tokens, heads, dims, s_do_b, s_do_t, s_do_h, s_do_d), mask=q_mask, other=0.0)  # [BT, G, D]
    kv_base, vv_base, idx_base, w_base = _slot_bases(b, kv_head, s_k_b, s_k_h, s_v_b, s_v_h, s_i_b, s_i_h, s_w_b, s_w_h)
    dw_ptrs = DW + b.to(tl.int64) * s_dw_b + kv_head * s_dw_h + tokens.to(tl.int64) * s_dw_t  # [BT]
    delta_ptrs = DELTA + b.to(tl.int64) * s_de_b + tokens[:, None].to(tl.int64) * s_de_t + heads[None, :] * s_de_h  # [BT, G]
    delta_mask = live[:, None] & (rows[None, :] < GROUP)
    dq = tl.zeros([BLOCK_T, G_PAD, D_PAD], tl.float32)
    for slot in range(TOP_K):
        k_tile, v_tile, weight, p = _load_slot(  # p: [BT, G, S]
            K, V, IDX, W, kv_base, vv_base, idx_base, w_base, q, tokens, slot, keys, dims,
            s_k_t, s_k_d, s_v_t, s_v_d, s_i_t, s_i_k, s_w_t, s_w_k, length, qk_scale, CHUNK, HEAD_DIM, PRECISION)
        p = p / tl.sum(p, axis=2)[:, :, None]
        slot_out = tl.dot(p.to(v_tile.dtype), v_tile, input_precision=PRECISION)  # O_k, [BT, G, D]
        delta = tl.sum(slot_out * do.to(tl.float32), axis=2)  # [BT, G]; 0 on padded rows and empty slots (do, v = 0)
        tl.store(delta_ptrs + slot * s_de_k, delta, mask=delta_mask)
        tl.store(dw_ptrs + slot * s_dw_k, tl.sum(delta, axis=1), mask=live)
        dp = tl.dot(do, tl.permute(v_tile, (0, 2, 1)), input_precision=PRECISION)  # [BT, G, S]
        ds = p * weight[:, None, None] * (dp - delta[:, :, None])
        dq += tl.dot(ds.to(k_tile.dtype), k_tile, input_precision=PRECISION)  # [BT, G, D]
    tl.store(_group_ptrs(DQ, b, tokens, heads, dims, s_dq_b, s_dq_t, s_dq_h, s_dq_d), (dq * scale).to(DQ.dtype.element_ty),
             mask=q_mask)


@triton.jit
def _bwd_dkdv_kernel(
    Q, K, V, W, DO, DELTA, DK, DV,
    ORDER, WORK_CHUNK, WORK_START, WORK_END,
    s_q_b, s_q_t, s_q_h, s_q_d,
    s_k_b, s_k_t, s_k_h, s_k_d,
    s_v_b, s_v_t, s_v_h, s_v_d,
    s_w_b, s_w_t, s_w_h, s_w_k,
    s_do_b, s_do_t, s_do_h, s_do_d,
    s_de_b, s_de_t, s_de_h, s_de_k,
    s_dk_b, s_dk_t, s_dk_h, s_dk_d,
    s_dv_b, s_dv_t, s_dv_h, s_dv_d,
    s_order_bh, s_work_bh,
    length, kv_heads, qk_scale, scale,
    GROUP: tl.constexpr, G_POW2: tl.constexpr, CHUNK: tl.constexpr, S_PAD: tl.constexpr,
    HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, TOP_K: tl.constexpr, BLOCK_ROWS: tl.constexpr,
    PRECISION: tl.constexpr,
):
    item = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // kv_heads
    kv_head = bh % kv_heads
    chunk = tl.load(WORK_CHUNK + bh.to(tl.int64) * s_work_bh + item)
    if chunk >= 0:
        start = tl.load(WORK_START + bh.to(tl.int64) * s_work_bh + item)
        end = tl.load(WORK_END + bh.to(tl.int64) * s_work_bh + item)
        keys = tl.arange(0, S_PAD)
        dims = tl.arange(0, D_PAD)
        pos = chunk * CHUNK + keys
        kv_mask = (keys[:, None] < CHUNK) & (pos[:, None] < length) & (dims[None, :] < HEAD_DIM)
        k_tile = tl.load(K + b.to(tl.int64) * s_k_b + pos[:, None].to(tl.int64) * s_k_t + kv_head * s_k_h + dims[None, :] * s_k_d,
                         mask=kv_mask, other=0.0)  # [S, D]
        v_tile = tl.load(V + b.to(tl.int64) * s_v_b + pos[:, None].to(tl.int64) * s_v_t + kv_head * s_v_h + dims[None, :] * s_v_d,
                         mask=kv_mask, other=0.0)  # [S, D]
        dk = tl.zeros([S_PAD, D_PAD], tl.float32)
        dv = tl.zeros([S_PAD, D_PAD], tl.float32)
        rows = tl.arange(0, BLOCK_ROWS)
        entry_of_row = rows // G_POW2
        head_of_row = kv_head * GROUP + rows % G_POW2
        ENTRIES: tl.constexpr = BLOCK_ROWS // G_POW2
        order_base = ORDER + bh.to(tl.int64) * s_order_bh
        for first in range(start, end, ENTRIES):
            entry = first + entry_of_row  # [R]
            live = (entry < end) & (rows % G_POW2 < GROUP)
            flat = tl.load(order_base + entry, mask=live, other=0)  # token * K + slot
            t = (flat // TOP_K).to(tl.int64)
            slot = flat % TOP_K
            row_mask = live[:, None] & (dims[None, :] < HEAD_DIM)
            q = tl.load(Q + b.to(tl.int64) * s_q_b + t[:, None] * s_q_t + head_of_row[:, None] * s_q_h + dims[None, :] * s_q_d,
                        mask=row_mask, other=0.0)  # [R, D]
            do = tl.load(DO + b.to(tl.int64) * s_do_b + t[:, None] * s_do_t + head_of_row[:, None] * s_do_h + dims[None, :] * s_do_d,
                         mask=row_mask, other=0.0)  # [R, D]
            weight = tl.load(W + b.to(tl.int64) * s_w_b + t * s_w_t + kv_head * s_w_h + slot * s_w_k, mask=live, other=0.0).to(tl.float32)
            delta = tl.load(DELTA + b.to(tl.int64) * s_de_b + t * s_de_t + head_of_row * s_de_h + slot * s_de_k, mask=live, other=0.0)
            logits = tl.dot(k_tile, tl.trans(q), input_precision=PRECISION) * qk_scale  # [S, R], base-2 domain
            logits = tl.where(keys[:, None] < CHUNK, logits, float("-inf"))
            peak = tl.max(logits, axis=0)
            p = tl.exp2(logits - peak[None, :])
            p = p / tl.sum(p, axis=0)[None, :] * weight[None, :]  # w_k * softmax, [S, R]
            dv += tl.dot(p.to(do.dtype), do, input_precision=PRECISION)
            dp = tl.dot(v_tile, tl.trans(do), input_precision=PRECISION)  # [S, R]
            ds = p * (dp - delta[None, :])
            dk += tl.dot(ds.to(q.dtype), q, input_precision=PRECISION)
        out_mask = kv_mask
        tl.atomic_add(DK + b.to(tl.int64) * s_dk_b + pos[:, None].to(tl.int64) * s_dk_t + kv_head * s_dk_h + dims[None, :] * s_dk_d,
                      dk * scale, mask=out_mask, sem="relaxed")
        tl.atomic_add(DV + b.to(tl.int64) * s_dv_b + pos[:, None].to(tl.int64) * s_dv_t + kv_head * s_dv_h + dims[None, :] * s_dv_d,
                      dv, mask=out_mask, sem="relaxed")


def _inverse_index(indices: torch.Tensor, chunk_size: int, num_chunks: int, segment: int):
    """For each (batch, KV head): the (token, slot) pairs sorted by the chunk they selected, and work
    items of at most ``segment`` pairs that never straddle two chunks. All O(T K), no host sync.

    indices: [B, T, H_kv, K]. Returns order [B*H_kv, T*K] int32 (token*K + slot, grouped by chunk),
    and per work item (chunk id or -1, start, end) as [B*H_kv, n_items] int32 tensors.
    """
    batch, length, kv_heads, top_k = indices.shape
    filled = slot_is_filled(indices, chunk_size)
    chunk_of_pair = torch.where(filled, indices, num_chunks).permute(0, 2, 1, 3).reshape(batch * kv_heads, length * top_k)
    sorted_chunk, order = torch.sort(chunk_of_pair, dim=1, stable=True)
    counts = torch.zeros(batch * kv_heads, num_chunks + 1, dtype=torch.int64, device=indices.device)
    counts.scatter_add_(1, chunk_of_pair, torch.ones_like(chunk_of_pair))
    counts = counts[:, :num_chunks]  # [BH, C]; the sentinel bin holds empty slots
    starts = torch.cumsum(counts, dim=1) - counts  # [BH, C] exclusive prefix sums
    segments = (counts + segment - 1) // segment  # [BH, C]
    segments_end = torch.cumsum(segments, dim=1)  # [BH, C]
    n_items = (length * top_k) // segment + num_chunks  # >= sum_c ceil(count_c / segment)
    item = torch.arange(n_items, device=indices.device).expand(batch * kv_heads, n_items).contiguous()
    chunk = torch.searchsorted(segments_end, item, right=True)  # [BH, n_items]
    used = chunk < num_chunks
    chunk_safe = chunk.clamp(max=num_chunks - 1)
    first_item = segments_end.gather(1, chunk_safe) - segments.gather(1, chunk_safe)
    start = starts.gather(1, chunk_safe) + (item - first_item) * segment
    end = torch.minimum(start + segment, starts.gather(1, chunk_safe) + counts.gather(1, chunk_safe))
    work_chunk = torch.where(used, chunk, -1).to(torch.int32)
    return order.to(torch.int32).contiguous(), work_chunk, start.to(torch.int32).contiguous(), end.to(torch.int32).contiguous()


class HSAFunction(torch.autograd.Function):
    """out = HSA(q, k, v, weights; indices): gradients for q, k, v and weights, none for indices."""

    @staticmethod
    def forward(ctx, q, k, v, weights, indices, chunk_size: int, scale: float, config: dict[str, int]):
        batch, length, heads, head_dim = q.shape
        kv_heads, top_k = k.shape[2], indices.shape[-1]
        group = heads // kv_heads
        out = torch.empty_like(q)
        meta = _meta(group, chunk_size, head_dim, top_k, q.dtype)
        block_t = config.get("block_t", 16 if INTERPRET else 1)
        grid = (triton.cdiv(length, block_t), batch * kv_heads)
        _fwd_kernel[grid](
            q, k, v, indices, weights, out,
            *q.stride(), *k.stride(), *v.stride(), *indices.stride(), *weights.stride(), *out.stride(),
            length, kv_heads, scale * LOG2E,
            BLOCK_T=block_t, num_warps=config.get("num_warps", 4), num_stages=config.get("num_stages", 2), **meta,
        )
        ctx.save_for_backward(q, k, v, weights, indices)
        ctx.chunk_size, ctx.scale, ctx.config = chunk_size, scale, config
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, weights, indices = ctx.saved_tensors
        chunk_size, scale, config = ctx.chunk_size, ctx.scale, ctx.config
        batch, length, heads, head_dim = q.shape
        kv_heads, top_k = k.shape[2], indices.shape[-1]
        group = heads // kv_heads
        meta = _meta(group, chunk_size, head_dim, top_k, q.dtype)
        grad_out = grad_out.contiguous()
        dq = torch.empty_like(q)
        dw = torch.empty(weights.shape, dtype=torch.float32, device=q.device)
        delta = torch.empty(batch, length, heads, top_k, dtype=torch.float32, device=q.device)
        block_t = config.get("block_t", 16 if INTERPRET else 1)
        grid = (triton.cdiv(length, block_t), batch * kv_heads)
        _bwd_dq_kernel[grid](
            q, k, v, indices, weights, grad_out, dq, dw, delta,
            *q.stride(), *k.stride(), *v.stride(), *indices.stride(), *weights.stride(),
            *grad_out.stride(), *dq.stride(), *dw.stride(), *delta.stride(),
            length, kv_heads, scale * LOG2E, scale,
            BLOCK_T=block_t, num_warps=config.get("num_warps", 4), num_stages=config.get("num_stages", 2), **meta,
        )
        num_chunks = length // chunk_size  # only complete chunks are ever visible
        dk32 = torch.zeros(k.shape, dtype=torch.float32, device=q.device)
        dv32 = torch.zeros(v.shape, dtype=torch.float32, device=q.device)
        if num_chunks > 0:
            g_pow2 = _pow2(group)
            block_rows = max(config.get("block_rows", 64), g_pow2)
            segment = max(1, config.get("segment_rows", 2048) // g_pow2)
            order, work_chunk, work_start, work_end = _inverse_index(indices, chunk_size, num_chunks, segment)
            grid = (work_chunk.shape[1], batch * kv_heads)
            _bwd_dkdv_kernel[grid](
                q, k, v, weights, grad_out, delta, dk32, dv32,
                order, work_chunk, work_start, work_end,
                *q.stride(), *k.stride(), *v.stride(), *weights.stride(), *grad_out.stride(), *delta.stride(),
                *dk32.stride(), *dv32.stride(), order.stride(0), work_chunk.stride(0),
                length, kv_heads, scale * LOG2E, scale,
                GROUP=group, G_POW2=g_pow2, CHUNK=chunk_size, S_PAD=meta["S_PAD"], HEAD_DIM=head_dim,
                D_PAD=meta["D_PAD"], TOP_K=top_k, BLOCK_ROWS=block_rows, PRECISION=meta["PRECISION"],
                num_warps=config.get("num_warps_dkdv", 8), num_stages=config.get("num_stages_dkdv", 2),
            )
        return dq, dk32.to(k.dtype), dv32.to(v.dtype), dw.to(weights.dtype), None, None, None, None


def _meta(group: int, chunk_size: int, head_dim: int, top_k: int, dtype: torch.dtype) -> dict:
    return {
        "GROUP": group, "G_PAD": _pow2(group, 16), "CHUNK": chunk_size, "S_PAD": _pow2(chunk_size, 16),
        "HEAD_DIM": head_dim, "D_PAD": _pow2(head_dim, 16), "TOP_K": top_k, "PRECISION": _precision(dtype),
    }


def hsa_attention_triton(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, indices: torch.Tensor, weights: torch.Tensor,
    chunk_size: int, scale: float | None = None, config: dict[str, int] | None = None,
) -> torch.Tensor:
    """Triton sparse attention given the selection; same contract as :func:`kernels.hsa.naive.hsa_reference`.

    q: [B, T, H, D]; k, v: [B, T, H_kv, D]; indices: [B, T, H_kv, K] int (-1 empty);
    weights: [B, T, H_kv, K]; returns [B, T, H, D] in q's dtype. ``config`` overrides tile settings
    (block_t, num_warps, num_stages, block_rows, segment_rows, num_warps_dkdv, num_stages_dkdv).
    """
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    out = HSAFunction.apply(
        _compute_dtype(q), _compute_dtype(k), _compute_dtype(v), weights, indices, chunk_size, scale, dict(config or {})
    )
    return out.to(q.dtype)
