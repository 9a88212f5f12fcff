"""The seeds' recipes in their papers' regime (issue 22), each against the same model alone with the same main-task
examples (a recipe arm's batch is the baseline's times 1 + its partners: :mod:`lengen_core.recipes`).

    python bench/recipes_regime.py DB [--seeds 0,1,2] [--workers 2] [--groups hint,reversal,ppc,transfer] [--steps-hint 4000] ...

Groups (tags ``regime-<group>-<arm>``, as ``bench/recipes_report.py --prefix regime-`` reads them):

- ``hint`` (``sortrep``): sort with repeated values (``sort_repeated``) trained on 1-20 without positions, tested to 5x
  (100): alone / + the dense successor hint (Awasthi & Gupta 2023) / + restrictions of 4x longer inputs that keep their
  positions (Awasthi, Gupta & Kumar 2025); and alone / + hint with ``model.length_scaling = log``, our labelled
  stand-in for their length-dependent tempered softmax (its definition could not be read);
- ``reversal``: reversal of distinct symbols (``copy_backward_unique``) trained on 1-10 with RoPE, tested to 4x (40):
  alone / + restrictions of 4x longer inputs at their long positions;
- ``ppc``: the right neighbour of a query that occurs once, the query coupled to its occurrence
  (``retrieve_right_unique``, ``query_coupled``): the answer's id is the query's + 1, a sparse rule only data shows;
  trained on 8-16, tested to 4x (64): predictive coupling / plain coupling / NoPE / learned APE with offsets;
- ``transfer``: Cai et al. 2025 at 4 layers x width 128 with RoPE (theirs: 6 x 384): string copy trained on 1-8, alone
  / + MQAR on 1-16 / + reverse on 1-16 (their control); capitalize-reverse on 1-8, alone / + capitalize and reverse of
  letters on 1-16; tested to 4x (32).

Finished runs of the same config and seed are kept, so the command resumes where it stopped.
"""

from __future__ import annotations

from typing import Any

from lengen_core.config import RunConfig
from lengen_core.recipes import RECIPES
from lengen_core.store import RunStore

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import model_changes, run_missing, sweep_parser
except ImportError:
    from common import model_changes, run_missing, sweep_parser

SMALL = {**model_changes(2, 4, 64), "train.distractor_examples": 0, "eval.samples_per_length": 100, "train.log_every": 100}
LARGE = {**SMALL, **model_changes(4, 4, 128)}


def arm(task: str, scheme: str, low: int, high: int, lengths: list[int], steps: int, recipe: str | None, **more: Any) -> RunConfig:
    config = RunConfig().replace(
        **{
            **more,
            "task.name": task,
            "positions.scheme": scheme,
            "task.train_length_min": low,
            "task.train_length_max": high,
            "eval.lengths": lengths,
            "train.steps": steps,
        }
    )
    return RECIPES[recipe].apply(config) if recipe else config


def groups(steps: dict[str, int]) -> dict[str, list[tuple[str, RunConfig]]]:
    """Each group's arms: (tag, config)."""
    sort_lengths = [10, 20, 30, 40, 60, 80, 100]
    hint = [
        (f"regime-sortrep-{name}", arm("sort_repeated", "nope", 1, 20, sort_lengths, steps["hint"], recipe, **SMALL))
        for name, recipe in (("none", None), ("successor_hint_dense", "successor_hint_dense"), ("restrictions_repeated", "restrictions_repeated"))
    ] + [
        (f"regime-sortrep-{name}+log", arm("sort_repeated", "nope", 1, 20, sort_lengths, steps["hint"], recipe, **SMALL, **{"model.length_scaling": "log"}))
        for name, recipe in (("none", None), ("successor_hint_dense", "successor_hint_dense"))
    ]
    reversal = [
        (
            f"regime-reversal-{name}",
            arm("copy_backward_unique", "rope", 1, 10, [5, 10, 15, 20, 30, 40], steps["reversal"], recipe, **SMALL, **{"positions.max_position": 256}),
        )
        for name, recipe in (("none", None), ("reverse_restrictions", "reverse_restrictions"))
    ]
    ppc_changes = {**SMALL, "task.options": {"query_coupled": True}, "positions.max_position": 160}
    ppc = [
        (
            "regime-ppc",
            arm(
                "retrieve_right_unique",
                scheme,
                8,
                16,
                [8, 16, 24, 32, 48, 64],
                steps["ppc"],
                None,
                **ppc_changes,
                **({"positions.train_offset_max": 160} if scheme == "learned" else {}),
            ),
        )
        for scheme in ("predictive_coupled", "coupled", "nope", "learned")
    ]
    transfer = [
        (f"regime-copy-{name}", arm("copy_forward_nonunique", "rope", 1, 8, [6, 8, 10, 12, 16, 20, 24, 32], steps["transfer"], recipe, **LARGE))
        for name, recipe in (("none", None), ("transfer_recall", "transfer_recall"), ("control_copy_reverse", "control_copy_reverse"))
    ] + [
        (f"regime-capitalize-{name}", arm("capitalize_reverse", "rope", 1, 8, [6, 8, 10, 12, 16, 20, 24, 32], steps["transfer"], recipe, **LARGE))
        for name, recipe in (("none", None), ("transfer_capitalize", "transfer_capitalize"))
    ]
    return {"hint": hint, "reversal": reversal, "ppc": ppc, "transfer": transfer}


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__)
    parser.add_argument("--groups", default="hint,reversal,ppc,transfer")
    parser.add_argument("--arms", default="", help="only the arms whose tag contains one of these (comma-separated)")
    for name, default in (("hint", 4000), ("reversal", 3000), ("ppc", 3000), ("transfer", 6000)):
        parser.add_argument(f"--steps-{name}", type=int, default=default)
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    steps = {name: getattr(args, f"steps_{name}") for name in ("hint", "reversal", "ppc", "transfer")}
    store = RunStore(args.db)
    wanted = [part for part in args.arms.split(",") if part]
    for group in args.groups.split(","):
        for tag, config in groups(steps)[group]:
            if wanted and not any(part in tag for part in wanted):
                continue
            run_missing(store, [(config, seed) for seed in seeds], tag, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
