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

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import data, runs  # noqa: E402
from common.config import Parser, at_least  # noqa: E402
from common.errors import UsageError  # noqa: E402
from common.evaluation import test_set_metrics  # noqa: E402
from evaluate import load_model  # noqa: E402
from variants.pstn import INIT_STD  # noqa: E402


@torch.no_grad()
def probe(model, ts: data.TestSet, batch: int = 1000) -> tuple[dict, list[tuple[str, float, float]]]:
    """For a `pstn` ``model`` and a test set ``ts``: the KL and the predicted sd's statistics, and
    (draws, % error, NLL) for the K fixed test draws, the mean warp and four other sets of draws.
    The model's own draws are put back afterwards."""
    model.eval()
    head = model.transformer
    x = ts.images.float().div(255)
    p = torch.cat([head.predict(x[i : i + batch]) for i in range(0, len(x), batch)])
    mean, logvar = head.gaussian(p)
    sd = (0.5 * logvar).exp()
    stats = {"kl": head.kl(mean, logvar).item(), "median": sd.median().item(), "q05": sd.quantile(0.05).item(),
             "q95": sd.quantile(0.95).item(), "max": sd.max().item()}
    fixed = head.test_eps.clone()
    draws = [("fixed test draws (reported)", fixed), ("mean warp only", torch.zeros_like(fixed))]
    draws += [(f"other draws, seed {s}", torch.randn(fixed.shape, generator=torch.Generator().manual_seed(s))) for s in range(1, 5)]
    rows = []
    try:
        for name, eps in draws:
            head.test_eps.copy_(eps)
            m = test_set_metrics(model, ts, batch, torch.device("cpu"))
            rows.append((name, 100 * m["error"], m["nll"]))
    finally:
        head.test_eps.copy_(fixed)
    return stats, rows


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders of pstn models (holding model.pt or checkpoint.pt)")
    ap.add_argument("--n", type=at_least(1), default=10000, help="test images to score, the first N (default: 10000, all)")
    ap.add_argument("--data-root", default="", help="MNIST root (default: the run's own, else $STN_DATA_ROOT, else ./data)")
    a = ap.parse_args(argv)
    for run in a.runs:
        model, cfg, _ = load_model(run, torch.device("cpu"), data_root=a.data_root)
        if cfg.variant != "pstn":
            raise UsageError(f"{run} holds a model of the {cfg.variant} head; pass run folders of pstn models")
        ts = data.load_test_set(cfg.dataset, data.resolve_data_root(cfg.data_root), data.resolve_cache_dir(cfg.cache_dir), quiet=True).head(a.n)
        stats, rows = probe(model, ts)
        print(f"## {run} ({cfg.dataset}, seed {cfg.seed}, K = {model.transformer.k}, {len(ts)} test images)")
        print(f"KL to the prior: {stats['kl']:.2f} nats/image; x weight {cfg.pstn_kl:g} = {stats['kl'] * cfg.pstn_kl:.4f} added to the loss")
        print(f"predicted sd (initial {INIT_STD}): median {stats['median']:.3f}, 5-95% {stats['q05']:.3f}-{stats['q95']:.3f}, max {stats['max']:.3f}")
        print("| draws | error % | NLL |\n|---|---|---|")
        for name, err, nll in rows:
            print(f"| {name} | {err:.2f} | {nll:.4f} |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(runs.cli(main))
