"""Pick the theory lesson's model per task and setting: the smallest that learns lengths 1-10 on every seed.

    python bench/theory_lesson_calibrate.py DB [--seeds 0,1,2] [--workers 2] [--tasks T1,T2] [--settings nope,ape]
                                              [--models 2l2h64d,4l4h64d,...] [--report-only]

For each model of :data:`lengen_core.lessons.THEORY_MODELS`, smallest first, every (task, setting) cell that no smaller
model learned on all seeds is trained on all seeds with the lesson's own config
(:func:`lengen_core.lessons.theory_run_changes`: lengths 1-10, trained until learned up to the model's step cap, tested
at 5-10, 17-20 and 37-40). A cell is learned when every seed's run learned its training range (breakdown length at or
past 10: :func:`lengen_core.theory.measured_outcome`). Runs already in DB (same config and seed, finished) are kept,
so the command resumes. Then it prints, per cell, the model chosen, each seed's learned step, exact match in
distribution (the lowest over 7-10) and at 2x (the lowest over 17-20), the verdicts against the prediction, and the
lines to paste into ``THEORY_MODEL_OF`` / ``THEORY_SEED_OF``. The runs are tagged ``theory-cal-<model>``.
"""

from __future__ import annotations

from lengen_core.config import RunConfig
from lengen_core.lessons import BASE_CHANGES, THEORY_MODELS, THEORY_SETTINGS, THEORY_TASKS, theory_run_changes
from lengen_core.store import RunStore
from lengen_core.theory import check_run

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import finished_runs_of_tag, lowest_near, run_missing, sweep_parser
except ImportError:
    from common import finished_runs_of_tag, lowest_near, run_missing, sweep_parser

TAG = "theory-cal-"


def cell_config(task: str, setting: str, model: str) -> RunConfig:
    return RunConfig().replace(**{**BASE_CHANGES, **theory_run_changes(task, setting, model)})


def outcomes(store: RunStore, task: str, setting: str, model: str, seeds: list[int]) -> list[dict] | None:
    """Each seed's result of one cell on one model, or None when a seed has no finished run yet."""
    config = cell_config(task, setting, model)
    found = finished_runs_of_tag(store, TAG + model)
    results = []
    for seed in seeds:
        run_id = found.get((config.config_id, seed))
        if run_id is None:
            return None
        record = store.get_run(run_id)
        curve = store.eval_curve([run_id], sweep="default")
        check = check_run(config, record.breakdown_length, int(curve["length"].max()))
        results.append(
            {
                "seed": seed,
                "run_id": run_id,
                "learned_step": record.learned_step,
                "steps": record.steps_done,
                "seconds": record.train_seconds,
                "em_1x": lowest_near(curve, 10),
                "em_2x": lowest_near(curve, 20),
                "verdict": check.outcome.verdict,
                "agrees": check.agrees,
                "predicted": check.applicable.prediction,
            }
        )
    return results


def learned(results: list[dict] | None) -> bool:
    return results is not None and all(result["verdict"] != "did not learn" for result in results)


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__)
    parser.add_argument("--tasks", default=",".join(THEORY_TASKS))
    parser.add_argument("--settings", default=",".join(THEORY_SETTINGS))
    parser.add_argument("--models", default=",".join(THEORY_MODELS))
    parser.add_argument("--report-only", action="store_true", help="train nothing; report what DB holds")
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    models = args.models.split(",")
    cells = [(task, setting) for task in args.tasks.split(",") for setting in args.settings.split(",")]
    store = RunStore(args.db)
    chosen: dict[tuple[str, str], tuple[str, list[dict] | None]] = {}
    pending = list(cells)
    for model in models:
        if not pending:
            break
        if not args.report_only:
            cells_of_model = [(cell_config(task, setting, model), seed) for task, setting in pending for seed in seeds]
            run_missing(store, sorted(cells_of_model, key=lambda cell: -cell[0].model.n_layers), TAG + model, args.workers)
        for cell in list(pending):
            results = outcomes(store, *cell, model, seeds)
            if results is not None:
                chosen[cell] = (model, results)
            if learned(results):
                pending.remove(cell)
    print()
    print("| task | setting | model | seeds learned | learned at step (per seed) | train s (max) | EM 7-10 | EM 17-20 | measured | predicted | agree |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for cell in cells:
        if cell not in chosen:
            print(f"| {cell[0]} | {cell[1]} | - | not run | | | | | | | |")
            continue
        model, results = chosen[cell]
        assert results is not None
        count = sum(result["verdict"] != "did not learn" for result in results)
        steps = ", ".join("-" if r["learned_step"] is None else f"{r['learned_step']:,}" for r in results)
        seconds = max(r["seconds"] or 0.0 for r in results)
        em_1x = ", ".join("-" if r["em_1x"] is None else f"{r['em_1x']:.2f}" for r in results)
        em_2x = ", ".join("-" if r["em_2x"] is None else f"{r['em_2x']:.2f}" for r in results)
        verdicts = ", ".join(r["verdict"] for r in results)
        predicted = results[0]["predicted"]
        decided = [r["agrees"] for r in results if r["agrees"] is not None]
        agree = f"{sum(decided)}/{len(decided)}"
        print(
            f"| {cell[0]} | {cell[1]} | {model} | {count}/{len(results)} | {steps} | {seconds:.0f} | {em_1x} | {em_2x} | {verdicts} | "
            f"{'generalizes' if predicted and predicted.generalizes else 'fails'} | {agree} |"
        )
    print()
    print("THEORY_MODEL_OF = {")
    for cell in cells:
        if cell in chosen:
            print(f"    {cell!r}: {chosen[cell][0]!r},")
    print("}")
    print("THEORY_SEED_OF = {  # a seed whose verdict is the cell's most common one (the bundled run shows the result)")
    for cell in cells:
        if cell in chosen and chosen[cell][1]:
            results = chosen[cell][1]
            verdicts = [result["verdict"] for result in results]
            common = max(verdicts, key=lambda verdict: (verdicts.count(verdict), -verdicts.index(verdict)))
            seed = next(result["seed"] for result in results if result["verdict"] == common)
            if seed:
                print(f"    {cell!r}: {seed},  # {', '.join(verdicts)}")
    print("}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
