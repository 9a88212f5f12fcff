"""The public API as a notebook uses it: train two runs, read their breakdowns beside the theory, save a figure.

    python docs/notebook_example.py              # the runs README's "From Python" reports (about 4 minutes on 2 cores)
    python docs/notebook_example.py --steps 20 --samples 20 --db /tmp/x.duckdb --out /tmp/x   # a quick check (the test's)

Each cell below is what a notebook cell would hold: the Lessons page's first question ("A model learned to reverse
strings of up to 8 symbols. Why can't it reverse 16?") asked from Python. With coupled position ids each output
token has the id of the input token it copies (Cho et al. 2024), and the model reverses far past 8; with learned
absolute positions (no random offsets, so Huang et al.'s APE prediction does not apply) it learns 1-8 and stops.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lengen_core as lg
from lengen_core.lessons import LESSON_RUNS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=800, help="training steps of each run (default 800, the lesson's)")
    parser.add_argument("--samples", type=int, default=200, help="examples per tested length (default 200)")
    parser.add_argument("--db", default=None, help="the store (default: $LENGEN_DB, else the app's data/runs.duckdb)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="where the figures go (default docs/)")
    args = parser.parse_args(argv)
    store = lg.open_store(args.db)

    # cell 1: the tasks and what the theory predicts for each
    table = lg.tasks()
    print(table[table["task"].isin(["reverse", "parity", "majority"])][["task", "family", "NoPE", "APE", "coupling"]].to_string(index=False))

    # cell 2: the first lesson's question, its two runs (Lessons page, "Why can't it reverse 16?"): reverse strings of
    # 1-8 symbols, test up to 24, position coupling (Cho et al. 2024) against learned absolute positions, the same
    # model otherwise. Any config field is also a keyword (eval__samples_per_length here).
    runs = {}
    for scheme in ("coupled", "learned"):
        lesson_config = LESSON_RUNS[f"reverse_{scheme}"].config()
        run = lg.train(config=lesson_config, steps=args.steps, store=store, name="notebook example", eval__samples_per_length=args.samples)
        print(run)
        print(run.curve.to_string(index=False))  # n and the 95% Wilson interval at every length
        print("\n".join(run.theory.lines()))  # the prediction beside what the run did
        runs[scheme] = run

    # cell 3: the figures, and the runs read back from the store
    args.out.mkdir(parents=True, exist_ok=True)
    runs["coupled"].plot().write_html(args.out / "notebook_example_coupled.html", include_plotlyjs="cdn")
    runs["learned"].plot("altair").save(str(args.out / "notebook_example_learned.json"))
    again = store.get(runs["coupled"].run_id)
    print(f"read back: {again.run_id}, breakdown {again.breakdown}, {len(store.runs())} runs in {store.path}")
    print(f"figures: {args.out / 'notebook_example_coupled.html'}, {args.out / 'notebook_example_learned.json'}")


if __name__ == "__main__":
    main()
