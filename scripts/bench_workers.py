"""On a CPU, is one run with every core faster than several runs side by side with one core each?

Times study 3's training step (the paper's classifier and localisation net, batch 128, random
images: the model's cost, not the data distortion's) two ways, in one call, interleaved over rounds
(these machines are noisy: read the ratio): A, one process with N threads; B, N processes at once
with one thread each. Prints the images/s of all processes together for each, and B/A: above 1,
a sweep finishes sooner with N runs side by side (``OMP_NUM_THREADS=1``) than one at a time.

    python scripts/bench_workers.py [--dataset rts] [--variant affine] [--workers 2] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics as st
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(dataset: str, variant: str, steps: int) -> None:
    """One process: build the model, time ``steps`` training steps, print {"train_images_per_s": ...}."""
    sys.path.insert(0, str(ROOT))
    import torch

    import variants
    from common import data
    from common.config import Config
    from common.evaluation import throughput
    torch.manual_seed(0)
    model = variants.build_model(Config(variant=variant, dataset=dataset, classifier="paper", loc_net="paper", st_downsample=0))
    model.to(memory_format=torch.channels_last)
    size = data.image_size(dataset)
    print(json.dumps(throughput(model, (1, size, size), torch.device("cpu"), batch=128, steps=steps)))


def launch(n_proc: int, threads: int, a) -> float:
    """Images/s of ``n_proc`` workers run at once with ``threads`` threads each, summed."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--worker", "--dataset", a.dataset, "--variant", a.variant, "--steps", str(a.steps)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(n_proc)]
    total = 0.0
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"error: a timing worker failed (exit {p.returncode}); run it alone: {' '.join(cmd)}")
        total += json.loads(out.strip().splitlines()[-1])["train_images_per_s"]
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="rts")
    ap.add_argument("--variant", default="affine")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="N: cores to share out (default: all)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per worker (default: 20)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds, median reported (default: 3)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.dataset, a.variant, a.steps)
        return 0
    if min(a.workers, a.steps, a.rounds) < 1:
        print("error: --workers, --steps and --rounds must be >= 1", file=sys.stderr)
        return 2
    one, many = [], []
    for _ in range(a.rounds):
        one.append(launch(1, a.workers, a))
        many.append(launch(a.workers, 1, a))
    A, B = st.median(one), st.median(many)
    print(f"{a.dataset} {a.variant}, batch 128, median of {a.rounds} rounds of {a.steps} steps")
    print(f"A: 1 run x {a.workers} threads: {A:,.0f} train img/s")
    print(f"B: {a.workers} runs x 1 thread:  {B:,.0f} train img/s (all runs together)")
    print(f"B/A: {B / A:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
