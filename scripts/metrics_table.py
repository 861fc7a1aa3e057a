"""One row per run: the evaluation metrics on the run's own test set, from RUN/eval/eval.json.

    python scripts/metrics_table.py results/baselines/runs [more roots]
"""
import json
import sys
from pathlib import Path


def main(roots):
    print("| train set | head | error % (95% CI) | NLL | ECE | rotation AUC | scale AUC | invariance | pixel MSE (identity) | matrix error (identity) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    found = []
    for root in roots:
        for f in Path(root).glob("*/eval/eval.json"):
            found.append(json.loads(f.read_text()))
    order = ["mnist", "rotated", "rts", "projective", "elastic", "cluttered"]
    heads = ["none", "affine", "projective", "tps", "iterative", "diffeo", "moments"]
    key = lambda r: (order.index(r["dataset"]), heads.index(r["variant"]) if r["variant"] in heads else 99, r["coordconv"])  # noqa: E731
    for r in sorted(found, key=key):
        s = r["sets"].get(r["dataset"])
        if s is None:
            continue
        rb = r.get("robustness", {})
        rec = s.get("recovery") or {}
        pix = f"{rec['pixel_mse']:.4f} ({rec['pixel_mse_identity']:.4f})" if rec else "–"
        mat = f"{rec['matrix_error']:.3f} ({rec['matrix_error_identity']:.3f})" if "matrix_error" in rec else "–"
        lo, hi = s["error_ci95"]
        print(f"| {r['dataset']} | {r['variant']}{' +cc' if r['coordconv'] else ''} | {100 * s['error']:.2f} ({100 * lo:.2f}–{100 * hi:.2f}) | "
              f"{s['nll']:.3f} | {s['ece']:.3f} | {rb.get('rotation_auc', float('nan')):.3f} | {rb.get('scale_auc', float('nan')):.3f} | "
              f"{rb.get('invariance', float('nan')):.3f} | {pix} | {mat} |")


if __name__ == "__main__":
    main(sys.argv[1:])
