"""Evaluate a trained passkey run at long contexts, timing each length, and write a Markdown table.

Usage: python bench/passkey/eval_long.py --db DB --run RUN_ID --lengths 512,2048,4096,16384 --samples 100,100,100,50 --out FILE.md

Loads the run's checkpoint from the store, decodes greedily with :func:`lengen_core.evaluation.sweep`
(HSA models decode without a KV cache: every step re-runs the whole prefix, on the reference HSA
path on the CPU), stores the points as the run's ``long`` sweep and writes a table with the sample
count, exact match with its 95% Wilson interval, time per example and the process's peak memory.
Run it with ``OMP_NUM_THREADS=1`` for the single-thread timings reported in docs/results.md.
``--device cuda`` decodes on the GPU (the Triton HSA kernels) and reports the peak GPU memory of each
length (``torch.cuda.max_memory_allocated``, reset before it) instead of the process's RSS.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import torch

from lengen_core.breakdown import Breakdown
from lengen_core.errors import ConfigError
from lengen_core.evaluation import breakdown_length, sweep
from lengen_core.runs.loading import load_run
from lengen_core.store import RunStore


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory_mib(device: str) -> float:
    """The GPU's peak allocated memory since the last reset on CUDA, else the process's peak RSS."""
    return torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else peak_rss_mib()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--run", required=True, help="run id (printed by `python -m lengen_core train`)")
    parser.add_argument("--lengths", default="512,2048,4096,16384", help="comma-separated prompt lengths (tokens)")
    parser.add_argument("--samples", default="100", help="examples per length: one number or one per length")
    parser.add_argument("--batch-size", type=int, default=2, help="examples decoded together (bounds memory)")
    parser.add_argument("--out", required=True, help="Markdown file to write")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to decode (default cpu)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")

    torch.set_num_threads(int(torch.get_num_threads()))  # honour OMP_NUM_THREADS
    lengths = [int(part) for part in args.lengths.split(",") if part]
    samples = [int(part) for part in args.samples.split(",") if part]
    if len(samples) == 1:
        samples = samples * len(lengths)
    if len(samples) != len(lengths):
        parser.error("--samples needs one number or one per length")

    store = RunStore(args.db)
    try:
        loaded = load_run(store, args.run, device=args.device)  # the checkpoint must agree with the store
    except ConfigError as error:
        parser.error(str(error))
    model, config, seed, record = loaded.model, loaded.config, loaded.seed, loaded.record
    eval_config = config.eval

    rows = []
    points = []
    memory_name = "peak GPU memory" if args.device == "cuda" else "peak RSS"
    for length, count in zip(lengths, samples):
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        outcome = sweep(
            model,
            config.task,
            eval_config.__class__(samples_per_length=count, batch_size=args.batch_size, seed=eval_config.seed),
            device=args.device,
            lengths=[length],
        )
        seconds = time.perf_counter() - started
        point = outcome.points[0]
        points.append(point)
        rows.append((point, seconds / point.n, peak_memory_mib(args.device)))
        print(
            f"length {length}: exact match {point.exact_match:.3f} [{point.exact_match_low:.3f}, {point.exact_match_high:.3f}] "
            f"(n={point.n}), {seconds / point.n:.2f} s/example, {memory_name} {rows[-1][2]:.0f} MiB",
            flush=True,
        )
    breakdown = Breakdown(breakdown_length(points, eval_config.threshold, config.task.train_length_min), config.task.train_length_max)
    store.set_eval_points(args.run, [p.as_row() for p in points], breakdown, sweep="long")

    hsa = config.model.hsa
    lines = [
        f"Run `{args.run}` (seed {seed}): {config.model.n_layers} layers, d_model {config.model.d_model}, "
        f"{config.model.n_heads} heads, HSA chunk {hsa.chunk_size}, top-{hsa.top_k} ({hsa.weighting}), "
        f"{hsa.local_mixer} window {hsa.window}, {hsa.landmark} landmarks; trained on prompts of "
        f"{config.task.train_length_min}-{config.task.train_length_max} tokens, "
        f"{config.task.options['passkey_digits']}-digit passkeys; {record.steps_done} steps in {record.train_seconds:.0f} s.",
        "",
        f"| prompt tokens | x train max | n | exact match | 95% Wilson | token acc. | s / example | {memory_name} (MiB) |",
        "|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for point, per_example, rss in rows:
        lines.append(
            f"| {point.length} | {point.length / config.task.train_length_max:.0f}x | {point.n} | {point.exact_match:.3f} | "
            f"[{point.exact_match_low:.3f}, {point.exact_match_high:.3f}] | {point.token_accuracy:.3f} | {per_example:.2f} | {rss:.0f} |"
        )
    where = (
        f"GPU {torch.cuda.get_device_name()}, Triton HSA kernels" if args.device == "cuda" else f"reference HSA path, CPU, {torch.get_num_threads()} thread(s)"
    )
    memory_note = (
        "Peak GPU memory is torch.cuda.max_memory_allocated over each length."
        if args.device == "cuda"
        else "Peak RSS is the whole process's high-water mark so far."
    )
    lines += [
        "",
        f"Greedy decoding without KV cache (each answer token re-runs the whole prompt), {where}, "
        f"batch {args.batch_size}; torch {torch.__version__}, {platform.processor() or platform.machine()}. {memory_note}",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
