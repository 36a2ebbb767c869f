"""The experiment of ``segbench compare``: a TOML file, validated key by key, with command-line overrides.

A config has five tables; every key is optional and has the default shown (the bundled default run: four
losses on the ``sample`` nuclei set, sized to finish in under 3 minutes on 2 CPU cores)::

    [dataset]
    spec = "sample"            # sample | synthetic | pets:PATH | folder:PATH | synthetic3d | volumes:PATH
    image_size = [64, 64]      # int, [H, W], or "native" (no resizing)
    options = {}               # loader options, e.g. { border = "ignore" } for pets

    [model]
    name = "unet"
    width = 8                  # channels of the first level; level k has width * 2**k
    depth = 3
    norm = "batch"

    [train]
    max_steps = 800            # the most optimizer steps a run may take
    eval_every = 25            # validate every this many steps (the checkpoint and plateau rules look here)
    patience = 100             # stop when the validation primary metric has not improved by more than
    min_delta = 0.01           #   min_delta for patience steps (a plateau); else at max_steps
    crop = [32, 32]            # random training crops [H, W] (int: square; "none": whole images)
    batch_size = 8
    lr = 0.003                 # AdamW; a list [3e-4, 1e-3, 3e-3]: the equal tuning protocol (below)
    weight_decay = 0.0001
    seeds = 3                  # a count (seeds 0..n-1) or a list [0, 7, 42]; 3+ lets the report count seed noise
    augment = true             # random flips
    device = "auto"            # auto | cpu | cuda
    num_threads = 1            # CPU threads (a small U-Net gains little from more)
    patch_size = [32, 32, 32]  # unset (default) for images; volumes need it: random patches [Z, Y, X] (a crop of
                               # three sizes is read as it), validation/test by Gaussian-weighted sliding windows
    foreground_share = 0.33    # share of each batch's patches centred on foreground (nnU-Net's 1/3)

    [losses]
    specs = ["ce", "dice", "jaccard", "0.5*bce + 0.5*dice"]   # the classic trio and the compound

    [eval]
    select = "best-val-dice"   # or "last"
    nsd_tolerance = 1.0
    metrics = [...]            # default: the metric catalogue's default set (fbeta, tversky: by name)
    primary = "dice"           # the metric the verdict is given on; default: inspect's advice (Dice)
    window_overlap = 0.5       # sliding-window overlap (with [train] patch_size)

    [compute]                  # how the runs are scheduled: not part of the experiment (not in config.toml)
    jobs = 1                   # runs trained at once (worker processes, or Ray tasks in flight)
    runs_per_gpu = 1           # runs sharing one GPU (CUDA)
    engine = "local"           # local | ray (the extra segbench[ray])
    address = ...              # ray only: "auto" or "HOST:PORT" of a running cluster; default: a local Ray

Training runs to a plateau, not to a stopwatch: every ``eval_every`` steps the model is scored on the validation
split; a run stops at the first evaluation whose step is ``patience`` or more steps after the last one that
improved the validation primary metric (:func:`monitored_metric`) by more than ``min_delta``, or at
``max_steps``. ``epochs = N`` (the fixed budget of older configs) still works: it is ``N`` passes over the
training images, validated after each, with no plateau rule and no crops unless ``crop`` is given; it cannot be
combined with ``max_steps``, ``eval_every`` or ``patience``.

A list ``lr`` gives every loss the same small search (:mod:`segbench.compare.runner`): each value is trained on
the first seed, the value with the best validation primary metric is kept (ties: the smallest value), then every
seed trains at that value. A scalar ``lr`` trains every run at it.

An unknown table or key is a :class:`~segbench.errors.UsageError` that names it and lists the valid ones;
so is a value of the wrong type. :func:`resolve` gives an :class:`ExperimentConfig` (frozen dataclasses, one per
table); :func:`to_toml` writes it back (every key explicit), the ``config.toml`` of a run folder.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from segbench.errors import UsageError
from segbench.models.unet import NORMS, Norm

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "DEFAULTS",
    "DEFAULT_LOSSES",
    "DEVICES",
    "NORMS",
    "SELECT_RULES",
    "ComputeConfig",
    "DatasetConfig",
    "Device",
    "EvalConfig",
    "ExperimentConfig",
    "LossesConfig",
    "ModelConfig",
    "Norm",
    "SelectRule",
    "TrainConfig",
    "apply_overrides",
    "load",
    "lr_grid",
    "monitored_metric",
    "resolve",
    "to_toml",
]

DEFAULT_LOSSES = ["ce", "dice", "jaccard", "0.5*bce + 0.5*dice"]
SelectRule = Literal["best-val-dice", "last"]
Device = Literal["auto", "cpu", "cuda"]
SELECT_RULES: tuple[str, ...] = get_args(SelectRule)
DEVICES: tuple[str, ...] = get_args(Device)

DEFAULTS: dict[str, dict[str, Any]] = {
    "dataset": {"spec": "sample", "image_size": [64, 64], "options": {}},
    "model": {"name": "unet", "width": 8, "depth": 3, "norm": "batch"},
    "train": {
        "max_steps": 800,
        "eval_every": 25,
        "patience": 100,
        "min_delta": 0.01,
        "crop": [32, 32],
        "epochs": None,
        "batch_size": 8,
        "lr": 3e-3,
        "weight_decay": 1e-4,
        "seeds": [0, 1, 2],
        "augment": True,
        "device": "auto",
        "num_threads": 1,
        "patch_size": None,
        "foreground_share": 0.33,
    },
    "losses": {"specs": list(DEFAULT_LOSSES)},
    "eval": {"select": "best-val-dice", "nsd_tolerance": 1.0, "metrics": None, "primary": None,
             "window_overlap": 0.5},
    "compute": {"jobs": 1, "runs_per_gpu": 1, "engine": "local", "address": None},
}
"""The bundled default run. ``metrics = None`` means the catalogue's default set; an ``image_size`` of ``None`` is
native."""

Config = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class DatasetConfig:
    """``[dataset]``: the spec, the image size ``(H, W)`` (``None``: native) and the loader's options."""

    spec: str
    image_size: tuple[int, int] | None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: the registered model name and its size."""

    name: str
    width: int
    depth: int
    norm: Norm


@dataclass(frozen=True)
class TrainConfig:
    """``[train]``: the step budget and plateau rule, crops, the learning rate (or grid), the seeds, the device
    and CPU threads. ``epochs`` is the legacy fixed budget (``None`` unless a config sets it)."""

    max_steps: int
    eval_every: int
    patience: int | None
    min_delta: float
    crop: tuple[int, int] | None
    epochs: int | None
    batch_size: int
    lr: float | tuple[float, ...]
    weight_decay: float
    seeds: tuple[int, ...]
    augment: bool
    device: Device
    num_threads: int
    patch_size: tuple[int, ...] | None = None
    foreground_share: float = 0.33


@dataclass(frozen=True)
class LossesConfig:
    """``[losses]``: the loss specs, one trained model each."""

    specs: tuple[str, ...]


@dataclass(frozen=True)
class EvalConfig:
    """``[eval]``: the checkpoint rule, NSD's tolerance, the metrics (``None``: the catalogue's default set), and
    the primary metric of the verdict (``None``: inspect's advice for the data, Dice of the foreground)."""

    select: SelectRule
    nsd_tolerance: float
    metrics: tuple[str, ...] | None
    primary: str | None = None
    window_overlap: float = 0.5


@dataclass(frozen=True)
class ComputeConfig:
    """``[compute]``: how the runs are scheduled (``docs/distributed.md``). Not part of what the experiment is: left
    out of equality, :meth:`ExperimentConfig.tables` and ``config.toml``, so a run folder resumes under any schedule."""

    jobs: int = 1
    runs_per_gpu: int = 1
    engine: str = "local"
    address: str | None = None


@dataclass(frozen=True)
class ExperimentConfig:
    """A resolved experiment: one frozen dataclass per TOML table, every key filled in (``compute``: the schedule,
    which does not count in equality)."""

    dataset: DatasetConfig
    model: ModelConfig
    train: TrainConfig
    losses: LossesConfig
    eval: EvalConfig
    compute: ComputeConfig = field(default=ComputeConfig(), compare=False)

    def tables(self) -> Config:
        """The config as TOML tables (lists for sequences), in the order :func:`to_toml` writes them.

        >>> resolve({"train": {"seeds": 2}}).tables()["train"]["seeds"]
        [0, 1]
        """

        def plain(value: Any) -> Any:
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            if isinstance(value, Mapping):
                return {k: plain(v) for k, v in value.items()}
            return value

        return {name: {k: plain(v) for k, v in asdict(table).items()} for name, table in self._items()}

    def _items(self) -> list[tuple[str, Any]]:
        return [("dataset", self.dataset), ("model", self.model), ("train", self.train), ("losses", self.losses),
                ("eval", self.eval)]


def _where(table: str, key: str) -> str:
    return f"[{table}] {key}"


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _float(value: Any, where: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{where} must be a finite number, got {value!r}")
    if (value <= 0) if positive else (value < 0):
        raise UsageError(f"{where} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def _str(value: Any, where: str, choices: Sequence[str] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where} must be a non-empty string, got {value!r}")
    if choices is not None and value not in choices:
        raise UsageError(f"{where} must be one of {list(choices)}, got {value!r}")
    return value


def _image_size(value: Any) -> list[int] | None:
    where = _where("dataset", "image_size")
    if value is None or value == "native":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if not isinstance(value, list) or len(value) != 2:
        raise UsageError(f"{where} must be an integer, [H, W] or \"native\", got {value!r}")
    return [_int(v, where, 1) for v in value]


def _patch_size(value: Any) -> list[int] | None:
    """``[train] patch_size``: unset (whole images) or one size per spatial axis (2 or 3 positive ints)."""
    where = _where("train", "patch_size")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise UsageError(f"{where} must be a list of 2 (2D) or 3 (volumes: [Z, Y, X]) integers, got {value!r}")
    return [_int(v, where, 1) for v in value]


def _share(value: Any, where: str, *, upper: float | None) -> float:
    """A fraction in ``[0, upper]`` (``upper=None``: ``[0, 1)``)."""
    share = _float(value, where, positive=False)
    if share > 1.0 if upper is not None else share >= 1.0:
        raise UsageError(f"{where} must lie in [0, {'1]' if upper is not None else '1)'}, got {value!r}")
    return share


def _seeds(value: Any) -> list[int]:
    where = _where("train", "seeds")
    if isinstance(value, int) and not isinstance(value, bool):
        return list(range(_int(value, where, 1)))
    if not isinstance(value, list) or not value:
        raise UsageError(f"{where} must be a count >= 1 or a non-empty list of integers, got {value!r}")
    seeds = [_int(v, where, 0) for v in value]
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"{where} lists a seed twice: {seeds}")
    return seeds


def _lr(value: Any) -> float | list[float]:
    where = _where("train", "lr")
    if not isinstance(value, list):
        return _float(value, where, positive=True)
    if not value:
        raise UsageError(f"{where} must be a number or a non-empty list of numbers, got []")
    grid = [_float(v, where, positive=True) for v in value]
    if len(set(grid)) != len(grid):
        raise UsageError(f"{where} lists a value twice: {grid}")
    return grid


def _crop(value: Any) -> list[int] | None:
    where = _where("train", "crop")
    if value is None or value == "none":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if not isinstance(value, list) or len(value) != 2:
        raise UsageError(f"{where} must be an integer, [H, W] or \"none\", got {value!r}")
    return [_int(v, where, 1) for v in value]


def _crop_alias(given: Mapping[str, Any], t: dict[str, Any]) -> None:
    """``crop = [Z, Y, X]`` (three sizes: volumes) is an alias of ``patch_size``: it is moved there and ``crop``
    keeps its default, so both spellings resolve to the same experiment (the same ``config.toml``, so a run folder
    resumes under either). In 2D the two stay apart: ``crop`` draws uniform crops and predicts whole images,
    ``patch_size`` oversamples foreground and predicts by sliding windows."""
    crop = t["crop"]
    if not (isinstance(crop, list) and len(crop) == 3):
        return
    if "patch_size" in given and given["patch_size"] is not None and given["patch_size"] != crop:
        raise UsageError(f"[train] crop {crop} (three sizes: the patch size of volumes) contradicts patch_size "
                         f"{given['patch_size']}; set one of them")
    t["patch_size"], t["crop"] = crop, DEFAULTS["train"]["crop"]


def _legacy_epochs(given: Mapping[str, Any], t: dict[str, Any]) -> None:
    """``epochs = N`` (older configs): N passes, validated after each, no plateau rule (see the module doc)."""
    if t["epochs"] is None:
        return
    t["epochs"] = _int(t["epochs"], _where("train", "epochs"), 1)
    clash = sorted(k for k in ("max_steps", "eval_every", "patience") if k in given)
    if clash:
        raise UsageError(f"[train] epochs (the fixed budget of older configs) cannot be combined with {clash}: "
                         "max_steps, eval_every and patience replace it; remove epochs")
    if "crop" not in given:
        t["crop"] = None


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise UsageError(f"{where} must be a non-empty list of strings, got {value!r}")
    return [_str(v, where) for v in value]


def _check_table(config: Mapping[str, Any]) -> None:
    for table, content in config.items():
        if table not in DEFAULTS:
            raise UsageError(f"unknown table [{table}]; expected tables: {sorted(DEFAULTS)}")
        if not isinstance(content, Mapping):
            raise UsageError(f"[{table}] must be a table of keys, got {content!r}")
        for key in content:
            if key not in DEFAULTS[table]:
                raise UsageError(
                    f"unknown key {key!r} in [{table}]; valid keys: {', '.join(sorted(DEFAULTS[table]))}"
                )


def _compute(c: Mapping[str, Any]) -> ComputeConfig:
    from segbench.schedule import ENGINES, check_engine

    address = None if c["address"] is None else _str(c["address"], _where("compute", "address"))
    engine = _str(c["engine"], _where("compute", "engine"), ENGINES)
    check_engine(engine, address)
    return ComputeConfig(_int(c["jobs"], _where("compute", "jobs"), 1),
                         _int(c["runs_per_gpu"], _where("compute", "runs_per_gpu"), 1), engine, address)


def resolve(config: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """``config`` (tables of keys, possibly partial) merged over :data:`DEFAULTS`, validated and normalised.

    ``seeds`` becomes a tuple, ``image_size`` ``(H, W)`` (or ``None``), numbers their proper type.

    Args:
        config: raw TOML tables (from :func:`load`, with :func:`apply_overrides`), or ``None`` for the defaults.

    >>> cfg = resolve({"train": {"seeds": 3, "max_steps": 200}, "dataset": {"image_size": 32}})
    >>> cfg.train.seeds, cfg.train.max_steps, cfg.dataset.image_size
    ((0, 1, 2), 200, (32, 32))
    >>> resolve({"train": {"epoch": 2}})
    Traceback (most recent call last):
    ...
    segbench.errors.UsageError: unknown key 'epoch' in [train]; valid keys: augment, batch_size, crop, device, \
epochs, eval_every, foreground_share, lr, max_steps, min_delta, num_threads, patch_size, patience, seeds, \
weight_decay
    """
    config = config or {}
    _check_table(config)
    merged = copy.deepcopy(DEFAULTS)
    for table, content in config.items():
        merged[table].update(copy.deepcopy(dict(content)))
    d, m, t, lo, e = (merged[k] for k in ("dataset", "model", "train", "losses", "eval"))
    d["spec"] = _str(d["spec"], _where("dataset", "spec"))
    d["image_size"] = _image_size(d["image_size"])
    if not isinstance(d["options"], Mapping):
        raise UsageError(f"[dataset] options must be a table, got {d['options']!r}")
    d["options"] = dict(d["options"])
    m["name"] = _str(m["name"], _where("model", "name"))
    m["width"] = _int(m["width"], _where("model", "width"), 1)
    m["depth"] = _int(m["depth"], _where("model", "depth"), 1)
    m["norm"] = _str(m["norm"], _where("model", "norm"), NORMS)
    t["max_steps"] = _int(t["max_steps"], _where("train", "max_steps"), 1)
    t["eval_every"] = _int(t["eval_every"], _where("train", "eval_every"), 1)
    if t["patience"] is not None and t["patience"] != "none":
        t["patience"] = _int(t["patience"], _where("train", "patience"), 1)
    else:
        t["patience"] = None
    t["min_delta"] = _float(t["min_delta"], _where("train", "min_delta"), positive=False)
    _crop_alias(config.get("train", {}), t)
    t["crop"] = _crop(t["crop"])
    _legacy_epochs(config.get("train", {}), t)
    t["batch_size"] = _int(t["batch_size"], _where("train", "batch_size"), 1)
    t["lr"] = _lr(t["lr"])
    t["weight_decay"] = _float(t["weight_decay"], _where("train", "weight_decay"), positive=False)
    t["seeds"] = _seeds(t["seeds"])
    if not isinstance(t["augment"], bool):
        raise UsageError(f"[train] augment must be true or false, got {t['augment']!r}")
    t["device"] = _str(t["device"], _where("train", "device"), DEVICES)
    t["num_threads"] = _int(t["num_threads"], _where("train", "num_threads"), 1)
    t["patch_size"] = _patch_size(t["patch_size"])
    t["foreground_share"] = _share(t["foreground_share"], _where("train", "foreground_share"), upper=1.0)
    lo["specs"] = _str_list(lo["specs"], _where("losses", "specs"))
    e["select"] = _str(e["select"], _where("eval", "select"), SELECT_RULES)
    e["nsd_tolerance"] = _float(e["nsd_tolerance"], _where("eval", "nsd_tolerance"), positive=True)
    e["window_overlap"] = _share(e["window_overlap"], _where("eval", "window_overlap"), upper=None)
    if e["metrics"] is not None:
        e["metrics"] = _str_list(e["metrics"], _where("eval", "metrics"))
    if e["primary"] is not None:
        from segbench.metrics import catalogue

        e["primary"] = _str(e["primary"], _where("eval", "primary"), tuple(catalogue.names()))
    size = d["image_size"]
    return ExperimentConfig(
        DatasetConfig(d["spec"], None if size is None else (size[0], size[1]), d["options"]),
        ModelConfig(**m),
        TrainConfig(**{**t, "seeds": tuple(t["seeds"]), "crop": None if t["crop"] is None else tuple(t["crop"]),
                       "lr": tuple(t["lr"]) if isinstance(t["lr"], list) else t["lr"],
                       "patch_size": None if t["patch_size"] is None else tuple(t["patch_size"])}),
        LossesConfig(tuple(lo["specs"])),
        EvalConfig(e["select"], e["nsd_tolerance"], None if e["metrics"] is None else tuple(e["metrics"]),
                   e["primary"], e["window_overlap"]),
        _compute(merged["compute"]),
    )


def monitored_metric(config: ExperimentConfig) -> str:
    """The catalogue metric the plateau rule and the learning-rate choice watch on the validation split: the
    verdict's primary metric ``[eval] primary`` (``None``: Dice, inspect's default advice). Everything that needs
    it reads it here.

    >>> monitored_metric(resolve()), monitored_metric(resolve({"eval": {"primary": "mcc"}}))
    ('dice', 'mcc')
    """
    return config.eval.primary or "dice"


def lr_grid(config: ExperimentConfig) -> tuple[float, ...] | None:
    """The learning-rate grid of the equal tuning protocol, or ``None`` for a scalar ``lr``.

    >>> lr_grid(resolve({"train": {"lr": [3e-3, 3e-4]}})), lr_grid(resolve())
    ((0.003, 0.0003), None)
    """
    lr = config.train.lr
    return lr if isinstance(lr, tuple) else None


def load(path: str | Path) -> dict[str, Any]:
    """The raw tables of the TOML file ``path`` (not yet merged or validated: see :func:`resolve`)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise UsageError(f"config file {str(path)!r} does not exist") from exc
    except OSError as exc:
        raise UsageError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {str(path)!r} is not valid TOML: {exc}") from exc


def apply_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of the raw tables ``raw`` with ``overrides[table][key]`` set wherever the value is not ``None``.

    >>> apply_overrides({"train": {"max_steps": 5}}, {"train": {"max_steps": 2, "seeds": None}})
    {'train': {'max_steps': 2}}
    """
    out: dict[str, Any] = copy.deepcopy(dict(raw))
    for table, content in overrides.items():
        for key, value in content.items():
            if value is not None:
                out.setdefault(table, {})[key] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) as TOML")


def to_toml(config: ExperimentConfig, header: str = "") -> str:
    """The resolved ``config`` as TOML text (``None`` values are left out, a native image size is ``"native"``).

    Args:
        config: the resolved experiment.
        header: comment lines written first.

    >>> text = to_toml(resolve({"losses": {"specs": ["dice"]}}))
    >>> resolve(tomllib.loads(text)) == resolve({"losses": {"specs": ["dice"]}})
    True
    """
    lines = [f"# {line}" for line in header.splitlines()]
    for table, content in config.tables().items():
        lines.append(f"\n[{table}]" if lines else f"[{table}]")
        legacy = table == "train" and content.get("epochs") is not None  # epochs replaces the step budget
        for key, value in content.items():
            if table == "dataset" and key == "image_size" and value is None:
                value = "native"
            if table == "train" and key in ("crop", "patience") and value is None:
                value = "none"
            if legacy and key in ("max_steps", "eval_every", "patience"):
                continue
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
