"""The report scripts behind docs/results.md' theory sections run on a real store and print what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from lengen_core.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--steps",
    "6",
    "--workers",
    "1",
    "--set",
    "model.n_layers=1",
    "--set",
    "model.d_model=16",
    "--set",
    "model.d_ff=32",
    "--set",
    "model.n_heads=2",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.warmup_steps=1",
    "--set",
    "train.log_every=3",
    "--set",
    "eval.samples_per_length=4",
    "--set",
    "train.distractor_examples=0",
]


def sweep(db: Path, *args: str) -> None:
    assert cli_main(["--db", str(db), "sweep", *args, *TINY]) == 0


def report(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_huang_split_report_puts_predictions_beside_runs(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    sweep(
        db,
        "--tasks",
        "aa_star",
        "--schemes",
        "nope,learned",
        "--seeds",
        "0,1",
        "--tag",
        "huang-split-test",
        "--train-length",
        "1-8",
        "--set",
        "eval.lengths=5,6,7,8,13,14,15,16",
        "--set",
        "positions.max_position=32",
        "--scheme-set",
        "learned:positions.train_offset_max=32",
    )
    output = report("bench/huang_split_report.py", str(db))
    rows = re.findall(r"^\| aa_star \| (\S+) \| 2 \| .* \| (generalizes|fails) \| (\d)/(\d)( ≠)? \|$", output, flags=re.MULTILINE)
    assert sorted(setting for setting, *_ in rows) == ["learned+offsets", "nope"]
    assert dict((setting, predicted) for setting, predicted, *_ in rows) == {"nope": "fails", "learned+offsets": "generalizes"}
    assert re.search(r"^- nope: \d/\d decided runs agree", output, flags=re.MULTILINE)
    assert "| aa_star |" not in report("bench/huang_split_report.py", str(db), "--tasks", "tomita_1")
    # the same cells with every prefix's label, in a second store, beside the first split
    labelled = tmp_path / "labelled.duckdb"
    sweep(
        labelled,
        "--tasks",
        "aa_star",
        "--schemes",
        "nope",
        "--seeds",
        "0",
        "--tag",
        "huang-v2-test",
        "--train-length",
        "1-8",
        "--set",
        "eval.lengths=5,6,7,8,13,14,15,16",
        "--set",
        "positions.max_position=32",
        "--set",
        "task.supervision=every_prefix",
    )
    output = report("bench/huang_split_report.py", str(labelled), "--tag-prefix", "huang-v2-", "--baseline", str(db))
    both = re.findall(
        r"^\| aa_star \| (\S+) \| (generalizes|fails) \| (\d/2 learned, \d/\d agree) \| (\d/1 learned, \d/\d agree|-) \|$", output, flags=re.MULTILINE
    )
    assert sorted(setting for setting, *_ in both) == ["learned+offsets", "nope"], output
    assert dict((setting, after) for setting, _, _, after in both)["learned+offsets"] == "-"  # only NoPE in the second store
    # what the runs get wrong, by kind of example, from their checkpoints
    output = report("bench/recognition_errors.py", str(db), "--tag-prefix", "huang-split-", "--lengths", "7,8", "--samples", "10")
    rows = re.findall(r"^\| aa_star \| (\S+) \| (\d) \| (.*) \|$", output, flags=re.MULTILINE)
    assert sorted((setting, seed) for setting, seed, _ in rows) == [("learned+offsets", "0"), ("learned+offsets", "1"), ("nope", "0"), ("nope", "1")]
    for _, _, cells in rows:  # 20 examples in all: every one in one kind and in one residue class of its length
        counts = [int(n) for n in re.findall(r"n=(\d+)", cells)]
        assert sum(counts) == 40, cells


def test_k_sparse_and_ppc_reports(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    for k in (1, 2):
        sweep(
            db,
            "--tasks",
            "sparse_sum",
            "--schemes",
            "coupled",
            "--tag",
            f"k-sparse-sparse_sum-k{k}",
            "--train-length",
            "8-10",
            "--set",
            "task.name=sparse_sum",
            "--set",
            f"task.options.k={k}",
            "--set",
            "eval.lengths=8,10,20,40",
            "--set",
            "positions.max_position=64",
        )
    output = report("bench/k_sparse_report.py", str(db))
    assert re.search(r"^\| sparse_sum \| coupled \| 1 \| 1 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [01] of 1 \|$", output, flags=re.MULTILINE)
    assert re.search(r"^- sparse_sum / coupled: EM at 4x k=1: [\d.]+, k=2: [\d.]+: ", output, flags=re.MULTILINE)

    sweep(
        db,
        "--tasks",
        "sort",
        "--schemes",
        "predictive_coupled,nope",
        "--tag",
        "ppc-compare",
        "--train-length",
        "2-4",
        "--set",
        "eval.lengths=2,4,8,12",
        "--set",
        "positions.max_position=32",
    )
    output = report("bench/ppc_report.py", str(db), "--samples", "8")
    ppc = re.search(r"^\| sort \| predictive_coupled \| 0 \| 2-4 \| \S+ \| \S+ \| ([\d.]+) / ([\d.]+) / ([\d.]+) \|$", output, flags=re.MULTILINE)
    assert ppc and all(0.0 <= float(share) <= 1.0 for share in ppc.groups())
    assert re.search(r"^\| sort \| nope \| 0 \| 2-4 \| \S+ \| \S+ \| - \|$", output, flags=re.MULTILINE)


def test_huang_grid_report_lists_every_architecture_and_the_one_selection_keeps(tmp_path: Path) -> None:
    db = tmp_path / "grid.duckdb"
    for layers, heads in ((1, 1), (1, 2)):  # the grid's own model flags after TINY's, so they are the ones that hold
        assert cli_main(["--db", str(db), "sweep", *TINY,
            "--tasks", "aa_star", "--schemes", "learned", "--seeds", "0", "--tag", f"huang-grid-L{layers}-H{heads}-W16",
            "--train-length", "1-8", "--set", "eval.lengths=5,6,7,8,9,10,11,12,13,14,15,16", "--set", "positions.max_position=32",
            "--set", "task.supervision=member_prefixes", "--set", f"model.n_layers={layers}", "--set", f"model.n_heads={heads}",
            "--scheme-set", "learned:positions.train_offset_max=32",
        ]) == 0  # fmt: skip
    output = report("bench/first_wrong_prefix.py", str(db), "--tag-prefix", "huang-grid-", "--length", "12", "--samples", "5")
    rows = re.findall(r"^\| aa_star \| learned\+offsets \| 1x[12]x16 \| 0 \| 8 \| 1 \| (\S+|\d+ \(\d+-\d+\)) \| ([01])/1 \|$", output, flags=re.MULTILINE)
    assert len(rows) == 2 and all((first == "-") == (right == "1") for first, right in rows), output  # a^12: one string
    output = report("bench/huang_grid_report.py", str(db))
    rows = re.findall(r"^\| aa_star \| learned\+offsets \| (\dx\dx16) \| 1 \| .* \|$", output, flags=re.MULTILINE)
    assert rows == ["1x1x16", "1x2x16"], output
    selected = re.search(r"^\| aa_star \| learned\+offsets \| generalizes \| (\dx\dx16) \| .* \| (\d) of 2 \(2 architectures\) \|$", output, flags=re.MULTILINE)
    assert selected and selected.group(1) in rows, output
