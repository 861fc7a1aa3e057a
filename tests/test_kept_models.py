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
def test_a_kept_model_loads_and_reads_digits(path):
    """Its weights, not only its shapes: 200 real test digits (tests/data), upright and centred
    on the model's canvas, which every study-3 distortion includes, are read at >= 95%."""
    import numpy as np
    import torch.nn.functional as F

    from evaluate import load_model

    model, cfg, epoch = load_model(path.parent, torch.device("cpu"))
    assert epoch == cfg.epochs  # the finished model, not a partial one
    digits = np.load(ROOT / "tests" / "data" / "mnist_small.npz")
    x = torch.from_numpy(digits["test_images"][:200]).float().div(255).unsqueeze(1)
    y = torch.from_numpy(digits["test_labels"][:200]).long()
    pad = ({"rotated": 28, "rts": 42, "projective": 28, "elastic": 28, "cluttered": 60}[cfg.dataset] - 28) // 2
    with torch.no_grad():
        logits = model.eval()(F.pad(x, (pad, pad, pad, pad)))
    assert (logits.argmax(1) == y).float().mean() >= 0.95
