"""The seeds' recipes in their papers' regime (issue 22), each against the same model alone with the same main-task
examples (a recipe arm's batch is the baseline's times 1 + its partners: :mod:`lengen_core.recipes`).

    python bench/recipes_regime.py DB [--seeds 0,1,2] [--workers 2] [--groups hint,reversal,ppc,transfer] [--steps-hint 4000] ...

Groups and arms: :mod:`lengen_core.recipe_regime` (the lessons bundle seed 0 of some of them; same configs).
``--groups``: hint (tags ``regime-sortrep-*``), reversal, ppc, transfer (``regime-copy-*``, ``regime-capitalize-*``).

Finished runs of the same config and seed are kept, so the command resumes where it stopped.
"""

from __future__ import annotations

from lengen_core.recipe_regime import DEFAULT_STEPS, GROUPS, regime_arms
from lengen_core.store import RunStore

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import run_missing, sweep_parser
except ImportError:
    from common import run_missing, sweep_parser


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__)
    parser.add_argument("--groups", default=",".join(GROUPS))
    parser.add_argument("--arms", default="", help="only the arms whose tag contains one of these (comma-separated)")
    for name, default in DEFAULT_STEPS.items():
        parser.add_argument(f"--steps-{name}", type=int, default=default)
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    steps = {name: getattr(args, f"steps_{name}") for name in GROUPS}
    store = RunStore(args.db)
    wanted = [part for part in args.arms.split(",") if part]
    for group in args.groups.split(","):
        for arm in regime_arms(steps):
            if arm.group != group or (wanted and not any(part in arm.tag for part in wanted)):
                continue
            run_missing(store, [(arm.config(), seed) for seed in seeds], arm.tag, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
