"""What each head costs in study 3's setting (the paper's classifier and localisation net, the
paper's downsampling): parameters, forward FLOPs per image, and train / inference images/s on
this machine, every head measured in one run, interleaved over rounds (compare as ratios); and
what one study-3 run (a cell's seed: 24 epochs of the 60,000 training digits, a test pass of
10,000 after each) and the whole grid of the study's sweep files cost on this machine at those
speeds. The estimate leaves out data distortion, the optimiser's extra work and other jobs: a
floor; the training times of finished runs are in results/study3/table.md.

    python scripts/head_costs.py [--rounds 3] [--device cpu] > results/study3/head_costs.md
"""
from __future__ import annotations

import statistics as st
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sweep  # noqa: E402
import variants  # noqa: E402
from common import data, runs  # noqa: E402
from common.config import Config, Parser, at_least  # noqa: E402
from common.errors import UsageError  # noqa: E402
from common.evaluation import flops_per_image, throughput  # noqa: E402
from common.models import count_params  # noqa: E402
from common.trainer import pick_device  # noqa: E402

HEADS = ["none", "affine", "projective", "tps", "iterative", "moments", "glimpse", "pstn", "polar"]
SETS = {"rotated": 28, "rts": 42, "cluttered": 60}


def timed_as(dataset: str) -> str | None:
    """The timed set whose models are ``dataset``'s (same image size: P and E are timed as R)."""
    return next((s for s, size in SETS.items() if size == data.image_size(dataset)), None)

ROOT = Path(__file__).resolve().parents[1]
GRID = [str(ROOT / "sweeps" / f) for f in ("study3.yaml", "study3_coordconv.yaml", "study3_newheads.yaml")]
MNIST_TRAIN, MNIST_TEST = 60_000, 10_000


def run_minutes(epochs: int, train_per_s: float, test_per_s: float, n_train: int = MNIST_TRAIN, n_test: int = MNIST_TEST) -> float:
    """Minutes of one run: ``epochs`` passes over ``n_train`` training digits and a test pass
    over ``n_test`` after each, at the given images/s."""
    return epochs * (n_train / train_per_s + n_test / test_per_s) / 60


def grid_configs(paths: list[str]) -> list[Config]:
    """The config of every run the sweep files ``paths`` make, each resolved as its train.py will
    (``sweep.run_configs``). Raises UsageError (one line) for a file that cannot be read or expanded."""
    out = []
    for path in paths:
        spec = sweep.load_sweep(Path(path))
        out += sweep.run_configs(spec, sweep.proposals(spec, None, 0), [], path)
    return out


def grid_runs(paths: list[str]) -> list[tuple[str, str, int, int, int]]:
    """(dataset, head, epochs, training digits, digits scored per epoch) of every run of ``grid_configs(paths)``."""
    out = []
    for cfg in grid_configs(paths):
        n_train = MNIST_TRAIN - cfg.holdout
        n_train = min(n_train, cfg.train_limit) if cfg.train_limit else n_train
        n_test = cfg.holdout or MNIST_TEST
        out.append((cfg.dataset, cfg.variant, cfg.epochs, n_train, min(n_test, cfg.test_limit) if cfg.test_limit else n_test))
    return out


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=at_least(1), default=3, help="interleaved timing rounds, median reported (default: 3; the study used 5)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    ap.add_argument("--grid", nargs="*", default=GRID, help="sweep files whose runs to cost (default: study 3's three)")
    a = ap.parse_args(argv)
    cells = grid_runs(a.grid) if a.grid else []  # a broken sweep file fails here, before any timing
    missing = sorted({(d, h) for d, h, *_ in cells if timed_as(d) is None or h not in HEADS})
    if missing:
        raise UsageError(f"no timing for {missing} (the grid names a set or head this script does not time); pass --grid with other sweep files")
    device = pick_device(a.device)
    torch.manual_seed(0)
    models = {}
    for ds in SETS:
        for h in HEADS:
            cfg = Config(variant=h, dataset=ds, classifier="paper", loc_net="paper", st_downsample=0)
            m = variants.build_model(cfg).to(device)
            if device.type == "cpu":
                m.to(memory_format=torch.channels_last)
            models[(ds, h)] = m
    times = {k: [] for k in models}
    for _ in range(a.rounds):  # interleaved: machine noise hits every head alike
        for k, m in models.items():
            times[k].append(throughput(m, (1, SETS[k[0]], SETS[k[0]]), device, batch=128, steps=3))
    print(f"Device: {device.type} ({torch.get_num_threads()} threads); batch 128; median of {a.rounds} interleaved rounds.\n")
    print("| set | head | head params | classifier params | MFLOP/image (forward) | train img/s | inference img/s | train vs affine | one 24-epoch run |")
    print("|---|---|---|---|---|---|---|---|---|")
    speed = {}
    for ds, size in SETS.items():
        ref = st.median(t["train_images_per_s"] for t in times[(ds, "affine")])
        for h in HEADS:
            m = models[(ds, h)]
            tr = st.median(t["train_images_per_s"] for t in times[(ds, h)])
            inf = st.median(t["inference_images_per_s"] for t in times[(ds, h)])
            speed[(ds, h)] = tr, inf
            fl = flops_per_image(m, (1, size, size), device) / 1e6
            print(f"| {ds} | {h} | {count_params(m.transformer):,} | {count_params(m.classifier):,} | {fl:.1f} | {tr:,.0f} | {inf:,.0f} | "
                  f"{tr / ref:.2f}x | {run_minutes(24, tr, inf):.0f} min |")
    if cells:
        minutes = [run_minutes(e, *speed[(timed_as(d), h)], n_train, n_test) for d, h, e, n_train, n_test in cells]
        print(f"\nThe grid of {', '.join(Path(g).name for g in a.grid)}: {len(cells)} runs, {sum(minutes) / 60:.1f} hours on this {device.type} at these "
              f"speeds (one run at a time; CoordConv runs costed as their Conv twins; a floor: no data distortion, optimiser or other jobs).")
    return 0


if __name__ == "__main__":
    raise SystemExit(runs.cli(main))
