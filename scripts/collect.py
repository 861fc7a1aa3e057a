"""Summarise run folders into a markdown table (numbers read from each run's files).

    python scripts/collect.py results/baselines/runs [more run roots...]

s/epoch is the median over the run's epochs (robust to one disturbed epoch).
"""
import json
import statistics
import sys
from pathlib import Path


def rows(roots):
    for root in roots:
        for final in sorted(Path(root).glob("*/final.json")):
            run = final.parent
            cfg = json.loads((run / "config.json").read_text())
            fin = json.loads(final.read_text())
            secs = statistics.median(r["epoch_seconds"] for r in json.loads((run / "metrics.json").read_text()))
            for name, t in fin["test"].items():  # a --holdout run's one set is its validation split: named "<set>-val (validation)"
                yield cfg, fin, secs, f"{name} (validation)" if cfg.get("holdout") else name, t


def main(argv):
    print("| variant | coordconv | train set | scored on | epochs | accuracy | error % | s/epoch | head params | classifier params |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for cfg, fin, secs, name, t in rows(argv):
        print(f"| {cfg['variant']} | {'yes' if cfg['coordconv'] else 'no'} | {cfg['dataset']} | {name} | {cfg['epochs']} | "
              f"{t['correct']}/{t['n']} ({100 * t['accuracy']:.2f}%) | {100 * (1 - t['accuracy']):.2f} | "
              f"{secs:.1f} | {fin['params_head']:,} | {fin['params_classifier']:,} |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["runs"])
