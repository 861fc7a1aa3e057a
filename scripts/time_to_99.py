"""Time to accuracy, read from run folders: when did each run first reach the target?

    python scripts/time_to_99.py results/time_to_99_default/runs [more run roots...] [--target 0.99]

Seconds are training time only: the running sum of ``epoch_seconds`` in ``metrics.json``
(evaluation after each epoch excluded), as logged by the run itself.
"""
import argparse
import json
from pathlib import Path


def first_reaching(epochs: list[dict], target: float) -> tuple[int, float] | None:
    total = 0.0
    for e in epochs:
        total += e["epoch_seconds"]
        if e["test_accuracy"] >= target:
            return e["epoch"], total
    return None


def scored_on(cfg: dict, epochs: list[dict]) -> str:
    """The set behind ``test_accuracy``: a --holdout run's is its validation split, not a test set."""
    name = epochs[-1].get("eval_set") or (f"{cfg.get('dataset')}-val" if cfg.get("holdout") else cfg.get("dataset", "?"))
    return f"validation: {name}" if cfg.get("holdout") else f"test: {name}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", help="folders holding run folders")
    ap.add_argument("--target", type=float, default=0.99, help="accuracy to reach (a fraction), on the set each run was scored on")
    ap.add_argument("--dataset", help="only runs trained on this dataset (e.g. rts)")
    a = ap.parse_args(argv)
    runs = [m.parent for root in a.roots for m in sorted(Path(root).glob("*/metrics.json"))]
    if a.dataset:
        runs = [r for r in runs if json.loads((r / "config.json").read_text()).get("dataset") == a.dataset]
    if not runs:
        ap.error(f"no run folders with metrics.json under {', '.join(a.roots)}{' trained on ' + a.dataset if a.dataset else ''}; "
                 "run scripts/time_to_99.sh first")
    print(f"| run | lr | batch | epochs | seed | final accuracy (scored on) | training time | first epoch at ≥ {100 * a.target:.1f}% |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        cfg = json.loads((run / "config.json").read_text())
        epochs = json.loads((run / "metrics.json").read_text())
        hit = first_reaching(epochs, a.target)
        when = f"epoch {hit[0]} ({hit[1]:.0f} s)" if hit else "never"
        done = f"{len(epochs)}" if len(epochs) >= cfg.get("epochs", 0) else f"{len(epochs)} of {cfg['epochs']} (unfinished)"
        print(f"| {run.name} | {cfg['lr']:g} | {cfg['batch_size']} | {done} | {cfg['seed']} | "
              f"{100 * epochs[-1]['test_accuracy']:.2f}% ({scored_on(cfg, epochs)}) | {sum(e['epoch_seconds'] for e in epochs):.0f} s | {when} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
