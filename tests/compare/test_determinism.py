"""Determinism: same seed, same numbers; every loss of a seed starts from the same weights and data order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from segbench.compare import config
from segbench.compare.determinism import deterministic, initial_state, state_sha256, step_generator
from segbench.compare.runner import prepare, run_compare
from segbench.compare.train import SplitData, TrainSettings, train_run
from segbench.files import atomic as io
from segbench.losses import parse
from segbench.models import UNet

TINY = {
    "dataset": {"spec": "synthetic", "image_size": 16, "options": {"num_images": 12, "foreground_fraction": 0.2}},
    "model": {"width": 2, "depth": 2},
    "train": {"epochs": 2, "batch_size": 4, "seeds": [0, 1], "num_threads": 1, "device": "cpu"},
    "losses": {"specs": ["ce", "dice", "lovasz"]},
    "eval": {"metrics": ["dice", "hd95"]},
}


@pytest.mark.slow
def test_initial_weights_are_identical_across_losses_and_differ_across_seeds(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_compare(prepare(config.resolve(TINY)), out, quiet=True)
    hashes = {
        (d.parent.name, d.name): json.loads((d / "done.json").read_text())["init_sha256"]
        for d in (out / "runs").glob("*/seed*")
    }
    assert len(hashes) == 6
    for seed in ("seed0", "seed1"):
        assert len({h for (_, s), h in hashes.items() if s == seed}) == 1
    assert hashes[("dice", "seed0")] != hashes[("dice", "seed1")]
    # and the initial model really is the one built under torch.manual_seed(seed)
    torch.manual_seed(0)
    reference = UNet(1, 1, width=2, depth=2).state_dict()
    assert state_sha256(reference) == hashes[("ce", "seed0")]


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    cfg = config.resolve({**TINY, "train": {**TINY["train"], "seeds": [3]}, "losses": {"specs": ["focal"]}})
    a, b = tmp_path / "a", tmp_path / "b"
    run_compare(prepare(cfg), a, quiet=True)
    run_compare(prepare(cfg), b, quiet=True)
    assert (a / "results" / "per_image.csv").read_text() == (b / "results" / "per_image.csv").read_text()
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in io.read_csv(a / "history.csv")]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in io.read_csv(b / "history.csv")]
    wa = torch.load(a / "runs" / "focal" / "seed3" / "best.pt")
    wb = torch.load(b / "runs" / "focal" / "seed3" / "best.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_data_order_depends_only_on_seed_and_step() -> None:
    orders = {(s, e): torch.randperm(50, generator=step_generator(s, e)).tolist() for s in (0, 1) for e in (1, 2)}
    assert orders[(0, 1)] == torch.randperm(50, generator=step_generator(0, 1)).tolist()
    assert len({tuple(o) for o in orders.values()}) == 4


def test_two_losses_see_the_same_batches(tmp_path: Path) -> None:
    """Record the batches (random crops and flips) a run trains on: identical for two losses of one seed."""
    seen: dict[str, list[torch.Tensor]] = {"ce": [], "dice": []}
    images = torch.rand(10, 1, 8, 8)
    masks = (images[:, 0] > 0.5).long()
    data = SplitData(images, masks)
    settings = TrainSettings(max_steps=8, eval_every=4, crop=(4, 4), batch_size=3, lr=1e-3, weight_decay=0.0,
                             augment=True, select="last", device=torch.device("cpu"), num_classes=2, background=0)
    init = initial_state(lambda: UNet(1, 1, width=2, depth=1), 0)
    for name in seen:
        model = UNet(1, 1, width=2, depth=1)
        model.load_state_dict(init)
        loss = parse(name)
        term = loss.losses[0]  # the loop evaluates each term itself (value and gradient norm per term)
        original = term.forward

        def spy(logits: torch.Tensor, target: torch.Tensor, _name: str = name, _f=original) -> torch.Tensor:
            if torch.is_grad_enabled():
                seen[_name].append(target.clone())
            return _f(logits, target)

        term.forward = spy  # type: ignore[method-assign]
        with deterministic(torch.device("cpu"), 1):
            train_run(model, loss, data, data, settings, seed=7, run_dir=tmp_path / name, model_name=name)
    assert len(seen["ce"]) == 8 and seen["ce"][0].shape == (3, 4, 4)
    assert all(torch.equal(a, b) for a, b in zip(seen["ce"], seen["dice"], strict=True))


def test_deterministic_restores_global_state() -> None:
    before = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    with deterministic(torch.device("cpu"), 1):
        assert torch.are_deterministic_algorithms_enabled()
    assert (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()) == before
