"""What the kept `pstn` models learned of their Gaussian, and how much their test-time draws matter.

    python scripts/pstn_probe.py RUN_DIR [RUN_DIR ...] [--n 10000]

For each run (a folder with model.pt or checkpoint.pt of a `pstn` model): the KL to the prior
(nats per image) and its weighted share of the loss, the spread of the predicted standard
deviations (normalised units), and the test error and NLL of the model scored with its K fixed
test draws (what every report uses), with the mean warp alone (no sampling), and with four other
sets of K draws: the spread of those is the Monte Carlo noise that the fixed draws hide.
Errors: a run that is not a `pstn` model, or no checkpoint, is one line and exit 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import data, runs  # noqa: E402
from common.errors import UsageError  # noqa: E402
from evaluate import load_model  # noqa: E402


@torch.no_grad()
def score(model, x, y, batch: int = 1000) -> tuple[float, float]:
    """(% error, NLL in nats) of ``model`` on images ``x`` (N, 1, H, W) in [0, 1], labels ``y``."""
    wrong, nll = 0, 0.0
    for i in range(0, len(y), batch):
        logits = model(x[i : i + batch])
        wrong += (logits.argmax(1) != y[i : i + batch]).sum().item()
        nll += F.cross_entropy(logits.float(), y[i : i + batch], reduction="sum").item()
    return 100 * wrong / len(y), nll / len(y)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=10000, help="test images to score (the first N)")
    a = ap.parse_args(argv)
    for run in a.runs:
        model, cfg, _ = load_model(run, torch.device("cpu"))
        if cfg.variant != "pstn":
            raise UsageError(f"{run} holds a model of the {cfg.variant} head; pass run folders of pstn models")
        model.eval()
        head = model.transformer
        ts = data.load_test_set(cfg.dataset, data.resolve_data_root(cfg.data_root), data.resolve_cache_dir(cfg.cache_dir), quiet=True).head(a.n)
        x, y = ts.images.float().div(255), ts.labels
        with torch.no_grad():
            p = torch.cat([head.predict(x[i : i + 1000]) for i in range(0, len(y), 1000)])
        mean, logvar = p[:, :6], p[:, 6:].clamp(-20, 4)
        kl, sd = head.kl(mean, logvar).item(), (0.5 * logvar).exp()
        print(f"## {run} ({cfg.dataset}, seed {cfg.seed}, K = {head.k}, {len(y)} test images)")
        print(f"KL to the prior: {kl:.2f} nats/image; x weight {cfg.pstn_kl:g} = {kl * cfg.pstn_kl:.4f} added to the loss")
        print(f"predicted sd (initial {0.05}): median {sd.median():.3f}, 5-95% {sd.quantile(0.05):.3f}-{sd.quantile(0.95):.3f}, max {sd.max():.3f}")
        fixed = head.test_eps.clone()
        draws = [("fixed test draws (reported)", fixed), ("mean warp only", torch.zeros_like(fixed))]
        draws += [(f"other draws, seed {s}", torch.randn(fixed.shape, generator=torch.Generator().manual_seed(s))) for s in range(1, 5)]
        print("| draws | error % | NLL |\n|---|---|---|")
        for name, eps in draws:
            head.test_eps.copy_(eps)
            err, nll = score(model, x, y)
            print(f"| {name} | {err:.2f} | {nll:.4f} |")
        head.test_eps.copy_(fixed)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(runs.cli(main))
