"""Temperature scaling in compare: the fitted temperature, the scaled probabilities, and a tiny compare run's
``*_ts`` rows, ``temperature.json`` and pooled probability rows in ``results/dataset_level.csv`` (#19)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from segbench.cli import main
from segbench.compare.calibrate import fit_model_temperature, model_logits, scaled_metrics, scaled_probabilities
from segbench.compare.train import SplitData, TrainSettings, predict_with_probabilities
from segbench.files import atomic as io
from segbench.metrics import brier_score, expected_calibration_error
from segbench.metrics.temperature import fit_temperature
from segbench.models import build_model


def _settings(num_classes: int) -> TrainSettings:
    return TrainSettings(epochs=1, batch_size=3, lr=1e-3, weight_decay=0.0, augment=False, select="last",
                         device=torch.device("cpu"), num_classes=num_classes, background=0)


@pytest.mark.parametrize("num_classes", [2, 3])
def test_fitted_temperature_is_the_nll_optimum_and_changes_no_prediction(num_classes: int) -> None:
    torch.manual_seed(0)
    model = build_model("unet", in_channels=1, out_channels=1 if num_classes == 2 else num_classes, width=2, depth=2)
    with torch.no_grad():  # a sharp (over-confident) model: T > 1 is the optimum
        for p in model.parameters():
            p.mul_(4.0)
    images = torch.rand(5, 1, 16, 16)
    masks = torch.randint(0, num_classes, (5, 16, 16))
    settings = _settings(num_classes)
    fitted = fit_model_temperature(model, SplitData(images, masks), settings)
    z = model_logits(model, images, settings)
    assert fitted.temperature == pytest.approx(fit_temperature(z, masks), rel=1e-12)
    assert fitted.temperature != pytest.approx(1.0, abs=1e-3)
    assert fitted.val_nll_scaled < fitted.val_nll
    scaled = scaled_probabilities(model, images, fitted.temperature, settings)
    expected = torch.sigmoid(z / fitted.temperature) if num_classes == 2 else (z / fitted.temperature).softmax(1)
    torch.testing.assert_close(scaled, expected.float())
    labels, probs = predict_with_probabilities(model, images, settings)
    assert scaled.shape == probs.shape
    again = (scaled[:, 0] > 0.5).to(torch.uint8) if num_classes == 2 else scaled.argmax(1).to(torch.uint8)
    assert torch.equal(again, labels)


def test_scaled_metrics_adds_the_twins_once() -> None:
    assert scaled_metrics(["dice", "brier", "overconfidence", "brier_ts"]) == [
        "dice", "brier", "overconfidence", "brier_ts", "overconfidence_ts"]
    assert scaled_metrics(["dice", "ap"]) == ["dice", "ap"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, compare_toml: Callable[..., str]) -> Path:
    root = tmp_path_factory.mktemp("calib")
    cfg = root / "tiny.toml"
    cfg.write_text(compare_toml(specs=["ce", "dice"], epochs=2,
                                metrics=["pixel_accuracy", "dice", "ece", "brier", "nll", "overconfidence", "ap"]))
    out = root / "run"
    assert main(["compare", str(cfg), "--out", str(out), "-q", "--no-report"]) == 0
    return out


def test_compare_writes_temperature_and_scaled_scores(tiny_run: Path) -> None:
    for model in ("ce", "dice"):
        t = json.loads((tiny_run / "runs" / model / "seed0" / "temperature.json").read_text())
        assert t["temperature"] > 0 and t["val_nll_scaled"] <= t["val_nll"] + 1e-12
        rel = json.loads((tiny_run / "runs" / model / "seed0" / "reliability.json").read_text())
        assert sum(rel["scaled"]["count"]) == sum(rel["count"]) > 0
    rows = io.read_csv(tiny_run / "results" / "per_image.csv")
    value = {(r["model"], r["image"], r["metric"]): float(r["value"]) for r in rows}
    metrics = {r["metric"] for r in rows}
    assert {"ece_ts", "brier_ts", "nll_ts", "overconfidence_ts"} <= metrics
    images = {r["image"] for r in rows}
    for image in images:  # 0/1 probabilities: no temperature changes them
        for m in ("ece", "brier", "nll"):
            assert value[("all-background", image, f"{m}_ts")] == value[("all-background", image, m)]
    # the scaled NLL of a model whose temperature moved is not the raw one
    assert any(value[("ce", i, "nll_ts")] != value[("ce", i, "nll")] for i in images)


def test_dataset_level_holds_the_pooled_probability_metrics(tiny_run: Path) -> None:
    from segbench.data import load_dataset

    rows = io.read_csv(tiny_run / "results" / "dataset_level.csv")
    pooled = {(r["model"], r["class"], r["metric"]): float(r["value"]) for r in rows}
    for model in ("ce", "dice", "all-background", "all-foreground", "majority-class"):
        for m in ("ece", "brier", "nll", "overconfidence", "ece_ts", "brier_ts", "nll_ts", "overconfidence_ts"):
            assert (model, "all", m) in pooled, (model, m)
        assert (model, "foreground", "ap") in pooled
    cfg = json.loads((tiny_run / "dataset.json").read_text())
    test = load_dataset(cfg["spec"], "test", image_size=tuple(cfg["image_size"]),
                        options={"num_images": 12, "foreground_fraction": 0.2})
    masks = torch.stack([test[i][1] for i in range(len(test))])
    zeros = torch.zeros(masks.shape[0], 1, *masks.shape[1:])
    # all-background: p = 0 everywhere: pooled Brier = ECE = the foreground share of every test pixel
    share = float((masks == 1).double().mean())
    assert pooled[("all-background", "all", "brier")] == pytest.approx(float(brier_score(zeros, masks)), abs=1e-12)
    assert pooled[("all-background", "all", "brier")] == pytest.approx(share, abs=1e-12)
    assert pooled[("all-background", "all", "ece")] == pytest.approx(
        float(expected_calibration_error(zeros, masks, n_bins=15)), abs=1e-12)
    assert pooled[("all-background", "foreground", "ap")] == pytest.approx(share, abs=1e-12)
