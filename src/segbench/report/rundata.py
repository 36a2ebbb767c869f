"""Read a ``segbench compare`` run folder (``docs/run-folder.md``) into arrays the report works on.

Only the files the report needs are read: ``config.toml``, ``dataset.json``, ``results/per_image.csv``,
``results/dataset_level.csv``, ``history.csv`` and (lazily, for the qualitative figure) ``predictions/*.npz``.
A missing or malformed file is a :class:`~segbench.errors.UsageError` that names it.

Per-image scores become one array per ``(metric, class)``: ``values[(metric, class)]`` of shape
``(M, S, N)`` (models x seeds x test images). Every ``(model, seed, image)`` cell must be present exactly
once; a hole or a duplicate is an error (a report on incomplete results would compare losses on different
images). ``NaN`` (undefined) and ``inf`` (a miss) are kept as they are.
"""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from segbench.errors import UsageError
from segbench.files import safe_read
from segbench.files.atomic import read_json
from segbench.files.run_folder import DATASET_LEVEL_COLUMNS, KINDS, PER_IMAGE_COLUMNS, prediction_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Predictions", "RunData", "load_predictions", "load_run"]

FloatArray = npt.NDArray[np.float64]
_HISTORY_REQUIRED = ("model", "seed", "train_loss", "val_loss", "val_dice", "val_iou", "val_accuracy")
"""What the report needs of ``history.csv`` (older folders count ``epoch``, newer ones ``step``: either indexes)."""
_HISTORY_TEXT = ("model", "seed", "epoch", "stop")


@dataclass(frozen=True)
class RunData:
    """The saved results of one compare run.

    Attributes:
        root: the run folder.
        config: ``config.toml`` as a dict of tables (empty if absent).
        dataset: ``dataset.json`` as a dict.
        models: model names, trained ones first (in the order they appear in ``per_image.csv``), then trivial.
        kinds: ``{model: "trained" | "trivial"}``.
        seeds, images: the seeds and test image ids (image order of the CSV).
        values: ``{(metric, class): (M, S, N) float64}`` per-image scores.
        pooled: ``{(metric, class): (M, S) float64}`` dataset-level scores (NaN where not written, e.g.
            distance metrics, which have no pooled form).
        history: ``{model: {column: (S, E) float64}}``: the E evaluations of each seed in order (NaN-padded to
            the longest run); ``step`` (optimizer steps; older folders: ``epoch``) is one of the columns.
        done: the ``done.json`` records found under ``runs/``.
    """

    root: Path
    config: dict[str, Any]
    dataset: dict[str, Any]
    models: tuple[str, ...]
    kinds: dict[str, str]
    seeds: tuple[int, ...]
    images: tuple[str, ...]
    values: dict[tuple[str, str], FloatArray]
    pooled: dict[tuple[str, str], FloatArray]
    history: dict[str, dict[str, FloatArray]] = field(default_factory=dict)
    done: tuple[dict[str, Any], ...] = ()

    @property
    def trained(self) -> tuple[str, ...]:
        """The trained models (losses), in order."""
        return tuple(m for m in self.models if self.kinds[m] == "trained")

    @property
    def trivial(self) -> tuple[str, ...]:
        """The trivial baselines, in order."""
        return tuple(m for m in self.models if self.kinds[m] == "trivial")

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names in first-seen order."""
        return tuple(dict.fromkeys(m for m, _ in self.values))

    @property
    def classes(self) -> tuple[str, ...]:
        """Scored class names (``"all"``, the pseudo-class of ``pixel_accuracy``, left out)."""
        return tuple(dict.fromkeys(c for _, c in self.values if c != "all"))

    @property
    def background(self) -> str | None:
        """The background class name from ``dataset.json`` (None if it does not say)."""
        bg = self.dataset.get("background_class")
        return str(bg) if bg is not None else None


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise UsageError(f"{path} not found: expected {what} (is this a `segbench compare` run folder?)")
    return path


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise UsageError(f"{path}: missing column(s) {missing}; expected at least {list(columns)}")
        return list(reader)


def _float(text: str, path: Path, line: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{path}, line {line}: value {text!r} is not a number (nan and inf are allowed)") from None


def _int(text: str, path: Path, line: int, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{path}, line {line}: {column} {text!r} is not an integer") from None


def _models_in_order(rows: list[dict[str, str]], path: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    kinds: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        model, kind = row["model"], row["kind"]
        if kind not in KINDS:
            raise UsageError(f"{path}, line {line}: kind {kind!r} must be one of {list(KINDS)}")
        if kinds.setdefault(model, kind) != kind:
            raise UsageError(f"{path}, line {line}: model {model!r} is both {kinds[model]} and {kind}")
    order = [m for m in kinds if kinds[m] == "trained"] + [m for m in kinds if kinds[m] == "trivial"]
    return tuple(order), kinds


def _per_image(path: Path) -> tuple[tuple[str, ...], dict[str, str], tuple[int, ...], tuple[str, ...], dict]:
    rows = _read_rows(path, PER_IMAGE_COLUMNS)
    if not rows:
        raise UsageError(f"{path} has no rows: the run has no test scores yet")
    models, kinds = _models_in_order(rows, path)
    seeds = tuple(sorted({_int(r["seed"], path, i, "seed") for i, r in enumerate(rows, start=2)}))
    images = tuple(dict.fromkeys(r["image"] for r in rows))
    mi = {m: i for i, m in enumerate(models)}
    si = {s: i for i, s in enumerate(seeds)}
    ii = {m: i for i, m in enumerate(images)}
    shape = (len(models), len(seeds), len(images))
    values: dict[tuple[str, str], FloatArray] = {}
    seen: dict[tuple[str, str], npt.NDArray[np.bool_]] = {}
    for line, r in enumerate(rows, start=2):
        key = (r["metric"], r["class"])
        if key not in values:
            values[key] = np.full(shape, np.nan)
            seen[key] = np.zeros(shape, dtype=bool)
        cell = (mi[r["model"]], si[int(r["seed"])], ii[r["image"]])
        if seen[key][cell]:
            raise UsageError(
                f"{path}, line {line}: duplicate score for model {r['model']!r}, seed {r['seed']}, "
                f"image {r['image']!r}, class {r['class']!r}, metric {r['metric']!r}"
            )
        seen[key][cell] = True
        values[key][cell] = _float(r["value"], path, line)
    for (metric, cls), mask in seen.items():
        if not mask.all():
            m, s, i = (int(v[0]) for v in np.nonzero(~mask))
            raise UsageError(
                f"{path}: incomplete results: no {metric!r} score of class {cls!r} for model {models[m]!r}, "
                f"seed {seeds[s]}, image {images[i]!r} ({int((~mask).sum())} missing in all); "
                "rerun `segbench compare` to finish the run"
            )
    return models, kinds, seeds, images, values


def _pooled(path: Path, models: tuple[str, ...], seeds: tuple[int, ...]) -> dict[tuple[str, str], FloatArray]:
    if not path.is_file():
        return {}
    rows = _read_rows(path, DATASET_LEVEL_COLUMNS)
    mi = {m: i for i, m in enumerate(models)}
    si = {s: i for i, s in enumerate(seeds)}
    out: dict[tuple[str, str], FloatArray] = {}
    for line, r in enumerate(rows, start=2):
        seed = _int(r["seed"], path, line, "seed")
        if r["model"] not in mi or seed not in si:
            raise UsageError(
                f"{path}, line {line}: model {r['model']!r} / seed {seed} does not appear in per_image.csv"
            )
        key = (r["metric"], r["class"])
        arr = out.setdefault(key, np.full((len(models), len(seeds)), np.nan))
        arr[mi[r["model"]], si[seed]] = _float(r["value"], path, line)
    return out


def _history(path: Path, seeds: tuple[int, ...]) -> dict[str, dict[str, FloatArray]]:
    if not path.is_file():
        return {}
    rows = _read_rows(path, _HISTORY_REQUIRED)
    index = "step" if rows and "step" in rows[0] else "epoch"
    numeric = [c for c in rows[0] if c not in _HISTORY_TEXT] if rows else []
    if index == "epoch":
        numeric.append("step")  # an older folder: one evaluation per epoch, the epoch is the x axis
    per: dict[str, dict[int, dict[int, dict[str, str]]]] = {}
    for line, r in enumerate(rows, start=2):
        seed = _int(r["seed"], path, line, "seed")
        at = _int(r.get(index, ""), path, line, index)
        per.setdefault(r["model"], {}).setdefault(seed, {})[at] = {**r, "step": r.get(index, "")}
    out: dict[str, dict[str, FloatArray]] = {}
    for model, by_seed in per.items():
        order = [s for s in seeds if s in by_seed] + sorted(set(by_seed) - set(seeds))
        n_evals = max(len(e) for e in by_seed.values())
        table: dict[str, FloatArray] = {}
        for col in numeric:
            arr = np.full((len(order), n_evals), np.nan)
            for k, s in enumerate(order):
                for j, at in enumerate(sorted(by_seed[s])):
                    text = by_seed[s][at].get(col, "")
                    arr[k, j] = float(text) if text not in ("", None) else math.nan
            table[col] = arr
        out[model] = table
    return out


def _done_records(root: Path) -> tuple[dict[str, Any], ...]:
    records = []
    for path in sorted((root / "runs").glob("**/done.json")):
        records.append(read_json(path))  # informative only (train time, device); the scores come from results/
    return tuple(records)


def load_run(run_dir: str | Path) -> RunData:
    """Read the run folder ``run_dir`` (see ``docs/run-folder.md``).

    Raises:
        UsageError: the folder or a required file is missing, a CSV lacks a column, a value is not a
            number, or a ``(model, seed, image)`` score is missing or duplicated.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise UsageError(f"run folder {root} does not exist (expected the --out folder of `segbench compare`)")
    per_image = _require(root / "results" / "per_image.csv", "the per-image test scores")
    dataset = read_json(_require(root / "dataset.json", "the dataset description"))
    config: dict[str, Any] = {}
    if (root / "config.toml").is_file():
        try:
            config = tomllib.loads((root / "config.toml").read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{root / 'config.toml'} is not valid TOML: {exc}") from None
    models, kinds, seeds, images, values = _per_image(per_image)
    return RunData(
        root=root,
        config=config,
        dataset=dataset,
        models=models,
        kinds=kinds,
        seeds=seeds,
        images=images,
        values=values,
        pooled=_pooled(root / "results" / "dataset_level.csv", models, seeds),
        history=_history(root / "history.csv", seeds),
        done=_done_records(root),
    )


@dataclass(frozen=True)
class Predictions:
    """Test images, targets, and the saved predictions of some trained models for one seed.

    Attributes:
        images: ``(N, C, H, W)`` uint8.
        targets: ``(N, H, W)`` integer label maps.
        ids: image ids.
        preds: ``{model: (N, H, W) uint8}`` for the models whose file was found.
        missing: models whose prediction file was not found (or does not match the test images).
        seed: the training seed of the predictions.
    """

    images: npt.NDArray[np.uint8]
    targets: npt.NDArray[np.int64]
    ids: tuple[str, ...]
    preds: dict[str, npt.NDArray[np.uint8]]
    missing: tuple[str, ...]
    seed: int


def load_predictions(run: RunData, models: tuple[str, ...], seed: int) -> Predictions | None:
    """The saved test predictions of ``models`` at ``seed``, aligned to ``test_data.npz``; None without it.
    Volumes are reduced to one axial slice each (:func:`_fullest_slices`), so the figures show 2D panels; volumes
    and native-size images saved one case per member (``images_<k>``, ``pred_<k>``: docs/run-folder.md) are read one
    case at a time and their (slices) zero-padded to the largest (Y, X) where the cases differ in size."""
    folder = run.root / "predictions"
    test = folder / "test_data.npz"
    if not test.is_file():
        return None
    ids = tuple(str(i) for i in safe_read.read_npz(test, "ids", kinds="U"))
    if "images" not in safe_read.npz_names(test):
        return _per_case_predictions(run, test, ids, models, seed)
    images = safe_read.read_npz(test, "images")  # checked reads: a broken or hostile file is one line
    targets = safe_read.read_npz(test, "targets").astype(np.int64)
    if images.ndim == 3:
        images = images[:, None]
    preds: dict[str, npt.NDArray[np.uint8]] = {}
    missing = []
    for model in models:
        path = prediction_path(run.root, model, seed)
        if not path.is_file():
            missing.append(model)
            continue
        pred = safe_read.read_npz(path, "pred")
        has_ids = "ids" in safe_read.npz_names(path)
        pid = tuple(str(i) for i in safe_read.read_npz(path, "ids", kinds="U")) if has_ids else ids
        if pid != ids or pred.shape != targets.shape:
            missing.append(model)
            continue
        preds[model] = pred
    if targets.ndim == 4:  # volumes (N, Z, Y, X): each case is shown by its slice of most reference foreground
        images, targets, preds = _fullest_slices(images, targets, preds)
    return Predictions(images, targets, ids, preds, tuple(missing), seed)


def _per_case_predictions(run: RunData, test: Path, ids: tuple[str, ...], models: tuple[str, ...], seed: int
                          ) -> Predictions:
    """:func:`load_predictions` for volumes saved one case per member: each case's fullest slice, padded."""
    files = {m: prediction_path(run.root, m, seed) for m in models}
    usable = []
    for model, path in files.items():
        names = set(safe_read.npz_names(path)) if path.is_file() else set()
        if "ids" in names and tuple(str(i) for i in safe_read.read_npz(path, "ids", kinds="U")) == ids and all(
                f"pred_{k}" in names for k in range(len(ids))):
            usable.append(model)
    slices: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []
    for k in range(len(ids)):
        target = safe_read.read_npz(test, f"targets_{k}").astype(np.int64)
        preds = {m: safe_read.read_npz(files[m], f"pred_{k}") for m in usable}
        if any(p.shape != target.shape for p in preds.values()):
            usable = [m for m in usable if preds[m].shape == target.shape]
            preds = {m: preds[m] for m in usable}
        image = safe_read.read_npz(test, f"images_{k}")
        if target.ndim == 2:  # native-size images, saved per case
            slices.append((image.reshape(-1, *target.shape), target, preds))
            continue
        image, t, p = _fullest_slices(image[None], target[None], {m: v[None] for m, v in preds.items()})
        slices.append((image[0], t[0], {m: v[0] for m, v in p.items()}))
    size = tuple(max(t.shape[a] for _, t, _ in slices) for a in (0, 1)) if slices else (0, 0)

    def pad(a: np.ndarray) -> np.ndarray:
        return np.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, size[0] - a.shape[-2]), (0, size[1] - a.shape[-1])])

    images = np.stack([pad(i) for i, _, _ in slices]) if slices else np.zeros((0, 1, 0, 0), np.uint8)
    targets = np.stack([pad(t) for _, t, _ in slices]) if slices else np.zeros((0, 0, 0), np.int64)
    kept = {m: np.stack([pad(p[m]) for _, _, p in slices]) for m in usable} if slices else {}
    missing = tuple(m for m in models if m not in kept)
    return Predictions(images, targets, ids, kept, missing, seed)


def _fullest_slices(images: np.ndarray, targets: np.ndarray, preds: dict[str, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The axial slice ``z`` of each volume with the most reference foreground (label > 0; the first such, the
    middle one where there is none): images ``(N, C, Y, X)``, targets and predictions ``(N, Y, X)``.

    >>> t = np.zeros((1, 3, 2, 2), np.int64); t[0, 2, 0, 0] = 1
    >>> im, tt, pp = _fullest_slices(np.zeros((1, 1, 3, 2, 2), np.uint8), t, {"m": t.astype(np.uint8)})
    >>> im.shape, tt.tolist(), pp["m"].shape
    ((1, 1, 2, 2), [[[1, 0], [0, 0]]], (1, 2, 2))
    """
    fg = (targets > 0).sum(axis=(2, 3))
    z = np.where(fg.max(axis=1) > 0, fg.argmax(axis=1), targets.shape[1] // 2)
    n = np.arange(targets.shape[0])
    return images[n, :, z], targets[n, z], {k: v[n, z] for k, v in preds.items()}
