"""One row per run: the evaluation metrics on the run's own test set, from RUN/eval/eval.json.

    python scripts/metrics_table.py results/baselines/runs [more roots]
    python scripts/metrics_table.py results/gpu/sweeps/study2/runs --seed 1 --dataset cluttered
"""
import sys
from pathlib import Path

from study_table import DATASET_ORDER, HEAD_ORDER, rank

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import runs  # noqa: E402
from common.config import Parser  # noqa: E402

EXAMPLE = "results/gpu/sweeps/study2/runs"  # evaluated runs, for the error that points at a folder


def main(roots, seed=None, dataset=None):
    found = []
    evaluated = runs.require(runs.find(roots, "eval/eval.json", EXAMPLE), roots, "evaluated runs (eval/eval.json: run evaluate.py on them)", EXAMPLE)
    for run in evaluated:  # ties in the row order below keep this fixed order
        r = run.eval
        if (seed is None or run.config["seed"] == seed) and (dataset is None or r["dataset"] == dataset):
            found.append(r)
    runs.require(found, roots, f"evaluated runs{f' of seed {seed}' if seed is not None else ''}{f' trained on {dataset}' if dataset else ''}", EXAMPLE)
    print("| train set | head | error % (95% CI) | NLL | ECE | mean confidence | rotation AUC | scale AUC | invariance | pixel MSE (identity) | matrix error (identity) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(found, key=lambda r: (rank(r["dataset"], DATASET_ORDER), rank(r["variant"], HEAD_ORDER), r["coordconv"])):
        s = r["sets"].get(r["dataset"])
        if s is None:
            continue
        rb = r.get("robustness", {})
        rec = s.get("recovery") or {}
        pix = rec["skipped"] if "skipped" in rec else f"{rec['pixel_mse']:.4f} ({rec['pixel_mse_identity']:.4f})" if rec else "–"
        mat = f"{rec['matrix_error']:.3f} ({rec['matrix_error_identity']:.3f})" if "matrix_error" in rec else "–"
        lo, hi = s["error_ci95"]
        conf = f"{s['confidence']:.3f}" if "confidence" in s else "–"  # reports written before it existed
        print(f"| {r['dataset']} | {r['variant']}{' +cc' if r['coordconv'] else ''} | {100 * s['error']:.2f} ({100 * lo:.2f}–{100 * hi:.2f}) | "
              f"{s['nll']:.3f} | {s['ece']:.3f} | {conf} | {rb.get('rotation_auc', float('nan')):.3f} | {rb.get('scale_auc', float('nan')):.3f} | "
              f"{rb.get('invariance', float('nan')):.3f} | {pix} | {mat} |")


def from_command_line() -> int | None:
    ap = Parser(description="evaluation metrics of saved runs, one row each")
    ap.add_argument("roots", nargs="+", help="folders of run folders")
    ap.add_argument("--seed", type=int, help="only runs of this seed")
    ap.add_argument("--dataset", help="only runs trained on this dataset")
    a = ap.parse_args()
    return main(a.roots, a.seed, a.dataset)


if __name__ == "__main__":
    raise SystemExit(runs.cli(from_command_line))
