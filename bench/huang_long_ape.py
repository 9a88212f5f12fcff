"""APE with offsets at Huang et al.'s lengths: the tasks where our short-range APE runs disagree with the prediction,
trained on lengths up to 50 (theirs: 0-50 for the algorithmic tasks, up to 100 for the formal languages) and tested to
3x, with NoPE beside each as the control (issue 26).

    python bench/huang_long_ape.py DB [--seeds 0,1,2] [--workers 2] [--tasks T1,T2] [--settings nope,ape] [--report-only]
                                      [--train-max 50] [--step-cap 8000] [--model 4l4h64d]

Per task, what Huang et al.'s code does and what we do (lacoco-lab/length_generalization):

- lengths: their algorithmic suite trains on 0-50 and tests 51-100 and 101-150 (``language_modeling_train.py``); we
  train on 1-50 (copy_unique: 1-40, since our 128 symbols cap its test at 120 = 3x; interleaved majority: 1-16 bits
  per stream, their total of 50 bits over 3 streams) and test four consecutive lengths (every residue mod 4) at 1x,
  2x and 3x, 100 examples each (theirs: 2,000 per bin). Their formal-language suite trains up to 100 and tests to
  200 (``configs/dataset/*.yaml``: upper_window 100, len_incr 50); on this CPU we use the algorithmic range for all.
- offsets: theirs draws each training example's offset uniformly so that the whole sequence lies inside the table
  of ``max_test_length + 4`` rows (``offset = randint(0, max_test_length - length)``, twice that span for the copy
  tasks) and uses offset 0 at test time. Ours: ``positions.train_offset_max`` = the table size (as far as the table allows:
  :func:`lengen_core.positions.rules.index_ids`) over a table that holds the longest test sequence, offset 0 at
  test time: the same rule.
- models: their per-task selection (``algorithmic/run_multiple_seeds.py``, ``task_arch``): majority 1l2h256d (APE),
  1l1h64d (NoPE); unique copy 2l1h64d (APE), 4l4h256d (NoPE; here 4l4h64d, a quarter of the cost: see MODELS); interleaved majority 2l4h256d at lr 1e-4 (APE), their
  12-layer model (NoPE; out of reach here: we use the APE model, which the control only needs to fit). Their formal
  languages are a grid of 1/2/4 layers x 1/2/4 heads at width 32 with the best reported; no per-language choice is
  published, so we take the architecture that generalized in our v3 grid (docs/results.md): (aa)* 4x2x32,
  (aaaa)* 1x2x32, (abab)* 1x4x32; Dyck-1 2x2x32 (our choice); the star languages' NoPE controls 2l2h64d (at width 32
  they did not learn their range: see MODELS). AdamW, weight decay 0.01, batch 64, no warmup but ours.
- stopping: theirs evaluates every 3,000 steps and stops at 100% in distribution (up to 30,000 steps); ours stops
  after two checks in a row at 100% (``train.learned_threshold = 1.0``), checked every 1,000 steps (``--check-every``;
  3,000 trains at least as long as theirs before stopping), up to ``--step-cap`` steps (a CPU budget).

Then it prints per task and setting: each seed's learned step, exact match near 1x / 2x / 3x (the lowest of the four
lengths), the verdict and the prediction. Runs are tagged ``sweep:huang-long``; finished runs are kept (resumes).
"""

from __future__ import annotations

import re
from typing import Any

from lengen_core.config import RunConfig
from lengen_core.store import RunStore
from lengen_core.theory import check_run

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import finished_runs_of_tag, lowest_near, model_changes, run_missing, sweep_parser
except ImportError:
    from common import finished_runs_of_tag, lowest_near, model_changes, run_missing, sweep_parser

TAG = "huang-long"
TASKS = ("aa_star", "aaaa_star", "abab_star", "dyck_1", "majority", "copy_unique", "interleaved_majority")
FORMAL = {"aa_star", "aaaa_star", "abab_star", "dyck_1"}
TRAIN_MAX = {"copy_unique": 40}  # 3x of it within the 128 symbols


_model = model_changes


MODELS: dict[tuple[str, str], dict[str, Any]] = {
    ("majority", "ape"): _model(1, 2, 256),
    ("majority", "nope"): _model(1, 1, 64),
    # their NoPE copy model is 4l4h256d; at 8,000 steps the cost model puts it at 100 minutes a run here, so the
    # control uses 4l4h64d, the model that fit NoPE copy_unique in our v4 split (docs/results.md)
    ("copy_unique", "ape"): _model(2, 1, 64),
    ("copy_unique", "nope"): _model(4, 4, 64),
    ("interleaved_majority", "ape"): _model(2, 4, 256, 1e-4),
    ("interleaved_majority", "nope"): _model(2, 4, 256, 1e-4),
    **{
        (task, "ape"): model
        for task, model in (("aa_star", _model(4, 2, 32)), ("aaaa_star", _model(1, 2, 32)), ("abab_star", _model(1, 4, 32)), ("dyck_1", _model(2, 2, 32)))
    },
    # the NoPE controls: at width 32 and one layer, (aaaa)* and (abab)* were not learned even in range (0.00 at 29-32
    # on 3 of 3 seeds), so they say nothing; the theory lesson's 2l2h64d learned every star language's range without positions
    **{(task, "nope"): _model(2, 2, 64) for task in ("aa_star", "aaaa_star", "abab_star")},
    ("dyck_1", "nope"): _model(2, 2, 32),
}


def train_max(task: str, longest: int = 50) -> int:
    """The task's longest training length at ``longest`` (50: Huang et al.'s): copy_unique keeps 3x inside its 128
    symbols, interleaved majority counts bits per stream (their lengths are bits over all three streams)."""
    if task == "interleaved_majority":
        return max(1, longest // 3)
    return min(longest, TRAIN_MAX.get(task, longest))


def test_lengths(task: str, longest: int = 50) -> list[int]:
    top = train_max(task, longest)
    return [length for factor in (1, 2, 3) for length in range(factor * top - 3, factor * top + 1) if length >= 1]


def parse_model(text: str) -> dict[str, Any]:
    """``4l4h64d`` (lr 1e-3) or ``2l4h256d@1e-4``: a model named the way the report names it."""
    match = re.fullmatch(r"(\d+)l(\d+)h(\d+)d(?:@([0-9.e-]+))?", text.strip())
    if match is None:
        raise SystemExit(f"--model: {text!r} is not LAYERSlHEADShWIDTHd[@LR], e.g. 4l4h64d or 2l4h256d@1e-4")
    layers, heads, width, lr = match.groups()
    return _model(int(layers), int(heads), int(width), float(lr) if lr else 1e-3)


def cell_config(task: str, setting: str, longest: int = 50, step_cap: int = 8000, check_every: int = 1000, model: dict[str, Any] | None = None) -> RunConfig:
    """One cell's run; ``model`` replaces MODELS' choice for the cell (``--model``)."""
    from lengen_core.tasks import build_task

    top = train_max(task, longest)
    table = build_task(task).max_sequence_length(3 * top) + 8  # the longest test sequence, with room
    changes: dict[str, Any] = {
        "task.name": task,
        "task.train_length_min": 1,
        "task.train_length_max": top,
        "positions.scheme": "learned" if setting == "ape" else "nope",
        "positions.max_position": table,
        "positions.train_offset_max": table if setting == "ape" else 0,  # as far as the table allows (the room rule)
        "train.batch_size": 64,
        "train.weight_decay": 0.01,
        "train.warmup_steps": 100,
        "train.steps": step_cap,
        "train.log_every": 100,
        "train.distractor_examples": 0,
        "train.device": "cpu",
        "train.stop_when_learned": True,
        "train.learned_check_every": check_every,
        "train.learned_threshold": 1.0,
        "eval.lengths": test_lengths(task, longest),
        "eval.samples_per_length": 100,
        "eval.batch_size": 128,
        "eval.seed": 0,
        "eval.search": False,  # the test lengths are Huang et al.'s bins: 1x, 2x, 3x
        **(model or MODELS[(task, setting)]),
    }
    if task in FORMAL:
        changes["task.supervision"] = "member_prefixes"
    return RunConfig().replace(**changes)


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--settings", default="ape,nope")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--train-max", type=int, default=50, help="the longest training length (Huang et al.: 50)")
    parser.add_argument("--step-cap", type=int, default=8000, help="steps at most (a run stops once learned)")
    parser.add_argument(
        "--check-every", type=int, default=1000, help="steps between learned checks (Huang et al. evaluate every 3,000 steps, so train at least that long)"
    )
    parser.add_argument("--model", default=None, help="replace MODELS' choice for every cell run, e.g. 4l4h64d or 2l4h256d@1e-4 (the report names it)")
    args = parser.parse_args(argv)
    model = parse_model(args.model) if args.model else None
    seeds = [int(seed) for seed in args.seeds.split(",")]
    cells = [(task, setting) for task in args.tasks.split(",") for setting in args.settings.split(",")]
    store = RunStore(args.db)
    if not args.report_only:
        run_missing(
            store,
            [(cell_config(task, setting, args.train_max, args.step_cap, args.check_every, model), seed) for task, setting in cells for seed in seeds],
            TAG,
            args.workers,
        )
    found = finished_runs_of_tag(store, TAG)
    print("\n| task | setting | model | train | seeds | learned at step | train s (max) | EM 1x | EM 2x | EM 3x | measured | predicted | agree |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for task, setting in cells:
        config = cell_config(task, setting, args.train_max, args.step_cap, args.check_every, model)
        rows = []
        for seed in seeds:
            run_id = found.get((config.config_id, seed))
            if run_id is None:
                continue
            record = store.get_run(run_id)
            curve = store.eval_curve([run_id], sweep="default")
            check = check_run(config, record.breakdown_length, int(curve["length"].max()))
            top = config.task.train_length_max
            rows.append((record, [lowest_near(curve, factor * top) for factor in (1, 2, 3)], check))
        if not rows:
            print(f"| {task} | {setting} | | | 0 | | | | | | | | |")
            continue
        model_text = f"{config.model.n_layers}l{config.model.n_heads}h{config.model.d_model}d lr {config.train.lr:g}"
        steps = ", ".join("-" if record.learned_step is None else f"{record.learned_step:,}" for record, _, _ in rows)
        seconds = max(record.train_seconds or 0.0 for record, _, _ in rows)
        ems = [", ".join("-" if values[i] is None else f"{values[i]:.2f}" for _, values, _ in rows) for i in range(3)]
        verdicts = ", ".join(check.outcome.verdict for _, _, check in rows)
        decided = [check.agrees for _, _, check in rows if check.agrees is not None]
        predicted = rows[0][2].applicable.prediction
        print(
            f"| {task} | {setting} | {model_text} | 1-{config.task.train_length_max} | {len(rows)} | {steps} | {seconds:.0f} | {ems[0]} | {ems[1]} | "
            f"{ems[2]} | {verdicts} | {'generalizes' if predicted and predicted.generalizes else 'fails'} | {sum(decided)}/{len(decided)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
