"""The training loop: validation numbers by hand, the checkpoint rule, flips, predictions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from segbench.compare.train import SplitData, TrainSettings, _step_batch, predict, train_run, validate
from segbench.losses import parse
from segbench.models import UNet


def _settings(**kw: object) -> TrainSettings:
    base = {"max_steps": 9, "eval_every": 3, "batch_size": 2, "lr": 1e-2, "weight_decay": 0.0, "augment": False,
            "select": "best-val-dice", "device": torch.device("cpu"), "num_classes": 2, "background": 0}
    base.update(kw)
    return TrainSettings(**base)  # type: ignore[arg-type]


class Fixed(nn.Module):
    """A 'model' that outputs given logits whatever the input (for hand-computed validation)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[: x.shape[0]] + 0 * self.w


def test_validate_pools_counts_over_the_split() -> None:
    # image 0: predicted 2 of 4 target pixels, 0 false positives; image 1: 2 false positives, empty target
    masks = torch.zeros(2, 4, 4, dtype=torch.long)
    masks[0, 0, :4] = 1
    logits = torch.full((2, 1, 4, 4), -5.0)
    logits[0, 0, 0, :2] = 5.0
    logits[1, 0, 3, :2] = 5.0
    data = SplitData(torch.zeros(2, 1, 4, 4), masks)
    out = validate(Fixed(logits), parse("dice"), data, _settings(batch_size=2))
    tp, fp, fn = 2, 2, 2
    assert out["val_dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert out["val_iou"] == pytest.approx(tp / (tp + fp + fn))
    assert out["val_accuracy"] == pytest.approx(28 / 32)


def test_validate_multiclass_skips_the_background_class() -> None:
    # classes: 0 pet, 1 background, 2 border; the background (1) is predicted perfectly and must not count
    masks = torch.tensor([[[0, 0, 1, 1], [2, 2, 1, 1]]])
    logits = torch.zeros(1, 3, 2, 4)
    pred = torch.tensor([[[0, 2, 1, 1], [2, 2, 1, 1]]])
    logits.scatter_(1, pred[:, None], 10.0)
    out = validate(Fixed(logits), parse("ce"), SplitData(torch.zeros(1, 1, 2, 4), masks),
                   _settings(num_classes=3, background=1))
    dice_pet, dice_border = 2 * 1 / (2 * 1 + 0 + 1), 2 * 2 / (2 * 2 + 1 + 0)
    assert out["val_dice"] == pytest.approx((dice_pet + dice_border) / 2)


def test_best_val_dice_keeps_the_best_evaluation_and_last_the_final(tmp_path: Path) -> None:
    torch.manual_seed(0)
    images = torch.rand(6, 1, 8, 8)
    data = SplitData(images, (images[:, 0] > 0.6).long())
    init = UNet(1, 1, width=2, depth=1).state_dict()
    for rule in ("best-val-dice", "last"):
        model = UNet(1, 1, width=2, depth=1)
        model.load_state_dict(init)
        result = train_run(model, parse("dice"), data, data, _settings(max_steps=12, select=rule),
                           seed=0, run_dir=tmp_path / rule, model_name="dice")
        dices = [row["val_dice"] for row in result["history"]]
        assert [row["step"] for row in result["history"]] == [3, 6, 9, 12]
        if rule == "last":
            assert result["best_step"] == 12
        else:
            best = max(d for d in dices if not math.isnan(d))
            assert result["best_step"] == 3 * (dices.index(best) + 1)
        saved = torch.load(tmp_path / rule / "best.pt")
        assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())  # model holds the choice
        assert (tmp_path / rule / "history.csv").read_text().count("\n") == 5


def test_flips_move_image_and_mask_together() -> None:
    images = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 1, 4, 4)
    data = SplitData(images, images[:, 0].long())
    flipped_any = False
    for seed in range(4):  # the training batches (validation's are never flipped)
        batch_images, batch_masks = _step_batch(data, _settings(augment=True), seed, 1)
        assert torch.equal(batch_images[:, 0].long(), batch_masks)
        flipped_any |= not any(torch.equal(batch_masks[0], m) for m in data.masks)
    assert flipped_any


def test_predict_binary_and_multiclass() -> None:
    logits = torch.tensor([[[[-1.0, 2.0]]]])
    assert predict(Fixed(logits), torch.zeros(1, 1, 1, 2), _settings()).tolist() == [[[0, 1]]]
    logits = torch.tensor([[[[0.0, 5.0]], [[1.0, 0.0]], [[3.0, 0.0]]]])
    out = predict(Fixed(logits), torch.zeros(1, 1, 1, 2), _settings(num_classes=3))
    assert out.dtype == torch.uint8 and out.tolist() == [[[2, 0]]]


def test_non_finite_loss_is_reported(tmp_path: Path) -> None:
    class Bad(nn.Module):
        def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return logits.sum() * float("nan")

    data = SplitData(torch.rand(2, 1, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(FloatingPointError, match="loss is nan at step 1"):
        train_run(UNet(1, 1, width=2, depth=1), Bad(), data, data, _settings(), seed=0, run_dir=tmp_path,
                  model_name="bad")


def test_validate_multiclass_background_by_name_and_ignore_index() -> None:
    # targets [[0, 1], [2, 255]], predictions [[0, 0], [2, 2]]; 255 counts nowhere, background is class 1:
    # class 0: tp 1, fp 1 -> Dice 2/3, IoU 1/2; class 2: tp 1 -> Dice 1, IoU 1; accuracy 2 of 3 valid pixels
    masks = torch.tensor([[[0, 1], [2, 255]]])
    pred = torch.tensor([[[0, 0], [2, 2]]])
    logits = torch.nn.functional.one_hot(pred, 3).permute(0, 3, 1, 2).float() * 4.0
    settings = _settings(num_classes=3, background=1, ignore_index=255)
    out = validate(Fixed(logits), parse("ce", ignore_index=255), SplitData(torch.zeros(1, 1, 2, 2), masks), settings)
    assert out["val_dice"] == pytest.approx((2 / 3 + 1) / 2)
    assert out["val_iou"] == pytest.approx((1 / 2 + 1) / 2)
    assert out["val_accuracy"] == pytest.approx(2 / 3)


def test_random_crops_cut_image_and_mask_alike_and_depend_on_seed_and_step() -> None:
    from segbench.compare.train import _step_batch

    masks = torch.arange(3 * 64).reshape(3, 8, 8) % 5
    data = SplitData(masks[:, None].float(), masks)
    settings = _settings(batch_size=2, crop=(4, 6), augment=True)
    images, cropped = _step_batch(data, settings, seed=0, step=1)
    assert cropped.shape == (2, 4, 6) and torch.equal(images[:, 0].long(), cropped)
    windows = {tuple(w.flatten().tolist()) for m in masks for v in (m, m.flip(-1), m.flip(-2), m.flip(-1).flip(-2))
               for w in v.unfold(0, 4, 1).unfold(1, 6, 1).reshape(-1, 4, 6)}
    assert all(tuple(c.flatten().tolist()) in windows for c in cropped)  # a window of some (flipped) image
    again = _step_batch(data, settings, seed=0, step=1)[1]
    assert torch.equal(again, cropped)
    others = [_step_batch(data, settings, seed=s, step=t)[1] for s, t in ((0, 2), (1, 1))]
    assert not all(torch.equal(o, cropped) for o in others)
