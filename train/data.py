"""Offline datasets: MNIST-1D (generated procedurally) and scikit-learn's bundled digits."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DATASETS = ("mnist1d", "digits")


@dataclass(frozen=True)
class Dataset:
    """Train/test split as float32 channels-last arrays.

    Attributes
    ----------
    name : str
    x_train, x_test : numpy.ndarray of float32
        ``(n, 40, 1)`` for MNIST-1D, ``(n, 8, 8, 1)`` for digits.
    y_train, y_test : numpy.ndarray of int64
    classes : int
    """
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int = 10


@lru_cache(maxsize=None)
def load(name: str) -> Dataset:
    """Load ``"mnist1d"`` (4,000 train / 1,000 test) or ``"digits"`` (1,437 / 360).

    MNIST-1D is generated with ``mnist1d.data.make_dataset(get_dataset_args())`` (the package's
    default arguments and seed); its download path is never used. The digits split is a fixed
    stratified 80/20 split (``random_state=0``); pixels are scaled to ``[0, 1]``. Both are
    standardized with the training set's mean and standard deviation (one scalar each).
    """
    if name == "mnist1d":
        import mnist1d.data as md
        state = np.random.get_state()          # make_dataset reseeds NumPy's global generator
        try:
            d = md.make_dataset(md.get_dataset_args())
        finally:
            np.random.set_state(state)
        xtr, ytr = d["x"], d["y"]
        xte, yte = d["x_test"], d["y_test"]
        xtr, xte = xtr[:, :, None], xte[:, :, None]
    elif name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        X, y = load_digits(return_X_y=True)
        X = X.reshape(-1, 8, 8, 1) / 16.0
        xtr, xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    else:
        raise ValueError(f"dataset {name!r} is unknown: allowed values are {', '.join(DATASETS)}.")
    mu, sd = float(np.mean(xtr)), float(np.std(xtr))
    f = lambda a: ((a - mu) / sd).astype(np.float32)
    return Dataset(name, f(xtr), np.asarray(ytr, dtype=np.int64), f(xte),
                   np.asarray(yte, dtype=np.int64))
