"""Summarise run folders into a markdown table (numbers read from each run's files).

    python scripts/collect.py results/baselines/runs [more run roots...]

s/epoch is the median over the run's epochs (robust to one disturbed epoch).
"""
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import runs  # noqa: E402
from common.config import Parser  # noqa: E402


def rows(roots):
    for run in runs.require(runs.find(roots, "final.json"), roots, "finished runs (final.json)"):
        cfg, fin = run.config, run.final
        secs = statistics.median(r["epoch_seconds"] for r in run.epochs) if run.epochs else float("nan")
        for name, t in fin["test"].items():  # a --holdout run's one set is its validation split: named "<set>-val (validation)"
            yield cfg, fin, secs, f"{name} (validation)" if run.validation else name, t


def main(argv):
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="*", default=["runs"], help="folders holding run folders (default: runs)")
    found = list(rows(ap.parse_args(argv).roots))
    print("| variant | coordconv | train set | scored on | epochs | accuracy | error % | s/epoch | head params | classifier params |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for cfg, fin, secs, name, t in found:
        print(f"| {cfg['variant']} | {'yes' if cfg['coordconv'] else 'no'} | {cfg['dataset']} | {name} | {cfg['epochs']} | "
              f"{t['correct']}/{t['n']} ({100 * t['accuracy']:.2f}%) | {100 * (1 - t['accuracy']):.2f} | "
              f"{secs:.1f} | {fin['params_head']:,} | {fin['params_classifier']:,} |")


if __name__ == "__main__":
    raise SystemExit(runs.cli(lambda: main(sys.argv[1:])))
