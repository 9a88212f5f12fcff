"""Every figure the pages draw: plain functions from data to plotly figures (nothing here calls ``st.*``).

- :mod:`pages.charts.curves`: training curves, accuracy versus length with the
  training range, breakdown and threshold marked;
- :mod:`pages.charts.grid`: the Compare grid (cells pooled over seeds, text contrast computed);
- :mod:`pages.charts.inspection`: attention maps, HSA chunk selections,
  position-id rows and links, predicted position ids.
"""
