"""The trained models kept under results/ load and predict from a fresh clone (no training, no
MNIST): every ``model.pt`` of study 3 and every kept checkpoint, through evaluate.py's loader."""
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
KEPT = sorted((ROOT / "results" / "study3").glob("sweeps/*/runs/*/model.pt"))


def test_study3_keeps_models():
    assert len(KEPT) >= 6, "results/study3 should keep every finished cell's model.pt"


@pytest.mark.parametrize("path", KEPT, ids=[p.parent.name for p in KEPT])
def test_a_kept_model_loads_and_predicts(path):
    from evaluate import load_model

    model, cfg, epoch = load_model(path.parent, torch.device("cpu"))
    assert epoch == cfg.epochs  # the finished model, not a partial one
    size = {"rotated": 28, "rts": 42, "projective": 28, "elastic": 28, "cluttered": 60}[cfg.dataset]
    logits = model(torch.rand(2, 1, size, size))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
