"""evaluate and inspect on the real datasets in ../shared/data (skipped where absent).

DSB 2018 nuclei are given as one PNG per nucleus; the tests build the folder layouts users have (union masks
as 0/255 PNG, predictions as NumPy arrays) in tmp_path. Expected numbers come from each SOURCE.md or by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segbench.cli import inspect as inspect_command
from segbench.data import load_dataset
from segbench.evaluate.folders import evaluate_folders
from segbench.inspect.profile import inspect_dataset

DSB = "dsb2018-nuclei-subset/stage1_train"
# From dsb2018-nuclei-subset/SOURCE.md: (foreground share, nuclei) of the first four images.
DSB_FIRST = {"00071198d059": (0.087, 27), "003cee89357d": (0.072, 36), "00ae65c1c663": (0.359, 70),
             "0121d6759c5a": (0.178, 86)}


def _dsb_cases(shared: Path, n: int = 4) -> list[tuple[str, list[np.ndarray], Path]]:
    root = shared / DSB
    out = []
    for case in sorted(p for p in root.iterdir() if p.is_dir())[:n]:
        nuclei = [np.asarray(Image.open(f)) > 0 for f in sorted((case / "masks").glob("*.png"))]
        out.append((case.name, nuclei, case / "images" / f"{case.name}.png"))
    return out


def test_dsb_evaluate_hand_derived_missed_nucleus(shared_data: Path, tmp_path: Path) -> None:
    for sub in ("truth", "pred"):
        (tmp_path / sub).mkdir()
    expected = {}
    for name, nuclei, _ in _dsb_cases(shared_data):
        union = np.any(nuclei, axis=0)
        Image.fromarray(union.astype(np.uint8) * 255).save(tmp_path / "truth" / f"{name}.png")
        pred = np.any(nuclei[1:], axis=0)  # every nucleus but the first: a subset of the truth
        np.save(tmp_path / "pred" / f"{name}.npy", pred)
        t, p = int(union.sum()), int(pred.sum())
        expected[name] = (2 * p / (p + t), p / t, t, p)
    ev = evaluate_folders(tmp_path / "pred", tmp_path / "truth", metrics=["dice", "recall", "precision"], jobs=2)
    for row in ev.rows:
        if row["class"] != "foreground":
            continue
        dice, recall, t, p = expected[row["case"]]
        assert row["dice"] == pytest.approx(dice) and row["recall"] == pytest.approx(recall)
        assert row["precision"] == 1.0 and (row["reference_size"], row["prediction_size"]) == (t, p)
    assert len(ev.cases) == 4


def test_dsb_folder_inspect_matches_source(shared_data: Path, tmp_path: Path) -> None:
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    for name, nuclei, image in _dsb_cases(shared_data):
        (tmp_path / "images" / f"{name}.png").write_bytes(image.read_bytes())
        Image.fromarray(np.any(nuclei, axis=0).astype(np.uint8) * 255).save(tmp_path / "masks" / f"{name}.png")
    data = load_dataset(f"folder:{tmp_path}", "all")
    profile = inspect_dataset(data, metrics=["pixel_accuracy", "dice"])
    shares = [s for s, _ in DSB_FIRST.values()]
    assert profile.foreground_share.mean == pytest.approx(np.mean(shares), abs=0.001)
    assert profile.foreground_share.min == pytest.approx(min(shares), abs=0.0005)
    cell = profile.class_profile("foreground")
    # Touching nuclei merge into one component, so there are at most as many objects as nuclei.
    assert cell.components_per_image.max <= max(n for _, n in DSB_FIRST.values())
    assert 0.5 * sum(n for _, n in DSB_FIRST.values()) <= cell.component_sizes.n <= sum(
        n for _, n in DSB_FIRST.values()
    )
    acc = profile.trivial_score("all-background", "pixel_accuracy", "all")
    assert acc is not None and acc.mean == pytest.approx(1 - np.mean(shares), abs=0.001)
    assert sorted(profile.image_sizes) == [((256, 256), 2), ((256, 320), 2)]


def test_isbi_membranes_are_thin_and_accuracy_is_distrusted(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    inspect_command.add_arguments(parser)
    args = parser.parse_args([
        f"folder:{shared_data / 'isbi2012-em-membrane' / 'train'}", "-o", "images=image", "-o", "masks=label",
        "-o", 'mapping={"0": 1, "255": 0}', "-o", 'class_names=["background", "membrane"]',
        "--metrics", "pixel_accuracy,dice", "--json",
    ])
    assert inspect_command.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    membrane = next(c for c in report["classes"] if c["name"] == "membrane")
    assert report["num_images"] == 30 and report["image_sizes"] == [[[512, 512], 30]]
    assert membrane["mean_image_share"] == pytest.approx(0.2196, abs=0.0001)  # SOURCE.md: 21.96 %
    assert report["foreground_share"]["min"] == pytest.approx(0.1675, abs=0.0001)  # SOURCE.md: 16.75 %
    assert membrane["elongation"] > 100
    topics = [(a["topic"], a["text"]) for a in report["advice"]]
    assert any(t == "distrust" for t, _ in topics)
    assert any("clDice" in text for _, text in topics)


def test_pets_profile_matches_source(shared_data: Path) -> None:
    data = load_dataset(f"pets:{shared_data / 'oxford-iiit-pet-subset'}", "all")
    profile = inspect_dataset(data, trivial=False)
    assert profile.num_images == 180 and profile.background == 1 and len(profile.image_sizes) == 84
    pet = profile.class_profile("pet")
    assert pet.mean_image_share == pytest.approx(0.262, abs=0.0005)  # SOURCE.md: 26.2 % per image
    assert pet.pixel_share == pytest.approx(0.251, abs=0.0005)  # 25.1 % pooled
    assert profile.class_profile("border").mean_image_share == pytest.approx(0.129, abs=0.0005)
    assert profile.foreground_share.mean == pytest.approx(0.391, abs=0.0005)  # pet + border 39.1 %


def test_isbi_default_mapping_names_the_minority_class(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue #22: with the default mapping (cell interior 255 -> the labelled class, 78% of the pixels) the advice
    must not call Dice uninflatable while all-foreground scores 0.876; it names the minority (membranes, label 0)
    as the likely class of interest and says how to score it."""
    parser = argparse.ArgumentParser()
    inspect_command.add_arguments(parser)
    args = parser.parse_args([
        f"folder:{shared_data / 'isbi2012-em-membrane' / 'train'}", "-o", "images=image", "-o", "masks=label",
        "--metrics", "pixel_accuracy,dice", "--json",
    ])
    assert inspect_command.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    texts = [a["text"] + " " + a["reason"] for a in report["advice"]]
    assert not any("cannot inflate" in t for t in texts)
    (score,) = [t for t in texts if "Score the minority class 'background' (22.0% of the pixels)" in t]
    assert "mean Dice 0.876" in score and "78.0%" in score and "mapping='{\"0\": 1, \"255\": 0}'" in score
    assert not any("predicts no structure" in t for t in texts)
    assert any("Train with 'background' as the foreground" in t for t in texts)
