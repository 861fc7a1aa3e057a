"""Time to accuracy, read from run folders: when did each run first reach the target?

    python scripts/time_to_99.py results/time_to_99_default/runs [more run roots...] [--target 0.99]

Seconds are training time only: the running sum of ``epoch_seconds`` in ``metrics.json``
(evaluation after each epoch excluded), as logged by the run itself.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import runs  # noqa: E402
from common.config import Parser  # noqa: E402
from common.data import DATASETS  # noqa: E402


def first_reaching(epochs: list[dict], target: float) -> tuple[int, float] | None:
    total = 0.0
    for e in epochs:
        total += e["epoch_seconds"]
        if e["test_accuracy"] >= target:
            return e["epoch"], total
    return None


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", help="folders holding run folders")
    ap.add_argument("--target", type=float, default=0.99, help="accuracy to reach (a fraction), on the set each run was scored on")
    ap.add_argument("--dataset", help="only runs trained on this dataset (e.g. rts)")
    a = ap.parse_args(argv)
    if not 0 < a.target <= 1:
        ap.error(f"--target {a.target} is not a fraction of the test set; write e.g. 0.995 for 99.5%")
    if a.dataset and a.dataset not in DATASETS:
        ap.error(f"--dataset {a.dataset!r} is not a dataset; pick one of {', '.join(DATASETS)}")
    found = [r for r in runs.find(a.roots, "metrics.json") if not a.dataset or r.config.get("dataset") == a.dataset]
    if not found:
        ap.error(f"no run folders with metrics.json under {', '.join(a.roots)}{' trained on ' + a.dataset if a.dataset else ''}; "
                 "run scripts/time_to_99.sh first")
    print(f"| run | lr | batch | epochs | seed | final accuracy (scored on) | training time | first epoch at ≥ {100 * a.target:.1f}% |")
    print("|---|---|---|---|---|---|---|---|")
    for run in found:
        cfg, epochs = run.config, run.epochs
        if not epochs:
            continue  # started, no epoch finished yet
        hit = first_reaching(epochs, a.target)
        when = f"epoch {hit[0]} ({hit[1]:.0f} s)" if hit else "never"
        done = f"{len(epochs)}" if len(epochs) >= cfg.get("epochs", 0) else f"{len(epochs)} of {cfg['epochs']} (unfinished)"
        print(f"| {run.name} | {cfg['lr']:g} | {cfg['batch_size']} | {done} | {cfg['seed']} | "
              f"{100 * epochs[-1]['test_accuracy']:.2f}% ({run.scored_on}) | {sum(e['epoch_seconds'] for e in epochs):.0f} s | {when} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(runs.cli(main))
