"""Mean and spread over seeds of a sweep's runs, grouped by the swept settings other than seed.

    python scripts/study_table.py results/gpu/sweeps/study1/runs            # one row per setting
    python scripts/study_table.py results/gpu/sweeps/study2/runs --pivot    # heads x datasets, % error
"""
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import runs  # noqa: E402
from common.config import Parser  # noqa: E402

# presentation order for every results table (scripts/metrics_table.py, metric_agreement.py too)
DATASET_ORDER = ["mnist", "rotated", "rts", "projective", "elastic", "cluttered"]
HEAD_ORDER = ["none", "affine", "projective", "tps", "iterative", "diffeo", "moments"]
SHORT = {"rotated": "R", "rts": "RTS", "projective": "P", "elastic": "E", "cluttered": "TC"}  # the STN paper's names for the sets


def rank(name: str, order: list[str]) -> tuple:
    """Sort key: the names of ``order`` in that order, then any other (a newly registered head)."""
    return (order.index(name), "") if name in order else (len(order), name)


def ordered(names, order: list[str]) -> list[str]:
    return sorted(set(names), key=lambda n: rank(n, order))


def load(root):
    """{(variant, dataset, coordconv, epochs): [(seed, loss, accuracy %), ...]}"""
    groups = defaultdict(list)
    for run in runs.require(runs.find(root, "final.json"), root, "finished runs (final.json)"):
        cfg = run.config
        if run.validation:  # a recipe candidate scored on its validation split, not a test result
            continue
        t = run.final["test"][cfg["dataset"]]
        groups[(cfg["variant"], cfg["dataset"], cfg["coordconv"], cfg["epochs"])].append((cfg["seed"], t["loss"], 100 * t["accuracy"]))
    return groups


def sd(xs, d):
    return f"{statistics.stdev(xs):.{d}f}" if len(xs) > 1 else "–"


def rows(groups):
    print("| head | dataset | localisation layer | epochs | seeds | avg loss (mean ± sd) | accuracy % (mean ± sd) | per seed (seed: accuracy %) |")
    print("|---|---|---|---|---|---|---|---|")
    for (v, ds, cc, ep), rs in sorted(groups.items(), key=lambda kv: (rank(kv[0][1], DATASET_ORDER), kv[0][3], rank(kv[0][0], HEAD_ORDER), kv[0][2])):
        losses, accs = [r[1] for r in rs], [r[2] for r in rs]
        per = ", ".join(f"{s}: {a:.2f}" for s, _, a in sorted(rs))
        print(f"| {v} | {ds} | {'CoordConv' if cc else 'Conv'} | {ep} | {len(rs)} | {statistics.mean(losses):.4f} ± {sd(losses, 4)} | "
              f"{statistics.mean(accs):.2f} ± {sd(accs, 2)} | {per} |")


def pivot(groups):
    """% test error, mean ± sd over seeds (n), heads x CoordConv as rows, datasets as columns."""
    sets = ordered((k[1] for k in groups), DATASET_ORDER)
    print("| head | loc. layer | " + " | ".join(sets) + " |")
    print("|---|---|" + "---|" * len(sets))
    for v in ordered((k[0] for k in groups), HEAD_ORDER):
        for cc in (False, True):
            cells = []
            for d in sets:
                rs = [x for k, runs in groups.items() if k[:3] == (v, d, cc) for x in runs]
                errs = [100 - r[2] for r in rs]
                cells.append(f"{statistics.mean(errs):.2f} ± {sd(errs, 2)} ({len(errs)})" if errs else "")
            print(f"| {v} | {'CoordConv' if cc else 'Conv'} | " + " | ".join(cells) + " |")


def main():
    ap = Parser(description="tables of a sweep's runs")
    ap.add_argument("root", nargs="?", default="results/gpu/sweeps/study1/runs", help="folder of run folders")
    ap.add_argument("--pivot", action="store_true", help="%% error, heads x datasets")
    a = ap.parse_args()
    (pivot if a.pivot else rows)(load(a.root))


if __name__ == "__main__":
    raise SystemExit(runs.cli(main))
