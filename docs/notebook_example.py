"""The public API as a notebook uses it: train two runs, read their breakdowns beside the theory, save a figure.

    python docs/notebook_example.py              # the runs README's "From Python" reports (the app's default model)
    python docs/notebook_example.py --steps 20 --samples 20 --db /tmp/x.duckdb --out /tmp/x   # a quick check (the test's)

Each cell below is what a notebook cell would hold. Reverse with coupled position ids generalizes in
Cho et al. 2024 (the ids match each output token to the input token it copies); NoPE on the same task is a
control (Huang et al. 2025 predict it fails: no C-RASP program reverses a string).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lengen_core as lg


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None, help="training steps of each run (default: the config's, 650)")
    parser.add_argument("--samples", type=int, default=200, help="examples per tested length (default 200)")
    parser.add_argument("--db", default=None, help="the store (default: $LENGEN_DB, else the app's data/runs.duckdb)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="where the figures go (default docs/)")
    args = parser.parse_args(argv)
    store = lg.open_store(args.db)

    # cell 1: the tasks and what the theory predicts for each
    table = lg.tasks()
    print(table[table["task"].isin(["reverse", "parity", "majority"])][["task", "family", "NoPE", "APE", "coupling"]].to_string(index=False))

    # cell 2: train coupled reverse on lengths 1-10 (the app's default model), test to 4x; any config field is a keyword
    coupled = lg.train(
        task="reverse",
        scheme="coupled",
        steps=args.steps,
        store=store,
        name="notebook example",
        eval__samples_per_length=args.samples,
        **{"eval.lengths": [5, 10, 15, 20, 30, 40]},
    )
    print(coupled)
    print(coupled.curve.to_string(index=False))  # n and the 95% Wilson interval at every length
    print("\n".join(coupled.theory.lines()))

    # cell 3: the same run without positions (NoPE), the control
    nope = lg.train(
        task="reverse",
        scheme="nope",
        steps=args.steps,
        store=store,
        name="notebook example",
        eval__samples_per_length=args.samples,
        **{"eval.lengths": [5, 10, 15, 20, 30, 40]},
    )
    print(nope)
    print("\n".join(nope.theory.lines()))

    # cell 4: the figures, and the runs read back from the store
    args.out.mkdir(parents=True, exist_ok=True)
    coupled.plot().write_html(args.out / "notebook_example_coupled.html", include_plotlyjs="cdn")
    nope.plot("altair").save(str(args.out / "notebook_example_nope.json"))
    again = store.get(coupled.run_id)
    print(f"read back: {again.run_id}, breakdown {again.breakdown}, {len(store.runs())} runs in {store.path}")
    print(f"figures: {args.out / 'notebook_example_coupled.html'}, {args.out / 'notebook_example_nope.json'}")


if __name__ == "__main__":
    main()
