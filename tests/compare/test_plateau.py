"""The step budget: the plateau rule stops a run that no longer improves, the maximum stops one still improving,
and every loss term's value and gradient are logged (a dead term is named)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from segbench.compare.train import SplitData, TrainSettings, dead_terms, train_run
from segbench.files import atomic as io
from segbench.losses import parse
from segbench.losses.base import FunctionLoss
from segbench.losses.compose import CompositeLoss
from segbench.models import UNet
from segbench.report.training import training_warnings


def _data() -> SplitData:
    torch.manual_seed(0)
    images = torch.rand(8, 1, 8, 8)
    return SplitData(images, (images[:, 0] > 0.6).long())


def _settings(**kw: object) -> TrainSettings:
    base = {"max_steps": 40, "eval_every": 4, "patience": 8, "min_delta": 0.0, "batch_size": 4, "lr": 1e-2,
            "weight_decay": 0.0, "augment": False, "select": "best-val-dice", "device": torch.device("cpu"),
            "num_classes": 2, "background": 0}
    base.update(kw)
    return TrainSettings(**base)  # type: ignore[arg-type]


def _run(tmp_path: Path, settings: TrainSettings, loss: torch.nn.Module | None = None) -> dict:
    model = UNet(1, 1, width=2, depth=1)
    return train_run(model, loss if loss is not None else parse("dice"), _data(), _data(), settings, seed=0,
                     run_dir=tmp_path, model_name="dice")


def test_a_run_that_cannot_improve_stops_after_patience_steps(tmp_path: Path) -> None:
    # lr 0: the validation metric never moves, so the first evaluation (step 4) is the last improvement and the
    # run stops at the first evaluation at least `patience` (8) steps later: step 12
    result = _run(tmp_path, _settings(lr=1e-12, weight_decay=0.0))
    assert [r["step"] for r in result["history"]] == [4, 8, 12]
    assert (result["stop"], result["stop_step"], result["still_improving"]) == ("plateau", 12, False)
    assert [r["stop"] for r in result["history"]] == ["", "", "plateau"]
    assert io.read_csv(tmp_path / "history.csv")[-1]["stop"] == "plateau"


def test_a_run_still_improving_stops_at_the_maximum_and_is_flagged(tmp_path: Path) -> None:
    result = _run(tmp_path, _settings(max_steps=12, patience=1000))
    assert (result["stop"], result["stop_step"], result["still_improving"]) == ("max_steps", 12, True)
    assert result["max_steps"] == 12


def test_a_large_min_delta_is_a_plateau_even_while_the_metric_creeps_up(tmp_path: Path) -> None:
    # no evaluation can beat the first by more than 1.0 (Dice lies in [0, 1]): a plateau after patience steps
    result = _run(tmp_path, _settings(min_delta=1.0))
    assert (result["stop"], result["stop_step"]) == ("plateau", 12)


def test_a_finished_run_resumes_to_the_same_stop(tmp_path: Path) -> None:
    first = _run(tmp_path, _settings(lr=1e-12))
    again = _run(tmp_path, _settings(lr=1e-12))  # state.pt holds the stop: nothing is trained again
    assert (again["stop"], again["stop_step"]) == (first["stop"], first["stop_step"])
    assert len(again["history"]) == len(first["history"])


class Dead(FunctionLoss, function=lambda input, target: (input * 0.0).sum()):
    """A term that is always 0 with zero gradient (as the CE term of MONAI's Dice-CE on one sigmoid channel)."""

    key = "dead"


def test_each_term_is_logged_and_a_dead_term_is_named(tmp_path: Path) -> None:
    loss = CompositeLoss([(0.5, Dead()), (0.5, parse("dice").losses[0])])
    result = _run(tmp_path, _settings(max_steps=8, patience=None), loss)
    rows = io.read_csv(tmp_path / "terms.csv")
    assert [(r["step"], r["term"]) for r in rows] == [("4", "dead"), ("4", "dice"), ("8", "dead"), ("8", "dice")]
    assert all(float(r["grad_norm"]) == 0.0 for r in rows if r["term"] == "dead")
    assert all(float(r["grad_norm"]) > 0.0 for r in rows if r["term"] == "dice")
    assert result["dead_terms"] == ["dead"]
    warning = training_warnings({"runs": [{"model": "0.5*dead+0.5*dice", "seed": 0, "stop": "max_steps",
                                           "dead_terms": result["dead_terms"]}]})
    assert warning == ["0.5*dead+0.5*dice: term dead is dead (constant or without gradient) in seed(s) [0]: the "
                       "combined loss trains as its other terms alone."]


def test_the_term_gradient_norm_is_the_gradient_with_respect_to_the_logits(tmp_path: Path) -> None:
    """One step, no update (lr ~ 0): the logged norm equals autograd's of the term at the step's logits."""
    data = SplitData(torch.rand(4, 1, 8, 8), (torch.rand(4, 8, 8) > 0.5).long())
    torch.manual_seed(1)
    model = UNet(1, 1, width=2, depth=1)
    model.train()
    logits = model(data.images.clone()).detach().requires_grad_(True)
    torch.manual_seed(1)
    fresh = UNet(1, 1, width=2, depth=1)
    settings = _settings(max_steps=1, eval_every=1, patience=None, lr=1e-12)
    train_run(fresh, parse("dice"), data, data, settings, seed=0, run_dir=tmp_path, model_name="dice")
    (row,) = io.read_csv(tmp_path / "terms.csv")
    # the step's batch is a permutation of the 4 images: Dice pools over the batch, so the norm is order-free
    expected = torch.autograd.grad(parse("dice")(logits, data.masks), logits)[0].norm()
    assert float(row["grad_norm"]) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize(("rows", "dead"), [
    ([{"term": "a", "value": 0.3, "grad_norm": 0.1}, {"term": "a", "value": 0.3, "grad_norm": 0.1}], ["a"]),
    ([{"term": "a", "value": 0.3, "grad_norm": 0.1}, {"term": "a", "value": 0.2, "grad_norm": 0.1}], []),
    ([{"term": "a", "value": 0.3, "grad_norm": 0.0}], ["a"]),
    ([{"term": "a", "value": 0.3, "grad_norm": 0.1}], []),  # one window: constancy is not yet shown
])
def test_dead_terms_rule(rows: list[dict], dead: list[str]) -> None:
    assert dead_terms(rows) == dead


def test_done_json_of_a_compare_run_records_the_stop(tmp_path: Path, compare_toml) -> None:  # type: ignore[no-untyped-def]
    from segbench.compare import config
    from segbench.compare.runner import prepare, run_compare

    raw = config.tomllib.loads(compare_toml(specs=["ce"]).replace("epochs = 2", "max_steps = 6\neval_every = 3"))
    out = tmp_path / "run"
    run_compare(prepare(config.resolve(raw)), out, quiet=True)
    done = json.loads((out / "runs" / "ce" / "seed0" / "done.json").read_text())
    assert done["stop"] in ("plateau", "max_steps") and done["stop_step"] in (3, 6) and done["lr"] == 3e-3
    summary = json.loads((out / "results" / "training.json").read_text())
    assert summary["runs"][0]["stop"] == done["stop"] and summary["lr_grid"] is None


def test_compare_prints_the_dead_term_warning(tmp_path: Path, compare_toml, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from segbench import losses
    from segbench.cli import main

    original = losses.parse

    def parse_with_dead(spec: str, **common: object) -> CompositeLoss:
        if spec.replace(" ", "") == "0.5*dead+0.5*dice":
            return CompositeLoss([(0.5, Dead()), (0.5, original("dice", **common).losses[0])])
        return original(spec, **common)

    monkeypatch.setattr(losses, "parse", parse_with_dead)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(compare_toml(metrics=["dice"]).replace("epochs = 2", "max_steps = 6\neval_every = 3"))
    assert main(["compare", str(cfg), "--loss", "0.5*dead+0.5*dice", "--out", str(tmp_path / "run"), "-q",
                 "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "warning: 0.5*dead+0.5*dice: term dead is dead (constant or without gradient) in seed(s) [0]" in out
