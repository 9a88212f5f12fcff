"""How many steps each task x scheme of Compare's default sweep needs to learn its training range (issue 28).

    python bench/compare_calibrate.py DB [--tasks reverse,addition] [--schemes learned,rope,coupled] [--seeds 0,1]
                                         [--step-cap 6000] [--workers 2]

Every cell trains Compare's launcher config (lengths 1-10, 2 layers x width 64, batch 64, 100 samples per length)
until its training range is learned (``train.stop_when_learned``, the launcher's default) or ``--step-cap`` steps,
on each seed. Then per cell: the step each seed learned at (or "not learned" and its in-distribution exact match),
the steps a default would need (the largest, rounded up to 250), and each run's seconds to result. It prints the
rows of :data:`lengen_core.compare_defaults.CALIBRATION`. Runs are tagged ``compare-cal``; finished ones are kept.
"""

from __future__ import annotations

import math

from lengen_core.compare_defaults import CellCalibration, launcher_config
from lengen_core.store import RunStore

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import finished_runs_of_tag, run_missing, sweep_parser
except ImportError:
    from common import finished_runs_of_tag, run_missing, sweep_parser

TAG = "compare-cal"


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__, seeds="0,1")
    parser.add_argument("--tasks", default="reverse,addition")
    parser.add_argument("--schemes", default="learned,rope,coupled")
    parser.add_argument("--step-cap", type=int, default=6000)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    cells = [(task, scheme) for task in args.tasks.split(",") for scheme in args.schemes.split(",")]
    configs = {cell: launcher_config(cell[0], cell[1], steps=args.step_cap, until_learned=True) for cell in cells}
    store = RunStore(args.db)
    if not args.report_only:
        run_missing(store, [(configs[cell], seed) for cell in cells for seed in seeds], TAG, args.workers)
    found = finished_runs_of_tag(store, TAG)
    print("| task | scheme | learned at step (per seed) | in distribution (per seed) | steps needed | seconds (per seed) | breakdown (per seed) |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for cell in cells:
        records = [store.get_run(found[(configs[cell].config_id, seed)]) for seed in seeds if (configs[cell].config_id, seed) in found]
        if not records:
            continue
        listed = store.list_runs(run_ids=[record.run_id for record in records]).set_index("run_id")["in_distribution"]
        calibration = CellCalibration(
            learned_steps=tuple(record.learned_step for record in records),
            in_distribution=tuple(math.nan if listed[record.run_id] is None else float(listed[record.run_id]) for record in records),
            seconds=tuple((record.finished_at - record.started_at).total_seconds() for record in records),
            step_cap=args.step_cap,
        )
        needed = calibration.steps_needed
        print(
            f"| {cell[0]} | {cell[1]} | {', '.join('not learned' if step is None else f'{step:,}' for step in calibration.learned_steps)} | "
            f"{', '.join(f'{value:.2f}' for value in calibration.in_distribution)} | {'-' if needed is None else f'{needed:,}'} | "
            f"{', '.join(f'{value:.0f}' for value in calibration.seconds)} | {', '.join(str(record.breakdown_length) for record in records)} |"
        )
        rows.append((cell, calibration))
    print("\nCALIBRATION = {")
    for (task, scheme), calibration in rows:
        print(
            f"    ({task!r}, {scheme!r}): CellCalibration(learned_steps={calibration.learned_steps!r}, "
            f"in_distribution={tuple(round(value, 2) for value in calibration.in_distribution)!r}, "
            f"seconds={tuple(round(value) for value in calibration.seconds)!r}, step_cap={args.step_cap}),"
        )
    print("}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
