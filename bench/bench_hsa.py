"""Benchmark: hierarchical sparse attention (Triton) vs torch SDPA (flash, causal) and the naive reference.

    python bench/bench_hsa.py                  # GPU: bf16, D=64, S=64, K=8; 16 q heads on 1 KV head, T=4K..128K,
                                               #      forward at 1M, and a small-group setting (16 q heads on 8 KV heads)
    python bench/bench_hsa.py --smoke          # CPU through the Triton interpreter, tiny, seconds (CI)
    python bench/bench_hsa.py --sweep          # GPU: tile configs at --sweep-length

Every ratio is against a baseline timed in the same run (DESIGN.md): speedup = baseline time / HSA
time. "HSA attn" is the sparse attention given indices and weights (the kernel the issue's targets
are about); "HSA layer" adds what hsa() does before it: the tiled top-K selection, the selected scores
and the stick-breaking weights, with gradients to the landmark queries and landmarks. SDPA gets
k and v expanded to all query heads (same FLOPs as GQA; flash has no GQA path in every torch).

FLOPs: SDPA causal forward 4*B*H*D*T(T+1)/2, backward 2.5x that; HSA forward 4*B*T*H*K*S*D (two
products per selected chunk), backward 2.5x. HSA "logical bytes": every token reads its K chunks'
keys and values once per KV head (2*B*T*H_kv*K*S*D*2 bytes) plus q and out; most of these reads hit
the 50 MB L2, so the logical rate can exceed HBM bandwidth. Ceilings are measured here: a large
device-to-device copy (bytes read + written) and an 8192^3 bf16 matmul, both on random data.
Peak memory: torch.cuda.max_memory_allocated during the call above what was allocated before it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
from pathlib import Path

try:  # python -m bench.bench_hsa
    from bench.common import fwd_bwd, gpu_environment, interpreter_for_smoke, kernel_bench_parser, sdpa_flash
except ModuleNotFoundError:  # python bench/bench_hsa.py
    from common import fwd_bwd, gpu_environment, interpreter_for_smoke, kernel_bench_parser, sdpa_flash


def parse_args() -> argparse.Namespace:
    parser = kernel_bench_parser(__doc__, sweep_length=16384)
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192, 16384, 32768, 65536, 131072])
    parser.add_argument("--forward-only-lengths", type=int, nargs="*", default=[1048576])
    parser.add_argument("--small-group-lengths", type=int, nargs="*", default=[4096, 16384, 65536, 131072])
    parser.add_argument("--reference-max-bytes", type=float, default=24e9, help="skip the naive reference above this estimate")
    parser.add_argument("--config", type=str, default="{}", help="JSON tile overrides for the attention kernels")
    parser.add_argument("--json", type=Path, default=None, help="write all numbers here")
    return parser.parse_args()


ARGS = parse_args()
interpreter_for_smoke(ARGS.smoke)

import torch  # noqa: E402
import triton  # noqa: E402

from kernels.hsa import chunk_weights, hsa, hsa_attention, select_chunks, selected_scores  # noqa: E402

HEAD_DIM, CHUNK, TOP_K, RETRIEVAL_DIM = 64, 64, 8, 64


def time_ms(fn, budget_ms: float = 300.0) -> float:
    """Median of CUDA-event timings after one warm-up; few repeats for slow calls (SDPA at 1M takes seconds)."""
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    first = start.elapsed_time(end)
    if first * 5 < budget_ms:
        return triton.testing.do_bench(fn, warmup=max(5.0, first * 2), rep=budget_ms, return_mode="median")
    times = []
    for _ in range(2 if first > 2000 else 3):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times + [first])


def peak_bytes(fn) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - before


def ceilings() -> dict:
    src = torch.randn(1 << 28, device="cuda")  # 1 GiB float32
    dst = torch.empty_like(src)
    copy_ms = triton.testing.do_bench(lambda: dst.copy_(src), warmup=25, rep=200, return_mode="median")
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    mm_ms = triton.testing.do_bench(lambda: a @ b, warmup=25, rep=200, return_mode="median")
    src = dst = a = b = None  # drop the tensors (the lambdas above hold them) before empty_cache
    torch.cuda.empty_cache()
    return {"copy_GBps": 2 * (1 << 30) / copy_ms / 1e6, "matmul_TFLOPs": 2 * 8192**3 / mm_ms / 1e9}


def make_problem(length: int, heads: int, kv_heads: int, device: str, seed: int):
    """Random bf16 inputs; landmarks are chunk means of a random projection (what a model builds)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32

    def rand(*shape):
        return torch.randn(*shape, device=device, generator=generator).to(dtype)

    q, k, v = rand(1, length, heads, HEAD_DIM), rand(1, length, kv_heads, HEAD_DIM), rand(1, length, kv_heads, HEAD_DIM)
    landmark_q = rand(1, length, kv_heads, RETRIEVAL_DIM)
    hidden = rand(1, (length // CHUNK) * CHUNK, kv_heads, RETRIEVAL_DIM)
    landmarks = hidden.view(1, length // CHUNK, CHUNK, kv_heads, RETRIEVAL_DIM).float().mean(2).to(dtype) * 4
    grad = rand(1, length, heads, HEAD_DIM)
    return q, k, v, landmark_q, landmarks, grad


def reference_bytes(length: int, heads: int, kv_heads: int) -> float:
    """The reference's biggest live tensors in float32: gathered K and V chunks, logits/probs, and the backward's copies."""
    gathered = length * kv_heads * TOP_K * CHUNK * HEAD_DIM * 4
    logits = length * heads * TOP_K * CHUNK * 4
    return 4 * gathered + 4 * logits


def bench_length(length: int, heads: int, kv_heads: int, ceiling: dict, config: dict, forward_only: bool) -> dict:
    q, k, v, landmark_q, landmarks, grad = make_problem(length, heads, kv_heads, "cuda", seed=length + heads)
    indices = select_chunks(landmark_q, landmarks, CHUNK, TOP_K)
    weights = chunk_weights(selected_scores(landmark_q, landmarks, indices), indices).detach()
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    w_leaf = weights.clone().requires_grad_()
    layer_leaves = leaves + [landmark_q.clone().requires_grad_(), landmarks.clone().requires_grad_()]
    q_h, k_h, v_h = (t.transpose(1, 2).contiguous() for t in (q, k, v))  # [B, H, T, D]
    group = heads // kv_heads
    k_h, v_h = (t.repeat_interleave(group, dim=1) for t in (k_h, v_h))
    sdpa_leaves = [t.clone().requires_grad_() for t in (q_h, k_h, v_h)]
    grad_h = grad.transpose(1, 2).contiguous()

    def attn():
        return hsa_attention(*leaves, indices, w_leaf, CHUNK, config=config)

    def layer():
        return hsa(*layer_leaves, CHUNK, TOP_K)

    def sdpa():
        return sdpa_flash(*sdpa_leaves)

    row = {"T": length, "H": heads, "H_kv": kv_heads, "group": group}
    row["sdpa_fwd_ms"] = time_ms(sdpa)
    row["attn_fwd_ms"] = time_ms(attn)
    row["layer_fwd_ms"] = time_ms(layer)
    row["select_ms"] = time_ms(lambda: select_chunks(landmark_q, landmarks, CHUNK, TOP_K))
    row["sdpa_fwd_peak_MiB"] = peak_bytes(sdpa) / 2**20
    row["attn_fwd_peak_MiB"] = peak_bytes(attn) / 2**20
    row["layer_fwd_peak_MiB"] = peak_bytes(layer) / 2**20
    if not forward_only:
        row["sdpa_fwdbwd_ms"] = time_ms(fwd_bwd(sdpa, sdpa_leaves, grad_h))
        row["attn_fwdbwd_ms"] = time_ms(fwd_bwd(attn, leaves + [w_leaf], grad))
        row["layer_fwdbwd_ms"] = time_ms(fwd_bwd(layer, layer_leaves, grad))
        row["attn_fwdbwd_peak_MiB"] = peak_bytes(fwd_bwd(attn, leaves + [w_leaf], grad)) / 2**20
        row["sdpa_fwdbwd_peak_MiB"] = peak_bytes(fwd_bwd(sdpa, sdpa_leaves, grad_h)) / 2**20
    if reference_bytes(length, heads, kv_heads) <= ARGS.reference_max_bytes:
        ref_leaves = [t.float().requires_grad_() for t in (q, k, v)]
        ref_w = weights.clone().requires_grad_()

        def reference():
            return hsa_attention(*ref_leaves, indices, ref_w, CHUNK, backend="reference")

        row["ref_fwd_ms"] = time_ms(reference, budget_ms=100)
        row["ref_fwd_peak_MiB"] = peak_bytes(reference) / 2**20
        if not forward_only:
            row["ref_fwdbwd_ms"] = time_ms(fwd_bwd(reference, ref_leaves + [ref_w], grad.float()), budget_ms=100)
        torch.cuda.empty_cache()
    sdpa_flops = 4.0 * heads * HEAD_DIM * length * (length + 1) / 2
    hsa_flops = 4.0 * length * heads * TOP_K * CHUNK * HEAD_DIM
    hsa_bytes = 2.0 * length * kv_heads * TOP_K * CHUNK * HEAD_DIM * 2 + 2 * length * heads * HEAD_DIM * 2
    row["speedup_fwd"] = row["sdpa_fwd_ms"] / row["attn_fwd_ms"]
    row["speedup_layer_fwd"] = row["sdpa_fwd_ms"] / row["layer_fwd_ms"]
    row["attn_fwd_TFLOPs"] = hsa_flops / row["attn_fwd_ms"] / 1e9
    row["attn_fwd_logical_GBps"] = hsa_bytes / row["attn_fwd_ms"] / 1e6
    row["sdpa_fwd_TFLOPs"] = sdpa_flops / row["sdpa_fwd_ms"] / 1e9
    row["attn_fwd_fraction_of_copy_bw"] = row["attn_fwd_logical_GBps"] / ceiling["copy_GBps"]
    row["sdpa_fwd_fraction_of_matmul"] = row["sdpa_fwd_TFLOPs"] / ceiling["matmul_TFLOPs"]
    if not forward_only:
        row["speedup_fwdbwd"] = row["sdpa_fwdbwd_ms"] / row["attn_fwdbwd_ms"]
        row["speedup_layer_fwdbwd"] = row["sdpa_fwdbwd_ms"] / row["layer_fwdbwd_ms"]
        row["attn_fwdbwd_TFLOPs"] = 3.5 * hsa_flops / row["attn_fwdbwd_ms"] / 1e9
        row["sdpa_fwdbwd_TFLOPs"] = 3.5 * sdpa_flops / row["sdpa_fwdbwd_ms"] / 1e9
    if "ref_fwd_ms" in row:
        row["speedup_vs_ref_fwd"] = row["ref_fwd_ms"] / row["attn_fwd_ms"]
        if "ref_fwdbwd_ms" in row:
            row["speedup_vs_ref_fwdbwd"] = row["ref_fwdbwd_ms"] / row["attn_fwdbwd_ms"]
    print(format_row(row), flush=True)
    q = k = v = leaves = sdpa_leaves = layer_leaves = None  # as del, which linters misread in closures
    torch.cuda.empty_cache()
    return row


def format_row(row: dict) -> str:
    def get(key, fmt="{:.3f}"):
        return fmt.format(row[key]) if key in row else "-"

    return (
        f"T={row['T']:8d} G={row['group']:2d} | fwd ms: sdpa {get('sdpa_fwd_ms')} attn {get('attn_fwd_ms')} layer {get('layer_fwd_ms')}"
        f" (select {get('select_ms')}) ref {get('ref_fwd_ms')} | speedup fwd {get('speedup_fwd', '{:.1f}')}x"
        f" layer {get('speedup_layer_fwd', '{:.1f}')}x | fwd+bwd ms: sdpa {get('sdpa_fwdbwd_ms')} attn {get('attn_fwdbwd_ms')}"
        f" layer {get('layer_fwdbwd_ms')} ref {get('ref_fwdbwd_ms')} | speedup {get('speedup_fwdbwd', '{:.1f}')}x"
        f" layer {get('speedup_layer_fwdbwd', '{:.1f}')}x | peak MiB attn {get('attn_fwd_peak_MiB', '{:.0f}')}"
        f" sdpa {get('sdpa_fwd_peak_MiB', '{:.0f}')} | attn {get('attn_fwd_TFLOPs', '{:.0f}')} TFLOP/s,"
        f" {get('attn_fwd_logical_GBps', '{:.0f}')} GB/s logical"
    )


def sweep(length: int) -> list[dict]:
    rows = []
    for heads, kv_heads in ((16, 1), (16, 8)):
        q, k, v, landmark_q, landmarks, grad = make_problem(length, heads, kv_heads, "cuda", seed=1)
        indices = select_chunks(landmark_q, landmarks, CHUNK, TOP_K)
        weights = torch.rand(indices.shape, device="cuda").requires_grad_()
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        for block_t in (1, 2, 4, 8):
            for num_warps in (2, 4, 8):
                config = {"block_t": block_t, "num_warps": num_warps}
                try:
                    fwd = time_ms(
                        lambda leaves=leaves, indices=indices, weights=weights, config=config: hsa_attention(*leaves, indices, weights, CHUNK, config=config),
                        100,
                    )
                except Exception as error:  # a config that does not compile (registers, shared memory)
                    print(f"sweep G={heads // kv_heads} {config}: {type(error).__name__}", flush=True)
                    continue
                rows.append({"group": heads // kv_heads, **config, "fwd_ms": fwd})
                print(f"sweep G={heads // kv_heads} {config}: fwd {fwd:.3f} ms", flush=True)
        for block_rows in (64, 128):
            for segment_rows in (1024, 4096):
                config = {"block_rows": block_rows, "segment_rows": segment_rows}
                fn = fwd_bwd(
                    lambda leaves=leaves, indices=indices, weights=weights, config=config: hsa_attention(*leaves, indices, weights, CHUNK, config=config),
                    leaves + [weights],
                    grad,
                )
                try:
                    ms = time_ms(fn, 100)
                except Exception as error:
                    print(f"sweep G={heads // kv_heads} {config}: {type(error).__name__}", flush=True)
                    continue
                rows.append({"group": heads // kv_heads, **config, "fwdbwd_ms": ms})
                print(f"sweep G={heads // kv_heads} {config}: fwd+bwd {ms:.3f} ms", flush=True)
        for block_t, block_c in ((32, 64), (64, 64), (64, 128), (128, 64)):
            ms = time_ms(
                lambda landmark_q=landmark_q, landmarks=landmarks, block_t=block_t, block_c=block_c: select_chunks_with(
                    landmark_q, landmarks, block_t, block_c
                ),
                100,
            )
            rows.append({"group": heads // kv_heads, "select_block_t": block_t, "select_block_c": block_c, "select_ms": ms})
            print(f"sweep G={heads // kv_heads} select block_t={block_t} block_c={block_c}: {ms:.3f} ms", flush=True)
    return rows


def select_chunks_with(landmark_q, landmarks, block_t, block_c):
    from kernels.hsa.triton import select_chunks_triton

    return select_chunks_triton(landmark_q, landmarks, CHUNK, TOP_K, block_t=block_t, block_c=block_c)


def smoke() -> None:
    """CPU, interpreter: one tiny forward+backward of the layer on both backends; checks they agree."""
    global CHUNK, TOP_K
    CHUNK, TOP_K = 8, 3
    length = 40
    q, k, v, landmark_q, landmarks, grad = make_problem(length, 4, 1, "cpu", seed=0)
    results = {}
    for backend in ("triton", "reference"):
        leaves = [t.clone().requires_grad_() for t in (q, k, v, landmark_q, landmarks)]
        start = datetime.datetime.now()
        out = hsa(*leaves, CHUNK, TOP_K, backend=backend)
        out.backward(grad)
        seconds = (datetime.datetime.now() - start).total_seconds()
        results[backend] = (out.detach(), [leaf.grad for leaf in leaves], seconds)
    out, grads, seconds = results["triton"]
    ref, ref_grads, ref_seconds = results["reference"]
    error = max([((out - ref).norm() / ref.norm()).item()] + [((g - r).norm() / r.norm()).item() for g, r in zip(grads, ref_grads)])
    print(
        f"smoke: T={length} S={CHUNK} K={TOP_K} H=4 H_kv=1 | triton (interpreter) {seconds:.2f} s, reference {ref_seconds:.3f} s,"
        f" ratio {seconds / ref_seconds:.1f} (interpreter, meaningless for speed) | max relative error {error:.2e}"
    )
    if not error < 1e-4:
        raise SystemExit(f"smoke: triton and reference disagree ({error:.2e})")


def main() -> None:
    if ARGS.smoke:
        smoke()
        return
    date = datetime.datetime.now().isoformat(timespec="seconds")
    environment = gpu_environment(date, without_cuda="bench_hsa.py needs CUDA (or --smoke)")
    print(json.dumps(environment), flush=True)
    result: dict = {"environment": environment}
    if ARGS.sweep:
        result["sweep"] = sweep(ARGS.sweep_length)
    else:
        ceiling = ceilings()
        result["ceilings"] = ceiling
        print(json.dumps(ceiling), flush=True)
        config = json.loads(ARGS.config)
        rows = []
        for length in ARGS.lengths:
            rows.append(bench_length(length, 16, 1, ceiling, config, forward_only=False))
        for length in ARGS.forward_only_lengths:
            rows.append(bench_length(length, 16, 1, ceiling, config, forward_only=True))
        for length in ARGS.small_group_lengths:
            rows.append(bench_length(length, 16, 8, ceiling, config, forward_only=False))
        result["rows"] = rows
    if ARGS.json:
        ARGS.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
