"""Benchmark: fused coupled-position attention vs torch SDPA (flash, causal) on pre-rotated inputs, and vs
FlexAttention (compiled) with the same position ids and the same bias.

    python bench/bench_coupled_attention.py                 # GPU: T = 1K..16K, bf16, B=4, H=16, D=64
    python bench/bench_coupled_attention.py --smoke         # CPU, Triton interpreter, tiny, seconds (CI)
    python bench/bench_coupled_attention.py --sweep         # GPU: a few tile configs at one length

Every ratio is against a baseline timed in the same run (DESIGN.md): our time over
SDPA's. SDPA gets q and k already rotated (its RoPE is not timed; the column
"SDPA+rope" adds torch's own rotation, what a model without the fused kernel pays).
Our kernel computes the RoPE angles from random sorted position ids inside the kernel.
TFLOP/s count the causal half only: forward 4*B*H*D*T(T+1)/2, backward 2.5x that,
and are set against a bf16 matmul ceiling measured here (8192^3, random data).

FlexAttention (torch.nn.attention.flex_attention, compiled, causal block mask) is what a
user would pick instead of our kernel: ALiBi from arbitrary ids is a ``score_mod``
(``score - slope_h * |p_i - p_j|``, ids captured), and RoPE from ids is applied to q and k
before the call (a score_mod cannot rotate; the rotation is timed, as for "SDPA+rope").
The smoke run checks the ALiBi score_mod against the reference (forward: FlexAttention has
no backward on a CPU).
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
import warnings
from pathlib import Path

try:  # python -m bench.bench_coupled_attention
    from bench.common import fwd_bwd, gpu_environment, interpreter_for_smoke, kernel_bench_parser, sdpa_flash
except ModuleNotFoundError:  # python bench/bench_coupled_attention.py
    from common import fwd_bwd, gpu_environment, interpreter_for_smoke, kernel_bench_parser, sdpa_flash


def parse_args() -> argparse.Namespace:
    parser = kernel_bench_parser(__doc__, sweep_length=4096)
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384])
    parser.add_argument("--fire-lengths", type=int, nargs="*", default=[1024, 2048, 4096])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--json", type=Path, default=None, help="write all numbers here")
    return parser.parse_args()


ARGS = parse_args()
interpreter_for_smoke(ARGS.smoke)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import triton  # noqa: E402

from kernels.coupled_attention import alibi_bias, alibi_slopes, coupled_attention_reference, fire_bias, rope_rotate  # noqa: E402
from kernels.coupled_attention.triton import BlockConfig, coupled_attention_triton, default_config  # noqa: E402


def forward_flops(batch: int, heads: int, length: int, head_dim: int) -> float:
    return 4.0 * batch * heads * head_dim * length * (length + 1) / 2


def bench_ms(fn) -> float:
    return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")


def matmul_ceiling_tflops() -> float:
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    ms = bench_ms(lambda: a @ b)
    return 2 * 8192**3 / ms / 1e9


def make_inputs(batch, heads, length, head_dim, dtype, device, seed=0):
    generator = torch.Generator(device=device).manual_seed(seed)
    q, k, v, grad = (torch.randn(batch, heads, length, head_dim, device=device, dtype=dtype, generator=generator) for _ in range(4))
    # randomized sorted ids from a 4x larger range: nothing about them is arange-like
    ids = torch.stack([torch.randperm(4 * length, device=device, generator=generator)[:length].sort().values for _ in range(batch)])
    return q, k, v, grad, ids


def flex_causal(ids, slopes=None, rope_base=None, compiled=True):
    """A callable (q, k, v) -> FlexAttention output with the coupled ids ``ids`` [B, T]: ALiBi from ``slopes`` as
    a score_mod, or q and k rotated by RoPE from the ids first; causal block mask."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    length = ids.shape[1]
    block_mask = create_block_mask(lambda b, h, q_idx, kv_idx: q_idx >= kv_idx, None, None, length, length, device=ids.device)
    attend = torch.compile(flex_attention) if compiled else flex_attention

    def alibi(score, b, h, q_idx, kv_idx):
        return score - slopes[h] * (ids[b, q_idx] - ids[b, kv_idx]).abs()

    def run(q, k, v):
        if rope_base is not None:
            q, k = rope_rotate(q, ids, rope_base), rope_rotate(k, ids, rope_base)
        return attend(q, k, v, score_mod=alibi if slopes is not None else None, block_mask=block_mask)

    return run


def bench_length(length: int, args, rows: list[dict], ceiling: float) -> None:
    batch, heads, head_dim = args.batch, args.heads, args.head_dim
    q, k, v, grad, ids = make_inputs(batch, heads, length, head_dim, torch.bfloat16, "cuda", seed=length)
    q_rot, k_rot = rope_rotate(q, ids, 10000.0), rope_rotate(k, ids, 10000.0)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    rot_leaves = [t.clone().requires_grad_() for t in (q_rot, k_rot, v)]
    slopes = alibi_slopes(heads, "cuda")
    flops = forward_flops(batch, heads, length, head_dim)

    def ours(**kw):
        return lambda: coupled_attention_triton(*leaves, ids, **kw)

    def sdpa_with_rope():
        return sdpa_flash(rope_rotate(leaves[0], ids, 10000.0), rope_rotate(leaves[1], ids, 10000.0), leaves[2])

    flex_rope, flex_alibi = flex_causal(ids, rope_base=10000.0), flex_causal(ids, slopes=slopes)
    with torch.no_grad():  # guard: the timed kernel computes the right thing
        check = coupled_attention_triton(q, k, v, ids, rope_base=10000.0).float()
        expected = sdpa_flash(q_rot, k_rot, v).float()
        error = ((check - expected).norm() / expected.norm()).item()
        alibi_ours = coupled_attention_triton(q, k, v, ids, alibi_slopes=slopes).float()
        alibi_flex = flex_alibi(q, k, v).float()
        flex_error = ((alibi_ours - alibi_flex).norm() / alibi_flex.norm()).item()
        rope_flex_error = ((check - flex_rope(q, k, v).float()).norm() / expected.norm()).item()
    if not error < 2e-2:
        raise SystemExit(f"T={length}: kernel differs from SDPA on rotated inputs (relative error {error:.2e})")
    if not (flex_error < 2e-2 and rope_flex_error < 2e-2):
        raise SystemExit(f"T={length}: kernel differs from FlexAttention (ALiBi {flex_error:.2e}, RoPE {rope_flex_error:.2e})")
    timings = {
        "sdpa_fwd": bench_ms(lambda: sdpa_flash(*rot_leaves)),
        "sdpa_rope_fwd": bench_ms(sdpa_with_rope),
        "ours_rope_fwd": bench_ms(ours(rope_base=10000.0)),
        "ours_plain_fwd": bench_ms(ours()),
        "ours_alibi_fwd": bench_ms(ours(alibi_slopes=slopes)),
        "sdpa_fwdbwd": bench_ms(fwd_bwd(lambda: sdpa_flash(*rot_leaves), rot_leaves, grad)),
        "sdpa_rope_fwdbwd": bench_ms(fwd_bwd(sdpa_with_rope, leaves, grad)),
        "ours_rope_fwdbwd": bench_ms(fwd_bwd(ours(rope_base=10000.0), leaves, grad)),
        "ours_plain_fwdbwd": bench_ms(fwd_bwd(ours(), leaves, grad)),
        "ours_alibi_fwdbwd": bench_ms(fwd_bwd(ours(alibi_slopes=slopes), leaves, grad)),
        "flex_rope_fwd": bench_ms(lambda: flex_rope(*leaves)),
        "flex_alibi_fwd": bench_ms(lambda: flex_alibi(*leaves)),
        "flex_rope_fwdbwd": bench_ms(fwd_bwd(lambda: flex_rope(*leaves), leaves, grad)),
        "flex_alibi_fwdbwd": bench_ms(fwd_bwd(lambda: flex_alibi(*leaves), leaves, grad)),
    }
    row = {"T": length, "B": batch, "H": heads, "D": head_dim, "error_vs_sdpa": error, "error_vs_flex_alibi": flex_error, **timings}
    for term in ("rope", "alibi"):  # ours over FlexAttention's time, same ids and bias (target: at most 1.0)
        for phase in ("fwd", "fwdbwd"):
            row[f"ratio_{term}_vs_flex_{phase}"] = timings[f"ours_{term}_{phase}"] / timings[f"flex_{term}_{phase}"]
    row["ratio_rope_fwd"] = timings["ours_rope_fwd"] / timings["sdpa_fwd"]
    row["ratio_rope_fwdbwd"] = timings["ours_rope_fwdbwd"] / timings["sdpa_fwdbwd"]
    row["ratio_plain_fwd"] = timings["ours_plain_fwd"] / timings["sdpa_fwd"]
    row["ratio_alibi_fwd"] = timings["ours_alibi_fwd"] / timings["sdpa_fwd"]
    row["ratio_rope_vs_sdpa_rope_fwdbwd"] = timings["ours_rope_fwdbwd"] / timings["sdpa_rope_fwdbwd"]
    row["tflops_ours_rope_fwd"] = flops / timings["ours_rope_fwd"] / 1e9
    row["tflops_sdpa_fwd"] = flops / timings["sdpa_fwd"] / 1e9
    row["tflops_ours_rope_fwdbwd"] = 3.5 * flops / timings["ours_rope_fwdbwd"] / 1e9
    row["tflops_sdpa_fwdbwd"] = 3.5 * flops / timings["sdpa_fwdbwd"] / 1e9
    row["ceiling_fraction_ours_rope_fwd"] = row["tflops_ours_rope_fwd"] / ceiling
    rows.append(row)
    print(
        f"T={length:6d} sdpa fwd {timings['sdpa_fwd']:.3f} ms | ours rope {timings['ours_rope_fwd']:.3f} "
        f"({row['ratio_rope_fwd']:.2f}x) plain {timings['ours_plain_fwd']:.3f} ({row['ratio_plain_fwd']:.2f}x) "
        f"alibi {timings['ours_alibi_fwd']:.3f} ({row['ratio_alibi_fwd']:.2f}x) | fwd+bwd sdpa {timings['sdpa_fwdbwd']:.3f} "
        f"ours rope {timings['ours_rope_fwdbwd']:.3f} ({row['ratio_rope_fwdbwd']:.2f}x) | "
        f"{row['tflops_ours_rope_fwd']:.0f} vs {row['tflops_sdpa_fwd']:.0f} TFLOP/s fwd | vs flex: rope "
        f"{row['ratio_rope_vs_flex_fwd']:.2f}x/{row['ratio_rope_vs_flex_fwdbwd']:.2f}x alibi "
        f"{row['ratio_alibi_vs_flex_fwd']:.2f}x/{row['ratio_alibi_vs_flex_fwdbwd']:.2f}x (fwd/fwd+bwd)",
        flush=True,
    )


def bench_fire(length: int, args, rows: list[dict]) -> None:
    """Fused FIRE vs the unfused path the model would otherwise take: materialise the [B, H, T, T]
    FIRE bias in torch and give it to SDPA as an additive mask (mem-efficient kernel)."""
    batch, heads, head_dim, hidden = args.batch, args.heads, args.head_dim, 32
    q, k, v, grad, ids = make_inputs(batch, heads, length, head_dim, torch.bfloat16, "cuda", seed=length + 1)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    generator = torch.Generator(device="cuda").manual_seed(0)
    params = {
        "w1": torch.randn(hidden, device="cuda", generator=generator),
        "b1": torch.randn(hidden, device="cuda", generator=generator),
        "w2": torch.randn(heads, hidden, device="cuda", generator=generator) * 0.2,
        "b2": torch.zeros(heads, device="cuda"),
        "log_c": torch.zeros((), device="cuda"),
        "threshold_l": torch.tensor(512.0, device="cuda"),
    }
    params = {name: p.requires_grad_() for name, p in params.items()}
    all_leaves = leaves + list(params.values())

    def fused():
        return coupled_attention_triton(*leaves, ids, fire_params=params)

    def unfused():
        bias = fire_bias(ids, **params).to(torch.bfloat16)  # [B, H, T, T]
        causal = torch.ones(length, length, dtype=torch.bool, device="cuda").tril()
        bias = bias.masked_fill(~causal, float("-inf"))
        return F.scaled_dot_product_attention(*leaves, attn_mask=bias)

    row = {"T": length, "fire_fused_fwd": bench_ms(fused), "fire_fused_fwdbwd": bench_ms(fwd_bwd(fused, all_leaves, grad))}
    try:
        row["fire_unfused_fwd"] = bench_ms(unfused)
        row["fire_unfused_fwdbwd"] = bench_ms(fwd_bwd(unfused, all_leaves, grad))
    except torch.OutOfMemoryError:
        row["fire_unfused_fwd"] = row["fire_unfused_fwdbwd"] = float("nan")
    torch.cuda.empty_cache()
    row["fire_fused_over_unfused_fwdbwd"] = row["fire_fused_fwdbwd"] / row["fire_unfused_fwdbwd"]
    sdpa = bench_ms(lambda: sdpa_flash(*leaves))
    row["fire_fused_over_sdpa_fwd"] = row["fire_fused_fwd"] / sdpa
    rows.append(row)
    print(
        f"FIRE T={length:6d} fused fwd {row['fire_fused_fwd']:.3f} ms fwd+bwd {row['fire_fused_fwdbwd']:.3f} | "
        f"unfused fwd {row['fire_unfused_fwd']:.3f} fwd+bwd {row['fire_unfused_fwdbwd']:.3f} | "
        f"fused/unfused fwd+bwd {row['fire_fused_over_unfused_fwdbwd']:.2f}x, fused fwd/SDPA {row['fire_fused_over_sdpa_fwd']:.1f}x",
        flush=True,
    )


SWEEP = {
    "default": None,
    "fwd128x64w4": dict(block_m=128, block_n=64, fwd_warps=4, fwd_stages=3),
    "fused-rope": dict(fused_rope=True),  # streamed K/Q rotated per tile inside the loop
}


def sweep(args, rows: list[dict]) -> None:
    length = args.sweep_length
    q, k, v, grad, ids = make_inputs(args.batch, args.heads, length, args.head_dim, torch.bfloat16, "cuda", seed=3)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    base = default_config(args.head_dim, False, q.device, q.dtype)
    sdpa = bench_ms(lambda: sdpa_flash(q, k, v))
    sdpa_fb = bench_ms(fwd_bwd(lambda: sdpa_flash(*leaves), leaves, grad))
    for name, change in SWEEP.items():
        config = base if change is None else BlockConfig(**{**base.__dict__, **change})
        try:
            fn = lambda config=config: coupled_attention_triton(*leaves, ids, rope_base=10000.0, config=config)  # noqa: E731
            fwd = bench_ms(fn)
            fb = bench_ms(fwd_bwd(fn, leaves, grad))
        except Exception as error:  # a config that does not compile (resources) is reported, not fatal
            print(f"sweep {name}: failed: {type(error).__name__}: {str(error)[:200]}", flush=True)
            continue
        rows.append({"sweep": name, "T": length, "fwd": fwd, "fwdbwd": fb, "fwd_ratio": fwd / sdpa, "fwdbwd_ratio": fb / sdpa_fb})
        print(f"sweep {name:16s} T={length} fwd {fwd:.3f} ms ({fwd / sdpa:.2f}x SDPA)  fwd+bwd {fb:.3f} ms ({fb / sdpa_fb:.2f}x)", flush=True)


def smoke() -> None:
    """Seconds on a CPU: the kernel through the interpreter against the reference, timed, checked."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    batch, heads, length, head_dim = 1, 2, 48, 32
    q, k, v, grad, ids = make_inputs(batch, heads, length, head_dim, torch.float32, device)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    results = []
    for name, kwargs, bias in (
        ("rope", dict(rope_base=10000.0), None),
        ("alibi", dict(alibi_slopes=alibi_slopes(heads, device)), alibi_bias(ids, alibi_slopes(heads, device))),
    ):
        start = time.perf_counter()
        out = coupled_attention_triton(*leaves, ids, **kwargs)
        grads = torch.autograd.grad(out, leaves, grad)
        ours = time.perf_counter() - start
        start = time.perf_counter()
        ref = coupled_attention_reference(*leaves, ids, rope_base=kwargs.get("rope_base"), bias=bias)
        ref_grads = torch.autograd.grad(ref, leaves, grad)
        reference = time.perf_counter() - start
        error = max(((a - b).norm() / b.norm()).item() for a, b in zip((out, *grads), (ref, *ref_grads)))
        results.append((name, ours, reference, error))
        if not error < 1e-4:
            raise SystemExit(f"smoke: {name} differs from the reference (relative error {error:.2e})")
    print(f"| term | kernel fwd+bwd (s, {device}) | reference (s) | kernel / reference | max rel. error |")
    print("|---|---|---|---|---|")
    for name, ours, reference, error in results:
        print(f"| {name} | {ours:.2f} | {reference:.3f} | {ours / reference:.1f}x | {error:.1e} |")
    with torch.no_grad(), warnings.catch_warnings():  # the FlexAttention rival computes the same thing (forward only on a CPU, not compiled)
        warnings.simplefilter("ignore")  # uncompiled flex_attention warns that it is slow: it is only checked here
        slopes = alibi_slopes(heads, device)
        flex = flex_causal(ids, slopes=slopes, compiled=device == "cuda")(q, k, v)
        ref = coupled_attention_reference(q, k, v, ids, bias=alibi_bias(ids, slopes))
        flex_rope = flex_causal(ids, rope_base=10000.0, compiled=device == "cuda")(q, k, v)
        ref_rope = coupled_attention_reference(q, k, v, ids, rope_base=10000.0)
    flex_error = max(((flex - ref).norm() / ref.norm()).item(), ((flex_rope - ref_rope).norm() / ref_rope.norm()).item())
    if not flex_error < 1e-4:
        raise SystemExit(f"smoke: FlexAttention with the ids differs from the reference (relative error {flex_error:.2e})")
    print(f"FlexAttention (ALiBi score_mod, RoPE from ids) against the reference: max rel. error {flex_error:.1e}")


def main() -> None:
    args = ARGS
    if args.smoke:
        smoke()
        return
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    info = gpu_environment(date, without_cuda="the full benchmark needs CUDA (use --smoke on a CPU)")
    print(json.dumps(info), flush=True)
    ceiling = matmul_ceiling_tflops()
    info["bf16_matmul_ceiling_tflops"] = ceiling
    print(f"bf16 matmul ceiling: {ceiling:.0f} TFLOP/s", flush=True)
    rows: list[dict] = []
    if args.sweep:
        sweep(args, rows)
    for length in args.lengths:
        bench_length(length, args, rows, ceiling)
    for length in args.fire_lengths:
        bench_fire(length, args, rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    print(
        "\n| T | SDPA fwd ms | ours RoPE fwd ms | ratio | plain ratio | ALiBi ratio | SDPA fwd+bwd ms | ours RoPE fwd+bwd ms | ratio | ours TFLOP/s fwd (of ceiling) | vs Flex RoPE fwd / fwd+bwd | vs Flex ALiBi fwd / fwd+bwd |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "ratio_rope_fwd" in row:
            print(
                f"| {row['T']} | {row['sdpa_fwd']:.3f} | {row['ours_rope_fwd']:.3f} | {row['ratio_rope_fwd']:.2f} | "
                f"{row['ratio_plain_fwd']:.2f} | {row['ratio_alibi_fwd']:.2f} | {row['sdpa_fwdbwd']:.3f} | "
                f"{row['ours_rope_fwdbwd']:.3f} | {row['ratio_rope_fwdbwd']:.2f} | "
                f"{row['tflops_ours_rope_fwd']:.0f} ({100 * row['ceiling_fraction_ours_rope_fwd']:.0f}%) | "
                f"{row['ratio_rope_vs_flex_fwd']:.2f} / {row['ratio_rope_vs_flex_fwdbwd']:.2f} | "
                f"{row['ratio_alibi_vs_flex_fwd']:.2f} / {row['ratio_alibi_vs_flex_fwdbwd']:.2f} |"
            )


if __name__ == "__main__":
    main()
