"""Pretrain on a task mixture, then adapt to a held-out task with few steps, against that task trained from
scratch with the same steps (the small analogue of Meta-RFFT's pretrain-then-adapt, issue 12).

    python bench/adapt.py DB --seeds 0,1,2 [--workers 2] [--adapt-steps 300]
    python bench/adapt.py DB --report

Pretraining: reverse (main), string copy and sort, each on lengths 1-10, RoPE, 2 layers of width 64,
2000 steps. Held out: ``duplicate`` (write the input twice) on lengths 1-10, tested to 4x. Adapting
starts from each pretrained run's checkpoint (``train.init_from``); scratch starts fresh; both train
``--adapt-steps`` steps with the same model, lengths and learning rate. The report gives, per arm, the
median (min-max) exact match at 1x, 2x and 4x over the seeds and the breakdown lengths. Markdown.
"""

from __future__ import annotations

from lengen_core.config import RunConfig
from lengen_core.params import parse_int_list
from lengen_core.run_listing import sweep_tag
from lengen_core.store import RunStore
from lengen_core.sweeps import InlineRunner, LocalProcessRunner, queue_sweep

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import median_cell as cell
    from bench.common import model_changes, sweep_parser
except ImportError:
    from common import median_cell as cell
    from common import model_changes, sweep_parser

MODEL = {**model_changes(2, 4, 64, lr=2e-3), "train.distractor_examples": 0, "positions.scheme": "rope", "eval.samples_per_length": 200}
PRETRAIN = RunConfig().replace(
    **MODEL,
    **{
        "task.name": "reverse",
        "task.train_length_max": 10,
        "train.steps": 2000,
        "task.mixture": [{"name": "copy_forward_nonunique", "train_length_max": 10}, {"name": "sort", "train_length_max": 10}],
        "eval.lengths": [5, 10, 20, 40],
    },
)
HELD_OUT = RunConfig().replace(**MODEL, **{"task.name": "duplicate", "task.train_length_max": 10, "eval.lengths": [5, 10, 15, 20, 30, 40]})


def run_all(store: RunStore, cells: list[tuple[RunConfig, int]], tag: str, workers: int) -> list[str]:
    jobs = queue_sweep(store, cells, tag=tag)
    (LocalProcessRunner(workers) if workers > 1 else InlineRunner()).run(jobs)
    return [job.run_id for job in jobs]


def experiment(store: RunStore, seeds: list[int], workers: int, adapt_steps: int) -> None:
    parents = run_all(store, [(PRETRAIN, seed) for seed in seeds], "adapt-pretrain", workers)
    adapted = [
        (HELD_OUT.replace(**{"train.steps": adapt_steps, "train.init_from": parent, "task.mixture": ()}), seed)
        for parent, seed in zip(parents, seeds)
        if store.get_run(parent).status == "done"
    ]
    scratch = [(HELD_OUT.replace(**{"train.steps": adapt_steps}), seed) for seed in seeds]
    run_all(store, adapted + scratch, "adapt-held-out", workers)


def report(store: RunStore) -> None:
    runs = store.list_runs(status="done")
    arms: dict[str, dict] = {}
    for row in runs.itertuples():
        if not any(str(tag) in (sweep_tag("adapt-pretrain"), sweep_tag("adapt-held-out")) for tag in row.tags):
            continue
        record = store.get_run(row.run_id)
        config = record.run_config
        arm = "pretrain (mixture)" if config.task.is_mixture else ("adapted" if config.train.init_from else "scratch")
        arm += f", {config.train.steps} steps"
        curve = store.eval_curve([row.run_id], sweep="default")
        slot = arms.setdefault(arm, {1: [], 2: [], 4: [], "breakdown": [], "task": config.task.name})
        for factor in (1, 2, 4):
            at = curve[curve["length"] == factor * config.task.train_length_max]
            if not at.empty:
                slot[factor].append(float(at["exact_match"].iloc[0]))
        slot["breakdown"].append(record.breakdown_length)
    print("| arm | task | seeds | EM at 1x | EM at 2x | EM at 4x | breakdown lengths |")
    print("|---|---|---|---|---|---|---|")
    for arm, slot in sorted(arms.items()):
        breakdowns = ", ".join("none" if value is None else str(value) for value in slot["breakdown"])
        print(f"| {arm} | {slot['task']} | {len(slot[1])} | {cell(slot[1])} | {cell(slot[2])} | {cell(slot[4])} | {breakdowns} |")


def main() -> None:
    parser = sweep_parser(__doc__.splitlines()[0], seeds="0")
    parser.add_argument("--adapt-steps", type=int, default=300)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    store = RunStore(args.db, read_only=args.report)
    if not args.report:
        experiment(store, parse_int_list(args.seeds, "--seeds"), args.workers, args.adapt_steps)
    report(store)


if __name__ == "__main__":
    main()
