"""Composition by arithmetic and by spec string, the registry, and logging of each term's value."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segbench import losses
from segbench.losses import functional as L


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 5, 5, generator=g), torch.randint(0, 3, (2, 5, 5), generator=g)


def test_arithmetic_equals_weighted_sum_and_logs_terms() -> None:
    x, t = _data()
    loss = 0.5 * losses.CrossEntropyLoss() + losses.DiceLoss() * 2 + losses.TverskyLoss(alpha=0.5) / 4
    expected = 0.5 * L.cross_entropy_loss(x, t) + 2 * L.dice_loss(x, t) + L.tversky_loss(x, t, alpha=0.5) / 4
    assert torch.allclose(loss(x, t), expected)
    assert loss.spec == "0.5*ce+2*dice+0.25*tversky(alpha=0.5)"
    assert [(w, n) for w, n, _ in loss.terms] == [(0.5, "ce"), (2.0, "dice"), (0.25, "tversky")]
    assert loss.last_values == pytest.approx(
        {"ce": float(L.cross_entropy_loss(x, t)), "dice": float(L.dice_loss(x, t)),
         "tversky": float(L.tversky_loss(x, t, alpha=0.5))}
    )
    assert sum([losses.DiceLoss(), losses.BCELoss()]).spec == "dice+bce"  # type: ignore[union-attr]
    assert (3 * (losses.DiceLoss() + losses.BCELoss())).spec == "3*dice+3*bce"


def test_repeated_names_stay_distinct_in_logs() -> None:
    x, t = _data()
    loss = losses.parse("dice + dice(smooth=0) + ce")
    loss(x, t)
    assert set(loss.last_values) == {"dice", "dice(smooth=0)", "ce"}


@pytest.mark.parametrize(
    "spec, canonical",
    [
        ("0.5*bce + 0.5*dice", "0.5*bce+0.5*dice"),
        ("ce+dice", "ce+dice"),
        ("tversky(alpha=0.3,beta=0.7)", "tversky"),
        ("tversky(alpha=0.5, beta=0.5)", "tversky(alpha=0.5,beta=0.5)"),
        ("2*focal(gamma=2)", "2*focal"),
        ("focal(gamma=1) * 3", "3*focal(gamma=1)"),
        ("0.5*(ce + iou)", "0.5*ce+0.5*jaccard"),
        ("dice(class_weights=[1, 2, 3])/2", "0.5*dice(class_weights=(1,2,3))"),
    ],
)
def test_parse_grammar_and_round_trip(spec: str, canonical: str) -> None:
    loss = losses.parse(spec)
    assert loss.spec == canonical
    assert losses.parse(loss.spec).spec == loss.spec


def test_parse_passes_common_keywords_to_terms_that_accept_them() -> None:
    x, t = _data()
    t[0, :2] = 255
    loss = losses.parse("ce + dice(smooth=0)", ignore_index=255, include_background=False)
    assert loss.spec == "ce(ignore_index=255)+dice(ignore_index=255,include_background=False,smooth=0)"
    expected = L.cross_entropy_loss(x, t, ignore_index=255) + L.dice_loss(
        x, t, ignore_index=255, include_background=False, smooth=0
    )
    assert torch.allclose(loss(x, t), expected)
    assert losses.parse("dice(ignore_index=7)", ignore_index=255).spec == "dice(ignore_index=7)"  # term wins


@pytest.mark.parametrize(
    "spec, message",
    [
        ("dicee", "unknown loss 'dicee'; valid names: bce"),
        ("0.5*", "cannot parse"),
        ("dice*ce", "must multiply or divide a loss by a number"),
        ("dice(smooth=x)", "must be literals"),
        ("dice(1)", "expected terms like"),
        ("-dice", "expected terms like"),
    ],
)
def test_parse_errors_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("*", r"\*")):
        losses.parse(spec)


def test_parse_rejects_unused_common_and_bad_weights() -> None:
    with pytest.raises(ValueError, match="accepted by none"):
        losses.parse("ce", smooth=1.0)
    with pytest.raises(TypeError, match="unknown keyword"):
        losses.parse("dice(smoth=1)")
    with pytest.raises(TypeError):
        losses.DiceLoss() * losses.DiceLoss()  # type: ignore[operator]
    with pytest.raises(TypeError):
        losses.DiceLoss() * float("nan")  # type: ignore[operator]


def test_get_names_describe() -> None:
    assert losses.get("iou").spec == "jaccard"
    assert isinstance(losses.get("ce"), losses.CrossEntropyLoss)
    assert losses.names() == sorted(losses.names())
    assert [k for k, _ in losses.describe()] == losses.names()


_NAMES = st.sampled_from(losses.names())
_WEIGHTS = st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.0])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_WEIGHTS, _NAMES), min_size=1, max_size=4), st.booleans())
def test_spec_round_trip_property(terms: list[tuple[float, str]], ignore: bool) -> None:
    kw = {"ignore_index": 255} if ignore else {}
    built = terms[0][0] * losses.get(terms[0][1], **kw)
    for w, n in terms[1:]:
        built = built + w * losses.get(n, **kw)
    assert losses.parse(built.spec).spec == built.spec
    assert [round(w, 12) for w, _, _ in losses.parse(built.spec).terms] == [w for w, _ in terms]
