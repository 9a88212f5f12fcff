"""Helpers the benchmark scripts share (bench scripts import only lengen_core, kernels and this module).

A script imports it as ``bench.common`` when run as ``python -m bench.<script>`` and as
``common`` when run as ``python bench/<script>.py`` (its folder is then ``sys.path[0]``).
Nothing here imports triton: the GPU scripts must set ``TRITON_INTERPRET`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from lengen_core.recipe_regime import model_changes as model_changes  # a transformer's size as config changes (the bench scripts')
from lengen_core.run_listing import sweep_tag

# --- the kernel benchmarks (bench_coupled_attention.py, bench_hsa.py) ---------------------------


def kernel_bench_parser(doc: str, sweep_length: int) -> argparse.ArgumentParser:
    """The options every kernel benchmark has: --smoke, --sweep and --sweep-length."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run through the Triton interpreter")
    parser.add_argument("--sweep", action="store_true", help="compare tile configs at --sweep-length")
    parser.add_argument("--sweep-length", type=int, default=sweep_length)
    return parser


def interpreter_for_smoke(smoke: bool) -> None:
    """With --smoke on a machine without CUDA, run the kernels in the Triton interpreter (before triton is imported)."""
    if smoke:
        import torch

        if not torch.cuda.is_available():
            os.environ.setdefault("TRITON_INTERPRET", "1")


def gpu_environment(date: str, without_cuda: str) -> dict[str, Any]:
    """The date, device and versions, recorded beside the numbers; SystemExit(``without_cuda``) on a machine without CUDA."""
    import torch
    import triton

    if not torch.cuda.is_available():
        raise SystemExit(without_cuda)
    return {
        "date": date,
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
    }


def sdpa_flash(q, k, v):
    """PyTorch's flash attention, causal: the baseline both kernels are timed against."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def fwd_bwd(fn, leaves, grad):
    """A callable running ``fn`` forward and its gradient for ``leaves`` given the output gradient ``grad``."""
    import torch

    def run():
        torch.autograd.grad(fn(), leaves, grad)

    return run


# --- the CPU benchmarks (bench_sweep.py, bench_trainer.py) and the checkpoint tools ---------------


def cpu_environment() -> dict[str, str]:
    """torch's version and the machine, recorded beside the numbers."""
    import torch

    return {"torch": torch.__version__, "machine": platform.platform()}


def report(result: dict[str, Any], json_path: str | None) -> None:
    """Print ``result`` as JSON and, if asked, write it to ``json_path`` too."""
    print(json.dumps(result, indent=2))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))


def cpu_bench_parser(doc: str) -> argparse.ArgumentParser:
    """The options of the CPU benchmarks of a small model: --task and --scheme."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="reverse")
    parser.add_argument("--scheme", default="coupled")
    return parser


def checkpoint_parser(doc: str, samples: int) -> argparse.ArgumentParser:
    """Options of the tools that study a trained checkpoint at one length: checkpoint, length, --samples, --seed."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("length", type=int)
    parser.add_argument("--samples", type=int, default=samples)
    parser.add_argument("--seed", type=int, default=5, help="example stream seed (not the training stream)")
    return parser


# --- the browser benchmarks (bench_first_paint.py, bench_runs_page.py) ----------------------------


def add_browser_bench_args(parser: argparse.ArgumentParser) -> None:
    """--repeats, --runs (finished runs bulk-loaded into the store) and --json."""
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--json", help="write the result here")


def time_page_load(context: Any, url: str, drawn: str, *, state: str, timeout_ms: int) -> tuple[float, float]:
    """(seconds to the page's title, seconds until ``drawn`` is in ``state``) for one navigation in ``context``."""
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url, timeout=timeout_ms)
    page.wait_for_selector("h1", state="visible", timeout=timeout_ms)
    title = time.perf_counter() - started
    page.wait_for_selector(drawn, state=state, timeout=timeout_ms)
    done = time.perf_counter() - started
    page.close()
    return title, done


# --- the results reports (k_sparse_report.py, recipes_report.py, adapt.py, the Huang et al. reports) ---


def done_runs_of_sweeps(store: Any, tag_prefix: str) -> Any:
    """The finished runs (``RunStore.list_runs`` rows, newest first) of the sweeps whose tag starts with
    ``tag_prefix`` (a sweep tags its runs ``sweep:TAG``)."""
    runs = store.list_runs(status="done")
    return runs[runs["tags"].map(lambda tags: any(str(tag).startswith(sweep_tag(tag_prefix)) for tag in tags))]


def median_cell(values: list[float]) -> str:
    """``0.67 (0.65-0.76)``: the median over seeds with min-max; ``-`` without values."""
    if not values:
        return "-"
    spread = f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else ""
    return f"{statistics.median(values):.2f}{spread}"


# --- the resumable sweeps (theory_lesson_calibrate.py, huang_long_ape.py) ----------------------------


def finished_runs_of_tag(store: Any, tag: str) -> dict[tuple[str, int], str]:
    """(config id, seed) -> run id of the finished runs of sweep ``tag`` (the newest of each): what a rerun keeps."""
    found: dict[tuple[str, int], str] = {}
    for _, row in store.list_runs(tag=sweep_tag(tag)).iterrows():  # newest first
        if row["status"] == "done":
            found.setdefault((row["config_id"], int(row["seed"])), row["run_id"])
    return found


def run_missing(store: Any, cells: list[tuple[Any, int]], tag: str, workers: int) -> None:
    """Train the (config, seed) cells that sweep ``tag`` has not finished yet, ``workers`` at a time, printing each
    run as it ends (the resumable part of a long sweep: stop it any time, start it again)."""
    from collections import Counter

    from lengen_core.costs import default_budget
    from lengen_core.sweeps import InlineRunner, LocalProcessRunner, queue_sweep

    found = finished_runs_of_tag(store, tag)
    todo = [(config, seed) for config, seed in cells if (config.config_id, seed) not in found]
    if not todo:
        return
    print(f"{tag}: training {len(todo)} runs", flush=True)
    started = time.perf_counter()
    jobs = queue_sweep(store, todo, tag=tag, budget=default_budget(workers))
    runner = InlineRunner() if workers == 1 else LocalProcessRunner(workers)
    statuses = runner.run(jobs, lambda run_id, status: print(f"  {run_id} {status} ({time.perf_counter() - started:.0f} s)", flush=True))
    print(f"{tag}: {Counter(statuses.values())} in {time.perf_counter() - started:.0f} s", flush=True)


def lowest_near(curve: Any, length: int) -> float | None:
    """The lowest exact match over the four lengths ending at ``length`` (every residue mod 4, as these sweeps test)."""
    rows = curve[(curve["length"] > length - 4) & (curve["length"] <= length)]
    return None if rows.empty else float(rows["exact_match"].min())


def sweep_parser(description: str, seeds: str = "0,1,2", workers: int = 2) -> argparse.ArgumentParser:
    """The arguments every sweep bench takes: the store (``db``), ``--seeds`` and ``--workers`` (runs at a time)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", help="the run store to train into (finished runs are kept: a rerun resumes)")
    parser.add_argument("--seeds", default=seeds, help=f"comma-separated seeds (default {seeds})")
    parser.add_argument("--workers", type=int, default=workers, help=f"runs at a time, one process each (default {workers})")
    return parser
