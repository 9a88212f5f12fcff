"""Every figure the app and the public API draw: plain functions from data to plotly figures (nothing here calls
``st.*``; the pages place them, a notebook shows them).

- :mod:`lengen_core.charts.curves`: training curves, accuracy versus length with the
  training range, breakdown and threshold marked;
- :mod:`lengen_core.charts.grid`: the Compare grid (cells pooled over seeds, text contrast computed);
- :mod:`lengen_core.charts.inspection`: attention maps, HSA chunk selections,
  position-id rows and links, predicted position ids;
- :mod:`lengen_core.charts.colors`: one colour per position scheme.
"""
