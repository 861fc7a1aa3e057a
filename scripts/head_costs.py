"""What each head costs in study 3's setting (the paper's classifier and localisation net, the
paper's downsampling): parameters, forward FLOPs per image, and train / inference images/s on
this machine, every head measured in one run, interleaved over rounds (compare as ratios).

    python scripts/head_costs.py [--rounds 3] [--device cpu] > results/study3/head_costs.md
"""
from __future__ import annotations

import argparse
import statistics as st
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import variants  # noqa: E402
from common.config import Config  # noqa: E402
from common.evaluation import flops_per_image, throughput  # noqa: E402
from common.models import count_params  # noqa: E402
from common.trainer import pick_device  # noqa: E402

HEADS = ["none", "affine", "projective", "tps", "iterative", "moments", "glimpse", "pstn", "polar"]
SETS = {"rotated": 28, "rts": 42, "cluttered": 60}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median reported)")
    ap.add_argument("--device", default="auto")
    a = ap.parse_args(argv)
    if a.rounds < 1:
        print(f"error: --rounds={a.rounds} must be >= 1", file=sys.stderr)
        return 2
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
    print("| set | head | head params | classifier params | MFLOP/image (forward) | train img/s | inference img/s | train vs affine |")
    print("|---|---|---|---|---|---|---|---|")
    for ds, size in SETS.items():
        ref = st.median(t["train_images_per_s"] for t in times[(ds, "affine")])
        for h in HEADS:
            m = models[(ds, h)]
            tr = st.median(t["train_images_per_s"] for t in times[(ds, h)])
            inf = st.median(t["inference_images_per_s"] for t in times[(ds, h)])
            fl = flops_per_image(m, (1, size, size), device) / 1e6
            print(f"| {ds} | {h} | {count_params(m.transformer):,} | {count_params(m.classifier):,} | {fl:.1f} | {tr:,.0f} | {inf:,.0f} | {tr / ref:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
