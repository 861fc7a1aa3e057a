"""Which metrics tell models apart? For each training set of a study, over the runs of one seed
that have a transformer (`none` left out: it is last on every metric and would inflate the
agreement): the Spearman rank agreement of each metric with the error rate, signed so that +1
means "ranks the heads exactly as the error does" whichever direction is better for the metric.

    python scripts/metric_agreement.py results/gpu/sweeps/study2/runs --seed 1
"""
import statistics
import sys
from pathlib import Path

from study_table import DATASET_ORDER, ordered

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import runs  # noqa: E402
from common.config import Parser  # noqa: E402

# name -> (how to read it from eval.json, lower is better?)
METRICS = {
    "NLL": (lambda r, s: s["nll"], True),
    "ECE": (lambda r, s: s["ece"], True),
    "rotation AUC": (lambda r, s: r.get("robustness", {}).get("rotation_auc"), False),  # a report without curves: "–"
    "scale AUC": (lambda r, s: r.get("robustness", {}).get("scale_auc"), False),
    "invariance": (lambda r, s: r.get("robustness", {}).get("invariance"), False),
    "pixel MSE": (lambda r, s: (s.get("recovery") or {}).get("pixel_mse"), True),
}

EXAMPLE = "results/gpu/sweeps/study2/runs"  # evaluated runs, for the error that points at a folder


def ranks(xs):
    """0-based ranks of ``xs``; tied values share the mean of the ranks they span ([5, 7, 7] ->
    [0, 1.5, 1.5]), so the result does not depend on the order the runs were read in."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    pos = 0
    while pos < len(order):
        end = pos
        while end + 1 < len(order) and xs[order[end + 1]] == xs[order[pos]]:
            end += 1
        for j in order[pos : end + 1]:
            r[j] = (pos + end) / 2
        pos = end + 1
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.mean(ra), statistics.mean(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return num / den if den else float("nan")


def main(root, seed):
    found = {}
    for run in runs.require(runs.find(root, "eval/eval.json", EXAMPLE), root, "evaluated runs (eval/eval.json: run evaluate.py on them)", EXAMPLE):  # a fixed order
        cfg = run.config
        if cfg["seed"] == seed and cfg["variant"] != "none":
            found.setdefault(cfg["dataset"], []).append(run.eval)
    runs.require(found, root, f"evaluated runs of seed {seed} with a transformer", EXAMPLE)
    print("| training set | runs | " + " | ".join(METRICS) + " |")
    print("|---|---|" + "---|" * len(METRICS))
    for ds in ordered(found, DATASET_ORDER):
        rs = found[ds]
        if len(rs) < 3:  # a rank correlation of two points is +-1 whatever the metric; of one, undefined
            print(f"| {ds} | {len(rs)} | " + " | ".join(["– (needs 3 runs)"] * len(METRICS)) + " |")
            continue
        err = [r["sets"][ds]["error"] for r in rs]
        cells = []
        for get, lower in METRICS.values():
            v = [get(r, r["sets"][ds]) for r in rs]
            if any(x is None for x in v):
                cells.append("–")
                continue
            cells.append(f"{(1 if lower else -1) * spearman(v, err):+.2f}")
        print(f"| {ds} | {len(rs)} | " + " | ".join(cells) + " |")


def from_command_line() -> int | None:
    ap = Parser(description="which metrics rank the heads of a study as the error does")
    ap.add_argument("root", help="folder of run folders (with eval/eval.json)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    return main(a.root, a.seed)


if __name__ == "__main__":
    raise SystemExit(runs.cli(from_command_line))
