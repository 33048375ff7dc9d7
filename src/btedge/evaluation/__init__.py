"""Walk-forward evaluation of the ML strategies and of the design's claims (``btedge-evaluate``).

- :mod:`~btedge.evaluation.datasets`: the real data sets from ``../shared/data``
- :mod:`~btedge.evaluation.signals`: the library's ML indicators run as they are, recording
  member probabilities (and the label-shuffled control, the static-lag LagNet forecast)
- :mod:`~btedge.evaluation.scoring`: out-of-sample scores with block-bootstrap intervals
- :mod:`~btedge.evaluation.trading`: next-open trading after costs
- :mod:`~btedge.evaluation.runner`: one data set: seeds, variants, controls, DSR and PBO
- :mod:`~btedge.evaluation.claims`, :mod:`~btedge.evaluation.volatility`: the claims
- :mod:`~btedge.evaluation.report`, :mod:`~btedge.evaluation.cli`: markdown and the console script
"""
