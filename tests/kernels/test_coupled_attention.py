"""Fused coupled-position attention (Triton) against the float32 reference.

Without CUDA the kernels run under TRITON_INTERPRET=1 (set in conftest.py) on
small shapes with small tiles (several blocks per sequence, lengths that are not
multiples of the tile); on a CUDA machine the same tests run on the GPU with the
production tiles, plus the long-sequence cases marked GPU-only.

Error measure: ||x - x_ref|| / ||x_ref|| over the whole tensor, with the oracle
computed in float32 from the very same (already rounded) inputs. Bounds:

- float32: 2e-5. The kernel does the same float32 arithmetic in another order
  (and with exact "ieee" dots on the GPU, not tf32); measured ~3e-7.
- bfloat16 / float16, with u the unit roundoff (2^-8 / 2^-11): the kernel rounds
  the rotated q and k, the probabilities P (before P @ V) and the output to the
  input dtype, each a relative perturbation of at most u that averages to ~u/sqrt(3)
  in norm: about 2u expected for the output, so we allow 4u; the gradients go
  through two more roundings (dS, and dP's operands) and sums of cancelling terms,
  so we allow 8u (measured on the CPU: 1.7u for the output, 2.7u for gradients).
"""

from __future__ import annotations

import math
import os
import zlib

import pytest
import torch
import torch.nn.functional as F

from kernels.coupled_attention import alibi_bias, alibi_slopes, coupled_attention, coupled_attention_reference, fire_bias, rope_rotate

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
if not CUDA and os.environ.get("TRITON_INTERPRET") != "1":  # pragma: no cover - conftest sets it
    pytest.skip("no CUDA and TRITON_INTERPRET is not set", allow_module_level=True)

UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}
FIRE_NAMES = ("w1", "b1", "w2", "b2", "log_c", "threshold_l")


def output_bound(dtype: torch.dtype) -> float:
    return 2e-5 if dtype == torch.float32 else 4 * UNIT_ROUNDOFF[dtype]


def grad_bound(dtype: torch.dtype) -> float:
    return 2e-5 if dtype == torch.float32 else 8 * UNIT_ROUNDOFF[dtype]


def relative_error(x: torch.Tensor, reference: torch.Tensor, floor: float = 1e-30) -> float:
    """||x - ref|| / max(||ref||, floor); the floor serves gradients that vanish mathematically."""
    x, reference = x.double(), reference.double()
    assert torch.isfinite(x).all(), "non-finite values"
    return ((x - reference).norm() / reference.norm().clamp_min(floor)).item()


# ------------------------------------------------------------------------------------------------
# position ids
# ------------------------------------------------------------------------------------------------


def make_position_ids(kind: str, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """[B, T] int64 ids of the named kind."""
    if kind == "plain":
        ids = torch.arange(length).expand(batch, length)
    elif kind == "coupled":  # repeated ids and ids that go backwards, like coupled operands
        first = torch.randint(1, 6, (batch, 1), generator=generator)
        ids = torch.cat([torch.arange(length // 2), torch.arange(length - length // 2)])[None] + first
        ids = ids.clone()
        ids[:, 3:6] = ids[:, 3:4]  # ties
    elif kind == "randomized":  # sorted random subset of a larger range (Ruoss et al. 2023)
        ids = torch.stack([torch.randperm(4 * length, generator=generator)[:length].sort().values for _ in range(batch)])
    elif kind == "offset":  # large offsets: the RoPE angle reduction must stay exact
        ids = torch.arange(length)[None] + torch.randint(0, 200_000, (batch, 1), generator=generator)
    else:
        raise ValueError(kind)
    return ids.contiguous()


def make_fire_params(heads: int, hidden: int, generator: torch.Generator, threshold: float = 24.0) -> dict[str, torch.Tensor]:
    """FIRE parameters with a normaliser threshold below the ids used, so every term is exercised."""

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=generator) * scale).to(DEVICE).requires_grad_()

    return {
        "w1": rand(hidden, scale=2.0),
        "b1": rand(hidden, scale=0.5),
        "w2": rand(heads, hidden, scale=0.5),
        "b2": rand(heads, scale=0.1),
        "log_c": torch.tensor(-0.5, device=DEVICE, requires_grad=True),
        "threshold_l": torch.tensor(threshold, device=DEVICE, requires_grad=True),
    }


def oracle(q, k, v, position_ids, *, rope_base=None, slopes=None, fire_params=None, key_padding_mask=None, scale=None):
    """The float32 reference on float32 copies of the inputs (the same rounded values the kernel sees)."""
    bias = None
    if slopes is not None:
        bias = alibi_bias(position_ids, slopes)
    if fire_params is not None:
        fire = fire_bias(position_ids, **fire_params)
        bias = fire if bias is None else bias + fire
    return coupled_attention_reference(q, k, v, position_ids, rope_base=rope_base, bias=bias, key_padding_mask=key_padding_mask, scale=scale)


def check_against_reference(
    *, batch, heads, length, head_dim, dtype, ids="plain", rope=False, alibi=False, fire_hidden=0, padding=False, scale=None, seed=0, fire_threshold=24.0
):
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, heads, length, head_dim)
    q, k, v = (torch.randn(*shape, generator=generator).to(DEVICE, dtype) for _ in range(3))
    grad_out = torch.randn(*shape, generator=generator).to(DEVICE, dtype)
    position_ids = make_position_ids(ids, batch, length, generator).to(DEVICE)
    slopes = alibi_slopes(heads, DEVICE) if alibi else None
    fire = make_fire_params(heads, fire_hidden, generator, fire_threshold) if fire_hidden else None
    mask = None
    if padding:  # left padding of different widths, one row fully real
        mask = torch.ones(batch, length, dtype=torch.bool)
        for row in range(1, batch):
            mask[row, : min(length - 1, 3 * row + 2)] = False
        mask = mask.to(DEVICE)
    kwargs = dict(rope_base=10000.0 if rope else None, key_padding_mask=mask, scale=scale)

    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    fire_leaves = [fire[name] for name in FIRE_NAMES] if fire else []
    out = coupled_attention(*leaves, position_ids, alibi_slopes=slopes, fire_params=fire, backend="triton", **kwargs)
    assert out.dtype == dtype and out.shape == shape
    grads = torch.autograd.grad(out, leaves + fire_leaves, grad_out)

    ref_leaves = [t.float().requires_grad_() for t in (q, k, v)]
    ref_fire = {name: p.detach().clone().requires_grad_() for name, p in fire.items()} if fire else None
    ref_out = oracle(*ref_leaves, position_ids, slopes=slopes, fire_params=ref_fire, **kwargs)
    ref_grads = torch.autograd.grad(ref_out, ref_leaves + ([ref_fire[name] for name in FIRE_NAMES] if fire else []), grad_out.float())

    errors = {"out": relative_error(out, ref_out)}
    # one token (or one visible key) makes dq = dk = 0 exactly: measure those against 1% of dv's size
    floor = 1e-2 * ref_grads[2].norm().item()
    for name, grad, ref_grad in zip(("q", "k", "v"), grads[:3], ref_grads[:3]):
        assert grad.dtype == dtype
        errors[f"d{name}"] = relative_error(grad, ref_grad, floor)
    assert errors["out"] < output_bound(dtype), errors
    assert max(errors[f"d{n}"] for n in "qkv") < grad_bound(dtype), errors
    if fire:
        fire_grads = dict(zip(FIRE_NAMES, grads[3:]))
        ref_fire_grads = dict(zip(FIRE_NAMES, ref_grads[3:]))
        # b2 shifts every score of a row equally: softmax ignores it, so its gradient is exactly 0
        # (the reference's holds float32 rounding only)
        scale_of_grads = ref_fire_grads["w2"].norm()
        assert fire_grads["b2"].abs().max() == 0
        assert ref_fire_grads["b2"].norm() < 1e-4 * scale_of_grads
        for name in ("w1", "b1", "w2", "log_c", "threshold_l"):
            error = relative_error(fire_grads[name], ref_fire_grads[name])
            assert ref_fire_grads[name].norm() > 1e-3 * scale_of_grads, f"{name}: test does not exercise this gradient"
            assert error < 10 * grad_bound(dtype), (name, error)
    if padding:  # fully masked query rows: zero output; padded keys: zero dk, dv
        pad = ~mask
        assert out.permute(0, 2, 1, 3)[pad].abs().max() == 0
        assert grads[1].permute(0, 2, 1, 3)[pad].abs().max() == 0
        assert grads[2].permute(0, 2, 1, 3)[pad].abs().max() == 0
    return errors


# ------------------------------------------------------------------------------------------------
# kernel == reference (output and every gradient)
# ------------------------------------------------------------------------------------------------

CASES = {
    # name: (B, H, T, D, dtype, ids, rope, alibi, padding)
    "no-term-fp32": (2, 2, 37, 32, torch.float32, "plain", False, False, False),
    "rope-coupled-fp32": (2, 2, 50, 64, torch.float32, "coupled", True, False, False),
    "rope-offset-fp32": (1, 2, 33, 32, torch.float32, "offset", True, False, False),
    "alibi-randomized-fp32": (2, 3, 45, 16, torch.float32, "randomized", False, True, False),
    "rope-alibi-padding-d48-fp32": (3, 2, 41, 48, torch.float32, "offset", True, True, True),
    "rope-d128-fp32": (1, 1, 20, 128, torch.float32, "randomized", True, False, False),
    "one-token-fp32": (2, 2, 1, 32, torch.float32, "coupled", True, True, False),
    "exact-tile-fp32": (1, 2, 32, 32, torch.float32, "plain", True, False, False),
    "rope-randomized-bf16": (2, 2, 40, 32, torch.bfloat16, "randomized", True, False, False),
    "alibi-coupled-padding-bf16": (2, 2, 35, 64, torch.bfloat16, "coupled", False, True, True),
    "rope-alibi-fp16": (2, 2, 39, 32, torch.float16, "coupled", True, True, False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case):
    batch, heads, length, head_dim, dtype, ids, rope, alibi, padding = CASES[case]
    check_against_reference(
        batch=batch,
        heads=heads,
        length=length,
        head_dim=head_dim,
        dtype=dtype,
        ids=ids,
        rope=rope,
        alibi=alibi,
        padding=padding,
        seed=zlib.crc32(case.encode()),
    )


def test_custom_scale_and_strided_inputs():
    """A non-default scale, and q/k/v that are views of a packed [B, T, 3, H, D] projection (like the model's)."""
    generator = torch.Generator().manual_seed(7)
    batch, heads, length, head_dim = 2, 2, 29, 32
    packed = torch.randn(batch, length, 3, heads, head_dim, generator=generator).to(DEVICE).requires_grad_()
    q, k, v = packed.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, T, D], non-contiguous
    position_ids = make_position_ids("coupled", batch, length, generator).to(DEVICE)
    out = coupled_attention(q, k, v, position_ids, rope_base=500.0, scale=0.3, backend="triton")
    (grad,) = torch.autograd.grad(out.square().sum(), packed)
    ref_packed = packed.detach().clone().requires_grad_()
    rq, rk, rv = ref_packed.permute(2, 0, 3, 1, 4).unbind(0)
    ref_out = coupled_attention_reference(rq, rk, rv, position_ids, rope_base=500.0, scale=0.3)
    (ref_grad,) = torch.autograd.grad(ref_out.square().sum(), ref_packed)
    assert relative_error(out, ref_out) < 2e-5
    assert relative_error(grad, ref_grad) < 2e-5


def test_streamed_rope_inside_the_loop_matches_reference():
    """BlockConfig(fused_rope=True): the streamed K (and Q in dK/dV) rotated per tile inside the loop
    instead of once in the prologue; the same function."""
    from dataclasses import replace

    from kernels.coupled_attention.triton import coupled_attention_triton, default_config

    generator = torch.Generator().manual_seed(21)
    batch, heads, length, head_dim = 2, 2, 37, 32
    q, k, v, grad_out = (torch.randn(batch, heads, length, head_dim, generator=generator).to(DEVICE) for _ in range(4))
    position_ids = make_position_ids("coupled", batch, length, generator).to(DEVICE)
    mask = torch.ones(batch, length, dtype=torch.bool, device=DEVICE)
    mask[1, :4] = False
    slopes = alibi_slopes(heads, DEVICE)
    config = replace(default_config(head_dim, False, DEVICE, torch.float32), fused_rope=True)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    out = coupled_attention_triton(*leaves, position_ids, rope_base=10000.0, alibi_slopes=slopes, key_padding_mask=mask, config=config)
    grads = torch.autograd.grad(out, leaves, grad_out)
    ref_leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    ref_out = oracle(*ref_leaves, position_ids, rope_base=10000.0, slopes=slopes, key_padding_mask=mask)
    ref_grads = torch.autograd.grad(ref_out, ref_leaves, grad_out)
    assert relative_error(out, ref_out) < 2e-5
    for grad, ref_grad in zip(grads, ref_grads):
        assert relative_error(grad, ref_grad) < 2e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fire_matches_reference_with_parameter_gradients(dtype):
    """FIRE fused in the kernel: output, q/k/v gradients and all six parameter gradients, with
    coupled ids (ties, ids going backwards) and left padding; hidden 32 is the model's size."""
    hidden = 32 if dtype == torch.float32 else 8
    check_against_reference(
        batch=2,
        heads=2,
        length=26,
        head_dim=16,
        dtype=dtype,
        ids="coupled",
        fire_hidden=hidden,
        padding=True,
        seed=11,
        fire_threshold=10.0,  # ids span 1..18: rows on both sides of L
    )


# ------------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------------


def test_rope_with_plain_ids_equals_sdpa_on_rotated_inputs():
    generator = torch.Generator().manual_seed(3)
    batch, heads, length, head_dim = 2, 3, 45, 32
    q, k, v = (torch.randn(batch, heads, length, head_dim, generator=generator).to(DEVICE) for _ in range(3))
    position_ids = torch.arange(length, device=DEVICE).expand(batch, length)
    out = coupled_attention(q, k, v, position_ids, rope_base=10000.0, backend="triton")
    rotated_q = rope_rotate(q, position_ids, 10000.0)
    rotated_k = rope_rotate(k, position_ids, 10000.0)
    expected = F.scaled_dot_product_attention(rotated_q, rotated_k, v, is_causal=True)
    assert relative_error(out, expected) < 2e-5


@pytest.mark.parametrize("term", ["rope", "alibi", "rope+alibi"])
def test_translation_invariance(term):
    """Adding a constant to every id leaves RoPE and ALiBi attention unchanged (they see p_i - p_j)."""
    generator = torch.Generator().manual_seed(5)
    batch, heads, length, head_dim = 2, 2, 37, 32
    q, k, v = (torch.randn(batch, heads, length, head_dim, generator=generator).to(DEVICE) for _ in range(3))
    position_ids = make_position_ids("coupled", batch, length, generator).to(DEVICE)
    kwargs = dict(rope_base=10000.0 if "rope" in term else None, alibi_slopes=alibi_slopes(heads, DEVICE) if "alibi" in term else None, backend="triton")
    out = coupled_attention(q, k, v, position_ids, **kwargs)
    shifted = coupled_attention(q, k, v, position_ids + 1000, **kwargs)
    # float32 angles p * theta at p ~ 1000 carry ~6e-5 rad of rounding: the bound allows that much
    assert relative_error(shifted, out) < 2e-4
    # and the ids do matter: a different spacing changes the output
    stretched = coupled_attention(q, k, v, position_ids * 3, **kwargs)
    assert relative_error(stretched, out) > 1e-2


def test_fire_is_not_translation_invariant_and_kernel_follows():
    """FIRE normalises by psi(max(L, p_i)): with ids beyond L a shift changes the output, in the kernel as in the reference."""
    generator = torch.Generator().manual_seed(9)
    batch, heads, length, head_dim = 1, 2, 24, 16
    q, k, v = (torch.randn(batch, heads, length, head_dim, generator=generator).to(DEVICE) for _ in range(3))
    params = {name: p.detach() for name, p in make_fire_params(heads, 8, generator, threshold=4.0).items()}
    position_ids = torch.arange(length, device=DEVICE)[None] + 10
    out = coupled_attention(q, k, v, position_ids, fire_params=params, backend="triton")
    shifted = coupled_attention(q, k, v, position_ids + 50, fire_params=params, backend="triton")
    ref_shifted = coupled_attention(q, k, v, position_ids + 50, fire_params=params, backend="reference")
    assert relative_error(shifted, out) > 1e-3
    assert relative_error(shifted, ref_shifted) < 2e-5


def test_left_padding_equals_the_unpadded_sequence():
    """Left-padded rows give, at the real tokens, the attention of the real tokens alone; pads give zeros."""
    generator = torch.Generator().manual_seed(4)
    heads, length, head_dim, pad = 2, 30, 32, 7
    q, k, v = (torch.randn(1, heads, length, head_dim, generator=generator).to(DEVICE) for _ in range(3))
    position_ids = make_position_ids("coupled", 1, length, generator).to(DEVICE)
    kwargs = dict(rope_base=10000.0, alibi_slopes=alibi_slopes(heads, DEVICE), backend="triton")
    alone = coupled_attention(q[:, :, pad:], k[:, :, pad:], v[:, :, pad:], position_ids[:, pad:], **kwargs)
    noise = torch.randn(1, heads, pad, head_dim, generator=generator).to(DEVICE) * 100  # pads must not leak
    padded_q, padded_k, padded_v = (torch.cat([noise, t[:, :, pad:]], dim=2) for t in (q, k, v))
    padded_ids = torch.cat([torch.zeros(1, pad, dtype=torch.long, device=DEVICE), position_ids[:, pad:]], dim=1)
    mask = torch.arange(length, device=DEVICE)[None] >= pad
    out = coupled_attention(padded_q, padded_k, padded_v, padded_ids, key_padding_mask=mask, **kwargs)
    assert relative_error(out[:, :, pad:], alone) < 2e-5
    assert out[:, :, :pad].abs().max() == 0


# ------------------------------------------------------------------------------------------------
# the public function
# ------------------------------------------------------------------------------------------------


def test_auto_backend_on_cpu_is_the_reference():
    generator = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 10, 16, generator=generator) for _ in range(3))
    position_ids = torch.arange(10)[None]
    slopes = alibi_slopes(2)
    out = coupled_attention(q, k, v, position_ids, rope_base=100.0, alibi_slopes=slopes)
    expected = coupled_attention_reference(q, k, v, position_ids, rope_base=100.0, bias=alibi_bias(position_ids, slopes))
    assert torch.equal(out, expected)


def test_bad_arguments_are_named():
    q = torch.randn(1, 2, 10, 16, device=DEVICE)
    ids = torch.arange(10, device=DEVICE)[None]
    with pytest.raises(ValueError, match="backend"):
        coupled_attention(q, q, q, ids, backend="fast")
    with pytest.raises(ValueError, match="position_ids"):
        coupled_attention(q, q, q, ids[:, :5], backend="triton")
    with pytest.raises(ValueError, match="head dim"):
        odd = torch.randn(1, 2, 10, 15, device=DEVICE)
        coupled_attention(odd, odd, odd, ids, backend="triton")
    with pytest.raises(ValueError, match="alibi_slopes"):
        coupled_attention(q, q, q, ids, alibi_slopes=alibi_slopes(3, DEVICE), backend="triton")
    with pytest.raises(ValueError, match="fire_params is missing"):
        coupled_attention(q, q, q, ids, fire_params={"w1": torch.zeros(4)}, backend="triton")


# ------------------------------------------------------------------------------------------------
# GPU only: production tiles at realistic lengths
# ------------------------------------------------------------------------------------------------

gpu_only = pytest.mark.skipif(not CUDA, reason="needs CUDA (long sequences with the production tiles)")


@gpu_only
@pytest.mark.parametrize(
    "dtype,head_dim,terms",
    [
        (torch.bfloat16, 64, "rope"),
        (torch.bfloat16, 128, "rope+alibi"),
        (torch.float16, 64, "alibi"),
        (torch.bfloat16, 80, "rope"),
        (torch.float32, 64, "rope+alibi"),
    ],
)
def test_long_sequences_on_gpu(dtype, head_dim, terms):
    check_against_reference(
        batch=2,
        heads=3,
        length=1000,
        head_dim=head_dim,
        dtype=dtype,
        ids="randomized",
        rope="rope" in terms,
        alibi="alibi" in terms,
        padding=True,
        seed=head_dim,
    )


@gpu_only
def test_fire_long_sequence_on_gpu():
    check_against_reference(batch=1, heads=2, length=700, head_dim=64, dtype=torch.bfloat16, ids="coupled", fire_hidden=32, seed=2)


def official_get_slopes(n: int) -> list[float]:
    """ALiBi's ``get_slopes`` as written in ofirpress/attention_with_linear_biases (fairseq/models/transformer.py)."""

    def get_slopes_power_of_2(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        ratio = start
        return [start * ratio**i for i in range(n)]

    if math.log2(n).is_integer():
        return get_slopes_power_of_2(n)
    closest_power_of_2 = 2 ** math.floor(math.log2(n))
    return get_slopes_power_of_2(closest_power_of_2) + official_get_slopes(2 * closest_power_of_2)[0::2][: n - closest_power_of_2]


@pytest.mark.parametrize("heads", [1, 2, 3, 4, 5, 6, 7, 8, 12, 16])
def test_alibi_slopes_follow_the_official_rule_for_every_head_count(heads: int) -> None:
    assert alibi_slopes(heads).tolist() == pytest.approx(official_get_slopes(heads), rel=1e-6)
    if heads == 6:  # 4 heads' slopes, then every second of 8 heads'
        assert alibi_slopes(6).tolist() == pytest.approx([2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3])
