"""Hierarchical sparse attention: Triton kernels against the float32 reference, and the reference
against the properties the paper's equations imply.

Without CUDA the Triton kernels run under TRITON_INTERPRET=1 (set in conftest.py) in float32 on
small shapes; on a CUDA machine the same tests run on the GPU with larger shapes and the production
tiles, in float32 and bfloat16, plus GPU-only cases (long sequences, selection memory).

Error measure: ||x - x_ref|| / ||x_ref|| over the whole tensor, the oracle computed in float32 from
the very same (already rounded) inputs. Bounds:

- float32: 1e-5. The kernels do the reference's float32 arithmetic in another order (exact "ieee"
  dots on the GPU, numpy on the CPU): each output is a sum of at most K*S products, so the relative
  error stays a few unit roundoffs (u = 6e-8) times sqrt(K*S); measured 2e-7.
- bfloat16 (u = 2^-8): the kernels round the softmax probabilities (before P @ V) and, in the
  backward, dS and P*w to bf16 before the products, each a relative perturbation of at most u that
  averages to ~u/sqrt(3) in norm: about 2u expected for the output, so we allow 4u; gradients go
  through two more roundings and sums of cancelling terms (dS = P (dP - Delta)), so we allow 8u.
"""

from __future__ import annotations

import math
import os

import pytest
import torch
import torch.nn.functional as F

from kernels.hsa import (
    HSASelection,
    chunk_visibility,
    chunk_weights,
    hsa,
    hsa_attention,
    hsa_reference,
    select_chunks,
    select_chunks_reference,
    selected_scores,
)

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
if not CUDA and os.environ.get("TRITON_INTERPRET") != "1":  # pragma: no cover - conftest sets it
    pytest.skip("no CUDA and TRITON_INTERPRET is not set", allow_module_level=True)
gpu_only = pytest.mark.skipif(not CUDA, reason="needs CUDA")

UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.bfloat16: 2.0**-8}
DTYPES = [torch.float32, torch.bfloat16] if CUDA else [torch.float32]  # the interpreter computes in float32


def output_bound(dtype: torch.dtype) -> float:
    return 1e-5 if dtype == torch.float32 else 4 * UNIT_ROUNDOFF[dtype]


def gradient_bound(dtype: torch.dtype) -> float:
    return 1e-5 if dtype == torch.float32 else 8 * UNIT_ROUNDOFF[dtype]


def relative_error(x: torch.Tensor, ref: torch.Tensor) -> float:
    x, ref = x.double(), ref.double()
    assert torch.isfinite(x).all(), "non-finite values"
    return ((x - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def scaled(length: int) -> int:
    """Sequence lengths: as given on the CPU (interpreter), 16x on the GPU."""
    return length * 16 if CUDA else length


def random_selection(generator: torch.Generator, batch: int, length: int, kv_heads: int, top_k: int, chunk_size: int, with_junk: bool = True) -> torch.Tensor:
    """[B, T, H_kv, K] indices drawn uniformly from each token's visible chunks, repeats allowed; with_junk
    also plants empty slots (-1) and invisible chunks (the current one, a future one), which must be ignored."""
    visible = torch.arange(length) // chunk_size  # [T] number of visible chunks
    draw = torch.rand(batch, length, kv_heads, top_k, generator=generator)
    indices = (draw * visible.view(1, -1, 1, 1)).long()  # in [0, visible)
    indices = torch.where(visible.view(1, -1, 1, 1) > 0, indices, -1)
    if with_junk:
        junk = torch.rand(batch, length, kv_heads, top_k, generator=generator)
        current = (torch.arange(length) // chunk_size).view(1, -1, 1, 1).expand_as(indices)
        indices = torch.where(junk < 0.1, -1, indices)
        indices = torch.where((junk >= 0.1) & (junk < 0.15), current, indices)  # the incomplete current chunk
        indices = torch.where((junk >= 0.15) & (junk < 0.18), current + 3, indices)  # a future chunk
    return indices.to(DEVICE)


def make_inputs(seed: int, batch: int, length: int, heads: int, kv_heads: int, head_dim: int, dtype: torch.dtype):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, length, heads, head_dim, generator=generator)
    k = torch.randn(batch, length, kv_heads, head_dim, generator=generator)
    v = torch.randn(batch, length, kv_heads, head_dim, generator=generator)
    return generator, *(x.to(DEVICE, dtype) for x in (q, k, v))


def run_with_grads(fn, tensors: list[torch.Tensor], grad_out: torch.Tensor | None = None, seed: int = 0):
    leaves = [t.detach().clone().requires_grad_() for t in tensors]
    out = fn(*leaves)
    if grad_out is None:
        grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed)).to(out.device, out.dtype)
    out.backward(grad_out)
    return out.detach(), [leaf.grad for leaf in leaves], grad_out


# ----------------------------------------------------------------------------------------------
# the reference itself
# ----------------------------------------------------------------------------------------------


def loop_oracle(q, k, v, indices, weights, chunk_size):
    """The module docstring's step 4 written as loops over tokens, heads and slots (float64)."""
    batch, length, heads, head_dim = q.shape
    group = heads // k.shape[2]
    out = torch.zeros(batch, length, heads, head_dim, dtype=torch.float64)
    for b in range(batch):
        for t in range(length):
            for h in range(heads):
                g = h // group
                for slot in range(indices.shape[-1]):
                    c = int(indices[b, t, g, slot])
                    if c < 0 or (c + 1) * chunk_size > t:
                        continue
                    keys = k[b, c * chunk_size : (c + 1) * chunk_size, g].double()
                    values = v[b, c * chunk_size : (c + 1) * chunk_size, g].double()
                    p = torch.softmax(keys @ q[b, t, h].double() / math.sqrt(head_dim), dim=0)
                    out[b, t, h] += float(weights[b, t, g, slot]) * (p @ values)
    return out


def test_reference_matches_loop_oracle():
    generator, q, k, v = make_inputs(1, 2, 23, 4, 2, 8, torch.float32)
    q, k, v = q.cpu(), k.cpu(), v.cpu()
    indices = random_selection(generator, 2, 23, 2, 3, 5).cpu()
    weights = torch.rand(2, 23, 2, 3, generator=generator)
    out = hsa_reference(q, k, v, indices, weights, 5)
    assert relative_error(out, loop_oracle(q, k, v, indices, weights, 5)) < 1e-6


def test_reference_selection_follows_official_rules():
    """Visible chunks only, top-K by score, filled slots = min(K, t // S, C), most recent first."""
    generator = torch.Generator().manual_seed(2)
    length, chunk_size, top_k = 41, 4, 3
    landmark_q = torch.randn(2, length, 2, 8, generator=generator)
    landmarks = torch.randn(2, length // chunk_size, 2, 8, generator=generator)
    indices, scores = select_chunks_reference(landmark_q, landmarks, chunk_size, top_k)
    dense = torch.einsum("bthd,bchd->bthc", landmark_q, landmarks) / math.sqrt(8)
    for t in range(length):
        n_visible = min(t // chunk_size, landmarks.shape[1])
        expected_filled = min(top_k, n_visible)
        row = indices[:, t]  # [B, H_kv, K]
        assert ((row >= 0).sum(-1) == expected_filled).all()
        assert (row[..., expected_filled:] == -1).all()
        if expected_filled:
            best = dense[:, t, :, :n_visible].topk(expected_filled, dim=-1).indices.sort(-1, descending=True).values
            assert torch.equal(row[..., :expected_filled], best)
    torch.testing.assert_close(scores[indices >= 0], dense.gather(-1, indices.clamp_min(0))[indices >= 0])
    assert torch.isneginf(scores[indices < 0]).all()


def test_chunk_weights_match_official_formulas():
    generator = torch.Generator().manual_seed(3)
    scores = torch.randn(2, 7, 3, 5, generator=generator) * 3
    indices = torch.randint(0, 9, (2, 7, 3, 5), generator=generator).sort(-1, descending=True).values
    indices[:, :, :, 3:] = -1  # two empty slots at the end
    indices[:, 0] = -1  # a token with nothing selected
    weights = chunk_weights(scores, indices, "stick_breaking")
    # stick-breaking: w_k = sigmoid(s_k) * prod_{j<k} (1 - sigmoid(s_j)) over filled slots
    sig = torch.sigmoid(scores) * (indices >= 0)
    remaining = torch.cumprod(torch.cat([torch.ones_like(sig[..., :1]), 1 - sig[..., :-1]], -1), -1)
    torch.testing.assert_close(weights, sig * remaining, rtol=1e-5, atol=1e-6)
    assert (weights.sum(-1) <= 1 + 1e-6).all() and (weights[indices < 0] == 0).all()
    soft = chunk_weights(scores, indices, "softmax")
    expected = torch.softmax(scores.masked_fill(indices < 0, float("-inf")), -1).nan_to_num(0.0)
    torch.testing.assert_close(soft, expected)
    assert (soft[:, 0] == 0).all() and torch.allclose(soft[:, 1:].sum(-1), torch.ones(2, 6, 3))
    # the weights are differentiable in the scores (that is how chunk relevance is learned)
    leaf = scores.clone().requires_grad_()
    chunk_weights(leaf, indices).pow(2).sum().backward()
    assert torch.isfinite(leaf.grad).all() and leaf.grad[indices >= 0].abs().min() > 0
    assert (leaf.grad[indices < 0] == 0).all()
    with pytest.raises(ValueError, match="weighting"):
        chunk_weights(scores, indices, "uniform")


# ----------------------------------------------------------------------------------------------
# Triton sparse attention against the reference: output and every input gradient
# ----------------------------------------------------------------------------------------------

# (name, B, T, H, H_kv, D, S, K); T is multiplied by 16 on the GPU.
SHAPES = [
    ("group1", 2, 37, 2, 2, 16, 8, 3),
    ("group2", 1, 50, 4, 2, 32, 8, 4),
    ("group4_many_chunks", 1, 45, 4, 1, 16, 4, 5),
    ("group16", 1, 40, 16, 1, 16, 16, 2),
    ("one_chunk", 2, 13, 2, 1, 16, 8, 3),
    ("odd_sizes", 1, 29, 3, 1, 24, 6, 3),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name,batch,length,heads,kv_heads,head_dim,chunk_size,top_k", SHAPES, ids=[s[0] for s in SHAPES])
def test_triton_matches_reference(name, batch, length, heads, kv_heads, head_dim, chunk_size, top_k, dtype):
    if CUDA and name != "odd_sizes":
        head_dim, chunk_size = max(head_dim, 64), max(chunk_size, 16)
    length = scaled(length)
    generator, q, k, v = make_inputs(10 + len(name), batch, length, heads, kv_heads, head_dim, dtype)
    indices = random_selection(generator, batch, length, kv_heads, top_k, chunk_size)
    weights = torch.rand(batch, length, kv_heads, top_k, generator=generator).to(DEVICE)
    inputs = [q, k, v, weights]
    out, grads, grad_out = run_with_grads(lambda *x: hsa_attention(*x[:3], indices, x[3], chunk_size, backend="triton"), inputs)
    ref_inputs = [x.float() for x in inputs]
    ref, ref_grads, _ = run_with_grads(lambda *x: hsa_attention(*x[:3], indices, x[3], chunk_size, backend="reference"), ref_inputs, grad_out.float())
    assert out.dtype == dtype and out.shape == (batch, length, heads, head_dim)
    assert relative_error(out, ref) < output_bound(dtype)
    for label, grad, ref_grad in zip("qkvw", grads, ref_grads):
        assert grad.dtype == inputs["qkvw".index(label)].dtype
        assert relative_error(grad, ref_grad) < gradient_bound(dtype), f"grad {label}"


def test_triton_dkdv_segments_and_attention_sink():
    """Every token picks chunk 0 in every slot (a sink) and random others; tiny segments force many work
    items per chunk, all adding into dk/dv with atomics."""
    length, chunk_size, top_k = scaled(40), 4, 3
    generator, q, k, v = make_inputs(5, 1, length, 4, 2, 16, torch.float32)
    indices = random_selection(generator, 1, length, 2, top_k, chunk_size, with_junk=False)
    indices[..., 0] = torch.where(indices[..., 0] >= 0, 0, -1)
    weights = torch.rand(1, length, 2, top_k, generator=generator).to(DEVICE)
    config = {"segment_rows": 8, "block_rows": 16, "block_t": 8}
    out, grads, grad_out = run_with_grads(lambda *x: hsa_attention(*x[:3], indices, x[3], chunk_size, backend="triton", config=config), [q, k, v, weights])
    ref, ref_grads, _ = run_with_grads(lambda *x: hsa_attention(*x[:3], indices, x[3], chunk_size, backend="reference"), [q, k, v, weights], grad_out)
    assert relative_error(out, ref) < 1e-5
    for label, grad, ref_grad in zip("qkvw", grads, ref_grads):
        assert relative_error(grad, ref_grad) < 1e-5, f"grad {label}"


# ----------------------------------------------------------------------------------------------
# properties, on both backends
# ----------------------------------------------------------------------------------------------

BACKEND_NAMES = ["reference", "triton"]


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_single_slot_with_weight_one_is_plain_attention_over_that_chunk(backend):
    length, chunk_size, head_dim = scaled(30), 8, 16
    generator, q, k, v = make_inputs(6, 2, length, 4, 2, head_dim, torch.float32)
    indices = random_selection(generator, 2, length, 2, 1, chunk_size, with_junk=False)
    weights = torch.ones(2, length, 2, 1, device=DEVICE)
    out = hsa_attention(q, k, v, indices, weights, chunk_size, backend=backend)
    expected = torch.zeros_like(out)
    for t in range(chunk_size, length):
        for g in range(2):
            for b in range(2):
                c = int(indices[b, t, g, 0])
                keys = k[b, c * chunk_size : (c + 1) * chunk_size, g]  # [S, D]
                values = v[b, c * chunk_size : (c + 1) * chunk_size, g]
                queries = q[b, t, 2 * g : 2 * g + 2]  # [2, D]
                expected[b, t, 2 * g : 2 * g + 2] = F.scaled_dot_product_attention(queries[:, None], keys[None], values[None])[:, 0]
    assert relative_error(out, expected) < 1e-5


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_all_chunks_weighted_by_softmax_mass_is_full_attention_over_past_chunks(backend):
    """G = 1 (the mass differs per query head, weights are per KV head): with every visible chunk selected
    and w_c = its share of the full softmax mass, HSA equals causal attention over keys [0, floor(t/S)*S)."""
    length, chunk_size, heads, head_dim = scaled(35), 5, 2, 16
    num_chunks = length // chunk_size
    _, q, k, v = make_inputs(7, 1, length, heads, heads, head_dim, torch.float32)
    logits = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(head_dim)  # [B, H, T, T]
    key_chunk = torch.arange(length, device=DEVICE) // chunk_size
    visible = (key_chunk[None, :] + 1) * chunk_size <= torch.arange(length, device=DEVICE)[:, None]  # [T, T]
    probs = torch.softmax(logits.masked_fill(~visible, float("-inf")), -1).nan_to_num(0.0)  # [B, H, T, T]
    expected = torch.einsum("bhts,bshd->bthd", probs, v)
    mass = torch.zeros(1, heads, length, num_chunks + 1, device=DEVICE)
    mass.index_add_(3, key_chunk, probs)  # [B, H, T, C+1]
    chunks = torch.arange(num_chunks, device=DEVICE).flip(0)  # most recent first
    indices = chunks.view(1, 1, 1, -1).expand(1, length, heads, -1).contiguous()
    indices = torch.where((indices + 1) * chunk_size <= torch.arange(length, device=DEVICE).view(1, -1, 1, 1), indices, -1)
    weights = mass[..., :num_chunks].permute(0, 2, 1, 3).gather(-1, indices.clamp_min(0))  # [B, T, H, K]
    out = hsa_attention(q, k, v, indices, weights, chunk_size, backend=backend)
    assert relative_error(out, expected) < 1e-5


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_permuting_index_weight_pairs_changes_nothing(backend):
    length, chunk_size, top_k = scaled(33), 4, 5
    generator, q, k, v = make_inputs(8, 1, length, 4, 2, 16, torch.float32)
    indices = random_selection(generator, 1, length, 2, top_k, chunk_size)
    weights = torch.rand(1, length, 2, top_k, generator=generator).to(DEVICE)
    perm = torch.randperm(top_k, generator=generator).to(DEVICE)
    out, grads, grad_out = run_with_grads(lambda *x: hsa_attention(*x[:3], indices, x[3], chunk_size, backend=backend), [q, k, v, weights])
    out_p, grads_p, _ = run_with_grads(
        lambda *x: hsa_attention(*x[:3], indices[..., perm], x[3], chunk_size, backend=backend), [q, k, v, weights[..., perm]], grad_out
    )
    assert relative_error(out_p, out) < 1e-6
    for grad, grad_p in zip(grads[:3], grads_p[:3]):
        assert relative_error(grad_p, grad) < 1e-5
    assert relative_error(grads_p[3], grads[3][..., perm]) < 1e-6


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_repeated_indices_add_and_empty_slots_vanish(backend):
    """A chunk in two slots counts twice (= one slot with the summed weight); -1 and invisible slots count
    for nothing whatever their weight."""
    length, chunk_size = scaled(30), 6
    generator, q, k, v = make_inputs(9, 1, length, 2, 1, 16, torch.float32)
    base = random_selection(generator, 1, length, 1, 1, chunk_size, with_junk=False)  # [1, T, 1, 1]
    w = torch.rand(1, length, 1, 2, generator=generator).to(DEVICE)
    current = (torch.arange(length, device=DEVICE) // chunk_size).view(1, -1, 1, 1)
    repeated = torch.cat([base, base, torch.full_like(base, -1), current], -1)  # [1, T, 1, 4]
    weights = torch.cat([w, torch.full_like(w, 5.0)], -1)
    out = hsa_attention(q, k, v, repeated, weights, chunk_size, backend=backend)
    single = hsa_attention(q, k, v, base, w.sum(-1, keepdim=True), chunk_size, backend=backend)
    assert relative_error(out, single) < 1e-5
    assert out.abs().sum() > 0


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_first_chunk_tokens_get_zero_output_and_gradient(backend):
    length, chunk_size = scaled(20), 8
    generator, q, k, v = make_inputs(11, 1, length, 2, 1, 16, torch.float32)
    indices = torch.randint(-1, length // chunk_size + 1, (1, length, 1, 3), generator=generator).to(DEVICE)
    weights = torch.rand(1, length, 1, 3, generator=generator).to(DEVICE) + 0.5
    out, (dq, _, _, dw), _ = run_with_grads(lambda *x: hsa_attention(*x[:3], indices, x[3], chunk_size, backend=backend), [q, k, v, weights])
    assert (out[:, :chunk_size] == 0).all()
    assert (dq[:, :chunk_size] == 0).all() and (dw[:, :chunk_size] == 0).all()
    assert out[:, chunk_size:].abs().sum() > 0


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("weighting", ["stick_breaking", "softmax"])
def test_causality_of_the_whole_layer(backend, weighting):
    """Perturb every input at positions >= t0 (q, k, v, landmark queries, and the landmarks of chunks not
    complete before t0, the current incomplete one included): outputs and selections before t0 stay put."""
    length, chunk_size, top_k = scaled(41), 4, 3
    generator, q, k, v = make_inputs(12, 1, length, 4, 2, 16, torch.float32)
    landmark_q = torch.randn(1, length, 2, 16, generator=generator).to(DEVICE)
    landmarks = torch.randn(1, -(-length // chunk_size), 2, 16, generator=generator).to(DEVICE)  # incl. the partial chunk
    out, selection = hsa(q, k, v, landmark_q, landmarks, chunk_size, top_k, weighting, backend=backend, return_selection=True)
    for t0 in (scaled(17), scaled(24)):

        def perturb(x: torch.Tensor, start: int) -> torch.Tensor:
            x = x.clone()
            x[:, start:] += torch.randn(x[:, start:].shape, generator=generator).to(DEVICE) * 3
            return x

        first_unsafe_chunk = t0 // chunk_size  # chunk i is complete before t0 iff (i+1)*S <= t0
        out2, selection2 = hsa(
            perturb(q, t0),
            perturb(k, t0),
            perturb(v, t0),
            perturb(landmark_q, t0),
            perturb(landmarks, first_unsafe_chunk),
            chunk_size,
            top_k,
            weighting,
            backend=backend,
            return_selection=True,
        )
        assert torch.equal(out2[:, :t0], out[:, :t0])
        assert torch.equal(selection2.indices[:, :t0], selection.indices[:, :t0])
        assert not torch.equal(out2[:, t0:], out[:, t0:])


# ----------------------------------------------------------------------------------------------
# chunk selection and the whole layer
# ----------------------------------------------------------------------------------------------

SELECTION_SHAPES = [  # (B, T, H_kv, D_r, S, K, C)
    (2, 70, 2, 16, 4, 3, 17),
    (1, 53, 1, 24, 5, 8, 10),  # K close to C, odd D_r and S
    (1, 40, 2, 16, 8, 20, 5),  # K > C: trailing slots stay empty
    (1, 9, 1, 16, 16, 2, 1),  # nothing visible at all
]


@pytest.mark.parametrize("batch,length,kv_heads,retrieval_dim,chunk_size,top_k,num_chunks", SELECTION_SHAPES)
def test_triton_selection_matches_dense_reference_and_respects_visibility(batch, length, kv_heads, retrieval_dim, chunk_size, top_k, num_chunks):
    length, num_chunks = scaled(length), scaled(num_chunks)
    generator = torch.Generator().manual_seed(length + top_k)
    landmark_q = torch.randn(batch, length, kv_heads, retrieval_dim, generator=generator).to(DEVICE)
    landmarks = torch.randn(batch, num_chunks, kv_heads, retrieval_dim, generator=generator).to(DEVICE)
    indices = select_chunks(landmark_q, landmarks, chunk_size, top_k, backend="triton")
    expected, _ = select_chunks_reference(landmark_q, landmarks, chunk_size, top_k)
    assert indices.dtype == torch.int64 and indices.shape == (batch, length, kv_heads, top_k)
    assert torch.equal(indices, expected)
    token = torch.arange(length, device=DEVICE).view(1, -1, 1, 1)
    filled = indices >= 0
    assert ((indices + 1) * chunk_size <= token)[filled].all(), "an invisible chunk was selected"
    assert (indices < num_chunks).all()
    n_filled = torch.minimum(torch.minimum(token // chunk_size, torch.tensor(num_chunks, device=DEVICE)), torch.tensor(top_k, device=DEVICE))
    assert torch.equal(filled.sum(-1, keepdim=True), n_filled.expand(batch, -1, kv_heads, 1))
    assert (indices[..., :-1] >= indices[..., 1:]).all(), "slots are not in recency order"
    filled_rows = indices.view(-1, top_k)
    for row in filled_rows[filled_rows[:, 1] >= 0][:50]:
        live = row[row >= 0]
        assert live.unique().numel() == live.numel(), "a chunk selected twice"


@pytest.mark.parametrize("weighting", ["stick_breaking", "softmax"])
def test_hsa_layer_triton_matches_reference(weighting):
    """hsa() end to end: same selection, output and gradients for q, k, v, landmark queries and landmarks."""
    length, chunk_size, top_k = scaled(46), 4, 3
    generator, q, k, v = make_inputs(13, 2, length, 4, 2, 16, torch.float32)
    landmark_q = torch.randn(2, length, 2, 16, generator=generator).to(DEVICE)
    landmarks = torch.randn(2, length // chunk_size, 2, 16, generator=generator).to(DEVICE)
    inputs = [q, k, v, landmark_q, landmarks]

    def layer(backend):
        def run(*x):
            out, selection = hsa(*x, chunk_size, top_k, weighting, backend=backend, return_selection=True)
            run.selection = selection
            return out

        return run

    tri_layer, ref_layer = layer("triton"), layer("reference")
    out, grads, grad_out = run_with_grads(tri_layer, inputs)
    ref, ref_grads, _ = run_with_grads(ref_layer, inputs, grad_out)
    assert isinstance(tri_layer.selection, HSASelection)
    assert torch.equal(tri_layer.selection.indices, ref_layer.selection.indices)
    torch.testing.assert_close(tri_layer.selection.weights, ref_layer.selection.weights)
    assert tri_layer.selection.weights.shape == (2, length, 2, top_k)
    assert relative_error(out, ref) < 1e-5
    for label, grad, ref_grad in zip(["q", "k", "v", "landmark_q", "landmarks"], grads, ref_grads):
        assert ref_grad.abs().sum() > 0, label
        assert relative_error(grad, ref_grad) < 1e-5, f"grad {label}"


def test_selected_scores_match_the_dense_scores():
    generator = torch.Generator().manual_seed(14)
    landmark_q = torch.randn(2, 30, 2, 8, generator=generator)
    landmarks = torch.randn(2, 6, 2, 8, generator=generator)
    indices, scores = select_chunks_reference(landmark_q, landmarks, 5, 4)
    torch.testing.assert_close(selected_scores(landmark_q, landmarks, indices), scores)
    assert chunk_visibility(30, 6, 5)[10].tolist() == [True, True, False, False, False, False]


def test_errors_name_the_problem():
    _, q, k, v = make_inputs(15, 1, 12, 4, 2, 16, torch.float32)
    indices = torch.zeros(1, 12, 2, 2, dtype=torch.long, device=DEVICE)
    weights = torch.ones(1, 12, 2, 2, device=DEVICE)
    with pytest.raises(ValueError, match="backend"):
        hsa_attention(q, k, v, indices, weights, 4, backend="cuda")
    with pytest.raises(ValueError, match="multiple of KV heads"):
        hsa_attention(q[:, :, :3], k, v, indices, weights, 4)
    with pytest.raises(ValueError, match="indices and weights"):
        hsa_attention(q, k, v, indices[..., :1], weights, 4)
    with pytest.raises(ValueError, match="weighting"):
        hsa(q, k, v, k, k[:, :3], 4, 2, "uniform")
    with pytest.raises(ValueError, match="top_k"):
        hsa(q, k, v, k, k[:, :3], 4, 0)


# ----------------------------------------------------------------------------------------------
# GPU only
# ----------------------------------------------------------------------------------------------


@gpu_only
@pytest.mark.parametrize("group", [1, 2, 4, 16])
def test_gpu_long_sequence_bf16(group):
    """The benchmark's setting at 8K tokens (S=64, K=8, D=64), against the reference in float32."""
    length, chunk_size, top_k, kv_heads = 8192, 64, 8, 1 if group == 16 else 2
    generator, q, k, v = make_inputs(16, 1, length, group * kv_heads, kv_heads, 64, torch.bfloat16)
    indices = random_selection(generator, 1, length, kv_heads, top_k, chunk_size, with_junk=False)
    weights = torch.rand(1, length, kv_heads, top_k, generator=generator).to(DEVICE) / top_k
    out, grads, grad_out = run_with_grads(lambda *x: hsa_attention(*x[:3], indices, x[3], chunk_size), [q, k, v, weights])
    ref, ref_grads, _ = run_with_grads(
        lambda *x: hsa_attention(*x[:3], indices, x[3], chunk_size, backend="reference"), [x.float() for x in (q, k, v, weights)], grad_out.float()
    )
    assert relative_error(out, ref) < output_bound(torch.bfloat16)
    for label, grad, ref_grad in zip("qkvw", grads, ref_grads):
        assert relative_error(grad, ref_grad) < gradient_bound(torch.bfloat16), f"grad {label}"


@gpu_only
def test_gpu_selection_memory_is_linear():
    """At T = 64K, C = 1024 a dense [T, C] float32 score matrix alone is 256 MiB; the tiled kernel's
    extra memory must stay within a small multiple of its [T, K] outputs."""
    length, chunk_size, top_k = 65536, 64, 8
    generator = torch.Generator().manual_seed(17)
    landmark_q = torch.randn(1, length, 1, 64, generator=generator).to(DEVICE, torch.bfloat16)
    landmarks = torch.randn(1, length // chunk_size, 1, 64, generator=generator).to(DEVICE, torch.bfloat16)
    select_chunks(landmark_q, landmarks, chunk_size, top_k)  # compile outside the measurement
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    indices = select_chunks(landmark_q, landmarks, chunk_size, top_k)
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - before
    outputs = length * top_k * 8  # the int64 indices
    assert extra <= 6 * outputs, f"selection used {extra / 2**20:.1f} MiB"
    sample = torch.arange(0, length, 997, device=DEVICE)  # the dense reference at sampled tokens only
    token = sample.view(1, -1, 1, 1)
    got = indices[:, sample]
    assert ((got + 1) * chunk_size <= token)[got >= 0].all()
    agree = (got == _sampled_reference(landmark_q, landmarks, sample, chunk_size, top_k)).float().mean()
    assert agree > 0.99  # bf16 inputs: products rounded differently may swap near-ties


def _sampled_reference(landmark_q, landmarks, sample, chunk_size, top_k):
    scores = torch.einsum("bthd,bchd->bthc", landmark_q[:, sample].float(), landmarks.float()) / 8.0
    visible = (torch.arange(landmarks.shape[1], device=DEVICE)[None, :] + 1) * chunk_size <= sample[:, None]
    scores = scores.masked_fill(~visible[None, :, None, :], float("-inf"))
    indices = scores.topk(top_k, dim=-1).indices
    n_visible = (sample // chunk_size).clamp(max=landmarks.shape[1])
    indices = indices.masked_fill(~(torch.arange(top_k, device=DEVICE)[None, :] < n_visible[:, None])[None, :, None, :], -1)
    return indices.sort(-1, descending=True).values


# ----------------------------------------------------------------------------------------------
# inputs shorter than a chunk, and a few chunks long (issue: HSA failed at its defaults, T < S)
# ----------------------------------------------------------------------------------------------


def short_lengths(chunk_size: int, backend: str) -> list[int]:
    """Every length 1..3S; for the Triton interpreter on a CPU (about 0.7 s a length) with S >= 16, the
    chunk boundaries (S-1, S, S+1, ...) and a few lengths in between."""
    if backend == "reference" or CUDA or chunk_size <= 2:
        return list(range(1, 3 * chunk_size + 1))
    edges = {1, chunk_size - 1, chunk_size, chunk_size + 1, 2 * chunk_size, 2 * chunk_size + 1, 3 * chunk_size}
    return sorted(edges | ({chunk_size // 2, 3 * chunk_size // 2} if chunk_size <= 16 else set()))


@pytest.mark.parametrize("chunk_size", [2, 16, 64])
@pytest.mark.parametrize("backend", ["reference", "triton"])
def test_every_length_up_to_three_chunks_gives_no_hsa_before_the_first_complete_chunk(chunk_size: int, backend: str):
    """A token with no complete past chunk (t < S) gets exactly zero output and zero chunk weights; the
    Triton path agrees with the reference at every length, landmarks of zero chunks included."""
    heads, kv_heads, head_dim, retrieval_dim, top_k = 4, 2, 16, 16, 3
    for length in short_lengths(chunk_size, backend):
        generator, q, k, v = make_inputs(length, 1, length, heads, kv_heads, head_dim, torch.float32)
        landmark_q = torch.randn(1, length, kv_heads, retrieval_dim, generator=generator).to(DEVICE)
        landmarks = torch.randn(1, length // chunk_size, kv_heads, retrieval_dim, generator=generator).to(DEVICE)
        inputs = [q, k, v, landmark_q, landmarks]

        def run(*tensors, backend=backend):
            return hsa(*tensors, chunk_size, top_k, backend=backend)

        out, grads, grad_out = run_with_grads(run, inputs, seed=length)
        _, selection = hsa(*inputs, chunk_size, top_k, return_selection=True, backend=backend)
        early = min(length, chunk_size)  # tokens 0..S-1 see no complete chunk
        assert (out[:, :early] == 0).all(), f"T={length}"
        assert (selection.indices[:, :early] == -1).all() and (selection.weights[:, :early] == 0).all()
        if length > chunk_size:
            assert (selection.indices[:, chunk_size:] >= 0).any()  # from token S on, chunk 0 is visible
        assert all(g is None or torch.isfinite(g).all() for g in grads)
        if backend == "triton":
            ref_out, ref_grads, _ = run_with_grads(lambda *t: run(*t, backend="reference"), inputs, grad_out)
            assert relative_error(out, ref_out) < 1e-5 if ref_out.abs().sum() else (out == 0).all()
            for grad, ref_grad in zip(grads, ref_grads):
                assert (grad is None) == (ref_grad is None)
                if grad is not None and ref_grad.abs().sum() > 0:
                    assert relative_error(grad, ref_grad) < 1e-5, f"T={length}"
