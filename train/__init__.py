"""lobit training side: a small NumPy CNN trainer whose low-bit arithmetic is the golden models.

The package imports only :mod:`golden` and NumPy (plus the dataset generators ``mnist1d`` and
scikit-learn's bundled ``load_digits``), never :mod:`hw` or :mod:`sim`, so the layer arrow
``golden <- train`` stays one-way. Entry points: :func:`train.trainer.train_run` and the CLI
``lobit train`` (:mod:`train.cli`).
"""
