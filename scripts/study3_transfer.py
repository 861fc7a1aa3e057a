"""Study 3's models on the distortions they were not trained on: % error and NLL, mean ± sd over seeds.

    python scripts/study3_transfer.py results/study3/metrics > results/study3/transfer.md

Reads every kept model's evaluation (``<run>/config.json`` and ``<run>/eval/eval.json``, mirrored
by scripts/study3_metrics.sh; evaluate.py scores a 28-pixel model on MNIST and the three 28-pixel
sets, R, P and E). Per training set and head: the % test error on each set, mean ± sd over the
seeds evaluated (their count in brackets; the own set starred), then each head minus the recurrent
head of its training set on every set, judged by study 3's rule (``study3_table.gap``: beyond the
spread when the gap exceeds the sum of the two seed sds, 3 seeds each) with Welch's p. A model
that is robust off its training distribution shows here and nowhere in the main table. Last, each
model's robustness to transforms beyond its training range (``eval.json``'s ``robustness``, from
``common.metrics``: clean MNIST test digits turned by -180...180 degrees and scaled): the rotation
AUC, the accuracy at 180 degrees and the scale AUC, mean ± sd over seeds.
"""
from __future__ import annotations

import statistics as st
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study3_table as t  # noqa: E402

ORDER = ["mnist", *t.SETS]
NAME = {"mnist": "MNIST", **t.SHORT}


EXAMPLE = "results/study3/metrics"  # the folder this script reads, for the error that points at one


def twice(metrics: Path, key: tuple[str, str, bool], seed: int, name: str) -> None:
    """Raise the UsageError for two runs of one cell and seed (a stale mirror beside a rerun)."""
    raise t.runs.UsageError(f"two runs under {metrics} are {key[1]} on {key[0]} (CoordConv {key[2]}), seed {seed}: "
                            f"keep one (the newer; {name} is one of them) and run again")


def order(key: tuple[str, str, bool]) -> tuple:
    """Sort key of a (training set, head, CoordConv) cell: sets, then Conv before CoordConv, then the study's head order."""
    return t.SETS.index(key[0]), key[2], t.HEADS.index(key[1]) if key[1] in t.HEADS else 99


def load(metrics: Path) -> dict[tuple[str, str, bool], dict[str, list[tuple[int, float, float]]]]:
    """(training set, head, CoordConv) -> evaluated set -> [(seed, % error, NLL in nats)], from
    every ``metrics``/<run>/ with both files. Raises UsageError when there is none, or when two runs
    give the same cell the same seed (a stale mirror beside a rerun: remove the older folder)."""
    out: dict = defaultdict(lambda: defaultdict(list))
    found = t.runs.find(metrics, "eval/eval.json", EXAMPLE)
    for run in t.runs.require(found, metrics, "<run>/eval/eval.json (scripts/study3_metrics.sh writes them)", EXAMPLE):
        cfg = run.config
        key = (cfg["dataset"], cfg["variant"], bool(cfg.get("coordconv")))
        for name, m in run.eval["sets"].items():
            if any(seed == cfg["seed"] for seed, _, _ in out[key][name]):
                twice(metrics, key, cfg["seed"], run.name)
            out[key][name].append((cfg["seed"], 100 * m["error"], m.get("nll", float("nan"))))
    return out


def robustness(metrics: Path) -> dict[tuple[str, str, bool], dict[int, tuple[float, float, float]]]:
    """(training set, head, CoordConv) -> seed -> (rotation AUC, % accuracy at 180 degrees, scale
    AUC), from every ``metrics``/<run>/eval/eval.json that has a ``robustness`` entry. Raises
    UsageError when two runs give a cell the same seed, or a rotation curve has no 180° point."""
    out: dict = defaultdict(dict)
    for run in t.runs.find(metrics, "eval/eval.json", EXAMPLE):
        r, cfg = run.eval.get("robustness"), run.config
        if not r:
            continue
        key = (cfg["dataset"], cfg["variant"], bool(cfg.get("coordconv")))
        curve = dict(zip(r["rotation_curve"]["degrees"], r["rotation_curve"]["accuracy"]))
        if 180 not in curve:
            raise t.runs.UsageError(f"{run.name}'s rotation curve has no 180° point: score it again with "
                                    "scripts/study3_metrics.sh (evaluate.py turns digits by -180...180° in 15° steps)")
        if cfg["seed"] in out[key]:
            twice(metrics, key, cfg["seed"], run.name)
        out[key][cfg["seed"]] = (r["rotation_auc"], 100 * curve[180], r["scale_auc"])
    return out


def robustness_table(rows) -> list[str]:
    """The robustness table of the module docstring, training set by set, heads in the study's order."""
    out = ["### Beyond the training range: clean MNIST digits turned by -180...180° and scaled "
           "(mean ± sd over seeds [seeds])\n", "| trained on | head | rotation AUC | % accuracy at 180° | scale AUC |",
           "|---|---|---|---|---|"]
    for k in sorted(rows, key=order):
        v = list(zip(*rows[k].values()))
        out.append(f"| {t.SHORT[k[0]]} | {k[1]}{' CoordConv' if k[2] else ''} | {t.mean_sd(v[0], '.3f')} | {t.mean_sd(v[1], '.1f')} | {t.mean_sd(v[2], '.3f')} |")
    return out


def table(cells) -> list[str]:
    """The two markdown tables described in the module docstring, for the training sets whose
    models were scored on more than their own set."""
    out = ["### % test error on every set scored (mean ± sd over seeds [seeds]; * the set trained on)\n"]
    keys = sorted((k for k in cells if len(cells[k]) > 1), key=order)
    cols = [s for s in ORDER if any(s in cells[k] for k in keys)]
    out += ["| trained on | head | " + " | ".join(NAME[s] for s in cols) + " | NLL, own set |", "|---|---|" + "---|" * (len(cols) + 1)]
    for k in keys:
        def cell(s):
            errs = [e for _, e, _ in cells[k].get(s, [])]
            return (t.mean_sd(errs) if errs else "–") + ("*" if s == k[0] else "")
        nll = [n for _, _, n in cells[k].get(k[0], [])]
        out.append(f"| {t.SHORT[k[0]]} | {k[1]}{' CoordConv' if k[2] else ''} | " + " | ".join(cell(s) for s in cols)
                   + f" | {f'{st.mean(nll):.3f}' if nll else '–'} |")
    out += ["", "### Each head minus the recurrent head (IC-STN) of its training set, set by set, both with "
                f"{t.SEEDS} seeds (negative: the head lower)\n",
            "| trained on | head | scored on | head − iterative (points) | verdict | Welch p |", "|---|---|---|---|---|---|"]
    tests: list[tuple[str, float]] = []
    waiting = 0
    for k in keys:
        ref = cells.get((k[0], "iterative", False))  # a Conv head against the Conv recurrent head
        if k[1] == "iterative" or k[2] or not ref:
            continue
        for s in cols:
            if s not in cells[k] or s not in ref:
                continue
            a, b = [e for _, e, _ in cells[k][s]], [e for _, e, _ in ref[s]]
            if min(len(a), len(b)) < t.SEEDS:
                waiting += 1
                continue
            name = f"{t.SHORT[k[0]]} {k[1]} on {NAME[s]}"
            out.append(f"| {t.SHORT[k[0]]} | {k[1]} | {NAME[s]}{'*' if s == k[0] else ''} | {t.compared(a, b, None, tests, name)} |")
    out += ["", f"{waiting} more comparisons wait for {t.SEEDS} seeds in both cells."]
    if tests:
        out.append(f"Holm's correction over the {len(tests)} Welch p values above (family-wise error 0.05) keeps: {t.holm_text(tests)}.")
    return out


def main(argv=None) -> int:
    ap = t.Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("metrics", type=Path, help="the folder of mirrored evaluations (results/study3/metrics)")
    a = ap.parse_args(argv)
    rows = robustness(a.metrics)
    print("\n".join(table(load(a.metrics)) + (["", *robustness_table(rows)] if rows else [])))
    return 0


if __name__ == "__main__":
    raise SystemExit(t.runs.cli(main))
