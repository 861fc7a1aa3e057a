"""Mean and spread over seeds of a sweep's runs, grouped by the swept settings other than seed.

    python scripts/study_table.py results/sweeps/study1/runs
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def main(root):
    groups = defaultdict(list)
    for f in sorted(Path(root).glob("*/final.json")):
        cfg = json.loads((f.parent / "config.json").read_text())
        fin = json.loads(f.read_text())
        t = fin["test"][cfg["dataset"]]
        key = (cfg["variant"], cfg["dataset"], cfg["coordconv"], cfg["epochs"])
        groups[key].append((cfg["seed"], t["loss"], 100 * t["accuracy"]))
    print("| head | dataset | localisation layer | epochs | seeds | avg loss (mean ± sd) | accuracy % (mean ± sd) | per seed (seed: accuracy %) |")
    print("|---|---|---|---|---|---|---|---|")
    for (v, ds, cc, ep), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][3], kv[0][2])):
        losses, accs = [r[1] for r in rs], [r[2] for r in rs]
        sd = lambda xs, d=4: f"{statistics.stdev(xs):.{d}f}" if len(xs) > 1 else "–"  # noqa: E731
        per = ", ".join(f"{s}: {a:.2f}" for s, _, a in sorted(rs))
        print(f"| {v} | {ds} | {'CoordConv' if cc else 'Conv'} | {ep} | {len(rs)} | {statistics.mean(losses):.4f} ± {sd(losses)} | "
              f"{statistics.mean(accs):.2f} ± {sd(accs, 2)} | {per} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/sweeps/study1/runs")
