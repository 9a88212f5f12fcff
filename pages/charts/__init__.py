"""Every figure the pages draw: plain functions from data to plotly figures (nothing here calls ``st.*``).

- :mod:`pages.charts.curves`: training curves, accuracy versus length with the
  training range, breakdown and threshold marked, the compare grid;
- :mod:`pages.charts.inspection`: attention maps, HSA chunk selections,
  position-id rows and links, predicted position ids.

Pages import from ``pages.charts``; the two modules only keep each file short.
"""

from pages.charts.curves import (
    TRAIN_RANGE_COLOR,
    SweepCurve,
    breakdown_ratio_figure,
    cell_text,
    compare_grid_figure,
    grid_cells,
    length_sweep_figure,
    named_shapes,
    rgba,
    train_curve_figure,
)
from pages.charts.inspection import (
    attention_grid,
    attention_heatmap,
    coupling_links_figure,
    hsa_selection_figure,
    position_ids_figure,
    predicted_ids_figure,
)

__all__ = [
    "TRAIN_RANGE_COLOR", "SweepCurve", "attention_grid", "attention_heatmap", "breakdown_ratio_figure", "cell_text",
    "compare_grid_figure", "coupling_links_figure", "grid_cells", "hsa_selection_figure", "length_sweep_figure",
    "named_shapes", "position_ids_figure", "predicted_ids_figure", "rgba", "train_curve_figure",
]
