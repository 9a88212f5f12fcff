"""Every choice the app offers works or is refused up front: a fixed sample of the grid, and every HSA cell.

The grid is task x position scheme x attention (dense, HSA with sliding-window attention,
HSA with the recurrent mixer), run by ``scripts/grid_check.py`` (its full table is
docs/grid_check.md). Here: 100 dense cells drawn once with a fixed seed, plus every HSA
cell. A cell must work end to end (training steps, greedy evaluation past the training
length, the Attention and Position IDs pages' data and figures) or be refused when its
config is made, with a ConfigError naming the field; a run-time failure is a bug.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import grid_check  # noqa: E402

from lengen_core.cpus import usable_cpus  # noqa: E402

DENSE_SAMPLE = 100
HSA_SAMPLE = 200  # of about a thousand HSA cells (both local mixers); `python scripts/grid_check.py` runs them all


def ci_cells() -> list[grid_check.Cell]:
    cells = grid_check.all_cells()
    dense = [cell for cell in cells if cell.attention == "dense"]
    hsa = [cell for cell in cells if cell.attention != "dense"]
    return random.Random(8).sample(dense, DENSE_SAMPLE) + random.Random(9).sample(hsa, HSA_SAMPLE)


def test_the_sample_holds_hsa_cells_of_every_task_and_scheme_and_a_hundred_dense_ones() -> None:
    cells = ci_cells()
    assert len(cells) == len(set(cells)) == DENSE_SAMPLE + HSA_SAMPLE
    assert {cell.attention for cell in cells} == set(grid_check.ATTENTION_VARIANTS)
    hsa = [cell for cell in cells if cell.attention != "dense"]
    assert {cell.scheme for cell in hsa} == set(grid_check.POSITION_SCHEMES)
    assert len({cell.task for cell in hsa}) >= 0.9 * len(grid_check.all_cells(schemes=["nope"], attentions=["dense"]))


def test_every_sampled_cell_works_or_is_refused_at_config_time() -> None:
    # one process per usable core: a pytest-xdist worker has one (tests/conftest.py), where worker processes would
    # share it after each importing torch again
    results = grid_check.run_grid(ci_cells(), workers=usable_cpus())
    failed = [f"{result.cell}: {result.detail}" for result in results if result.outcome == "failed"]
    assert not failed, "\n".join(failed)
    works = [result for result in results if result.outcome == "works"]
    refused = [result for result in results if result.outcome == "refused"]
    assert len(works) >= len(results) // 2  # most of the grid is usable
    for result in refused:
        field, _, why = result.detail.partition(": ")
        assert "." in field and why, result.detail  # names a config field and says why
    hsa_works = [result for result in works if result.cell.attention != "dense"]
    assert all("HSA selection layers" in result.detail for result in hsa_works)
