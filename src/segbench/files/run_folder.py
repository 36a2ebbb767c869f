"""The layout of a ``segbench compare`` run folder (``docs/run-folder.md``): file names and CSV columns, once.

The runner that writes a run folder and the report that reads it both take every name from here, so a model's
prediction file is found under the name it was saved with.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

__all__ = [
    "DATASET_LEVEL_COLUMNS",
    "HISTORY_COLUMNS",
    "KINDS",
    "PER_IMAGE_COLUMNS",
    "RUN_LOG",
    "TERM_COLUMNS",
    "TRAINING_FILE",
    "TRIVIAL_FOLDER",
    "prediction_path",
    "read_cases",
    "run_path",
    "slug",
]

PER_IMAGE_COLUMNS = ("model", "kind", "seed", "image", "class", "metric", "value")
"""``results/per_image.csv`` and each run's ``scores.csv``."""
DATASET_LEVEL_COLUMNS = ("model", "kind", "seed", "class", "metric", "value")
"""``results/dataset_level.csv`` and each run's ``pooled.csv``."""
HISTORY_COLUMNS = ("model", "seed", "lr", "step", "train_loss", "val_loss", "val_dice", "val_iou", "val_accuracy",
                   "val_primary", "seconds", "stop")
"""``history.csv``: one row per (model, seed, evaluation); ``step`` counts optimizer steps, ``val_primary`` is the
metric the plateau rule watches, ``stop`` is empty but on a run's last row (``plateau`` or ``max_steps``)."""
TERM_COLUMNS = ("model", "seed", "step", "term", "weight", "value", "grad_norm")
"""``terms.csv``: one row per (model, seed, evaluation, loss term): the term's unweighted value and the L2 norm of
its gradient with respect to the logits, each the mean over the steps since the previous evaluation."""
TRAINING_FILE = "training.json"
"""``results/training.json``: how each final run trained (stop reason and step, learning rate, dead terms) and the
learning-rate search where ``[train] lr`` is a grid."""
KINDS = ("trained", "trivial")
RELIABILITY_FILE = "reliability.json"
"""In each training run's folder: the top-label reliability bins of its test probabilities (``count``, mean
``confidence`` and ``accuracy`` per bin, NaN for an empty bin; ``lower``/``upper`` edges), for the report's
reliability diagrams; under ``scaled`` the same bins after temperature scaling."""
TEMPERATURE_FILE = "temperature.json"
"""In each training run's folder: the temperature fitted on the validation split (``temperature``; the scaled
logits are ``z / T``) and the validation NLL before and after (``val_nll``, ``val_nll_scaled``)."""
PRIMARY_FILE = "primary.json"
"""At the run folder's top: the primary metric of the verdict (``metric``), why it was chosen (``reason``) and by
whom (``chosen_by``: ``"config"`` for ``[eval] primary``, ``"inspect advice on the training split"`` otherwise)."""
RUN_LOG = "run.log"
"""In each training run's folder, under ``--jobs N`` or ``--engine ray``: the worker's log of that run (start, host,
device, threads, its progress bar, warnings, a traceback on failure), appended to on every try."""
TRIVIAL_FOLDER = "trivial"
"""``runs/trivial/``: the trivial predictors' scores (no trained model may have this slug)."""


def slug(name: str) -> str:
    """``name`` made file-name safe: every run of characters outside ``[A-Za-z0-9.=-]`` becomes ``_``, and
    leading or trailing ``_`` are dropped (``"_"`` if nothing is left).

    Args:
        name: a model name (a canonical loss spec or a trivial predictor) or a dataset spec.

    >>> slug("0.5*bce+0.5*dice"), slug("tversky(alpha=0.3,beta=0.7)"), slug("pets:../data/pets")
    ('0.5_bce_0.5_dice', 'tversky_alpha=0.3_beta=0.7', 'pets_.._data_pets')
    """
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", name).strip("_") or "_"


def run_path(out: str | Path, model: str, seed: int) -> Path:
    """``out/runs/<slug>/seed<k>``: the folder of one training run.

    Args:
        out: the run folder.
        model: the trained model's name.
        seed: its training seed.

    >>> run_path("RUN", "0.5*bce+0.5*dice", 1).as_posix()
    'RUN/runs/0.5_bce_0.5_dice/seed1'
    """
    return Path(out) / "runs" / slug(model) / f"seed{seed}"


def prediction_path(out: str | Path, model: str, seed: int | None = None) -> Path:
    """``out/predictions/<slug>_seed<k>.npz`` of a trained model, or ``<name>.npz`` of a trivial one (``seed=None``).

    Args:
        out: the run folder.
        model: the model's name.
        seed: the training seed; ``None`` for a trivial predictor.

    >>> prediction_path("RUN", "tversky(alpha=0.5)", 0).as_posix(), prediction_path("RUN", "all-background").name
    ('RUN/predictions/tversky_alpha=0.5_seed0.npz', 'all-background.npz')
    """
    name = model if seed is None else f"{slug(model)}_seed{seed}"
    return Path(out) / "predictions" / f"{name}.npz"


def read_cases(path: str | Path, name: str) -> list[np.ndarray]:
    """The arrays ``name`` of a ``predictions/*.npz`` file, one per test case in ``ids`` order, whichever layout it
    has: ``name`` stacked ``(N, ...)`` (images) or one member ``name_<k>`` per case (volumes, which may differ in
    shape). Checked reads (:func:`segbench.files.safe_read.read_npz`).

    Args:
        path: a prediction file or ``test_data.npz``.
        name: ``pred``, ``images`` or ``targets``.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.npz"; np.savez(p, ids=np.array(["a", "b"]), pred_0=[1], pred_1=[2, 3])
    >>> [a.tolist() for a in read_cases(p, "pred")]
    [[1], [2, 3]]
    """
    from segbench.files import safe_read

    path = Path(path)
    names = set(safe_read.npz_names(path))
    if name in names:
        return list(safe_read.read_npz(path, name))
    n = len(safe_read.read_npz(path, "ids", kinds="U"))
    return [safe_read.read_npz(path, f"{name}_{k}") for k in range(n)]
