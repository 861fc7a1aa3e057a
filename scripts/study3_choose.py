"""Study 3: a recipe, chosen on the validation split from a finished factorial sweep.

    python scripts/study3_choose.py results/study3/sweeps/study3_recipe [--flags]
    python scripts/study3_choose.py results/study3/sweeps/study3_rts_val   # the RTS follow-up

Reads every run's config.json and final.json (validation error, never a test set) and prints,
for each factor of the sweep (every setting whose value differs between its runs, two levels
each, e.g. lr, batch_size, ema, label_smoothing in sweeps/study3_recipe.yaml), its effect: the
mean change of validation error when only that factor changes, over every pair of runs that
differ in it alone, with the pairs' sd and standard error. The recipe keeps a setting only when
it lowers the error by more than two standard errors (with one pair, never: no standard error);
otherwise the cheaper or simpler level stays (fewer epochs, no EMA or smoothing, the larger
batch, the lower learning rate). ``--flags`` prints the recipe as train.py flags, one line, for
scripts. ``--interactions`` also prints each factor's effect at each level of every other
factor: an effect that changes sign or size with another factor's level is an interaction, and
the averaged effect hides it.
"""
from __future__ import annotations

import argparse
import json
import statistics as st
import sys
from pathlib import Path

NOT_FACTORS = {"dataset", "run_name", "img", "out_dir"}  # differ between runs by design, or are the blocks
CHEAPER_HIGH = {"batch_size"}  # the larger batch is the cheaper level; for every other factor the lower one


def factors_of(configs: list[dict]) -> dict[str, list]:
    """Every setting whose value differs between the runs -> its two levels, the cheaper first.

    Raises SystemExit (one line) for a factor with more than two levels: the pairs need two.
    """
    out = {}
    for k in sorted(set().union(*configs) - NOT_FACTORS):
        levels = sorted({json.dumps(c.get(k)) for c in configs})
        if len(levels) < 2:
            continue
        if len(levels) > 2:
            raise SystemExit(f"error: {k} takes {len(levels)} values in this sweep; this script compares two levels per factor")
        a, b = sorted((json.loads(v) for v in levels), reverse=k in CHEAPER_HIGH)
        out[k] = [a, b]
    return out


def load_runs(sweep_dir: Path) -> tuple[list[dict], dict[str, list]]:
    """The finished runs (their factors, dataset and % validation error) and the sweep's factors."""
    cfgs, errors = [], []
    for d in sorted((sweep_dir / "runs").glob("*/")):
        if not (d / "final.json").exists():
            continue
        cfg = json.loads((d / "config.json").read_text())
        fin = json.loads((d / "final.json").read_text())
        (name, res), = fin["test"].items()
        if not name.endswith("-val"):
            raise SystemExit(f"error: {d} was scored on {name!r}, not a validation set; the recipe is chosen on --holdout runs only")
        cfgs.append(cfg)
        errors.append(100 * (1 - res["accuracy"]))
    factors = factors_of(cfgs) if cfgs else {}
    runs = [{**{k: c.get(k) for k in factors}, "dataset": c["dataset"], "error": e} for c, e in zip(cfgs, errors)]
    return runs, factors


def effects(runs: list[dict], factors: dict[str, list]) -> dict[str, dict]:
    """Per factor: paired differences (error at the second level minus the first)."""
    out = {}
    for f, (a, b) in factors.items():
        key = lambda r: tuple((k, r[k]) for k in [*factors, "dataset"] if k != f)  # noqa: E731
        first = {key(r): r["error"] for r in runs if r[f] == a}
        diffs = [r["error"] - first[key(r)] for r in runs if r[f] == b and key(r) in first]
        if diffs:
            mean = st.mean(diffs)
            sd = st.stdev(diffs) if len(diffs) > 1 else float("nan")
            out[f] = {"levels": (a, b), "pairs": len(diffs), "mean": mean, "sd": sd, "se": sd / len(diffs) ** 0.5}
    return out


def choose(eff: dict[str, dict], factors: dict[str, list]) -> dict:
    recipe = {}
    for f, (a, b) in factors.items():
        e = eff.get(f)
        recipe[f] = b if e and e["mean"] < 0 and -e["mean"] > 2 * e["se"] else a
    return recipe


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir", type=Path)
    ap.add_argument("--flags", action="store_true", help="print only the chosen recipe as train.py flags")
    ap.add_argument("--interactions", action="store_true", help="each factor's effect at each level of every other factor")
    a = ap.parse_args(argv)
    runs, factors = load_runs(a.sweep_dir)
    if not runs:
        print(f"error: no finished runs under {a.sweep_dir}/runs; run its sweep file (e.g. sweeps/study3_recipe.yaml) first", file=sys.stderr)
        return 2
    eff = effects(runs, factors)
    recipe = choose(eff, factors)
    flags = " ".join(f"--{k.replace('_', '-')}={v}" for k, v in recipe.items())
    if a.flags:
        print(flags)
        return 0
    print(f"{len(runs)} finished validation runs\n")
    print("| factor | from -> to | pairs | change of val. error (points) | sd | s.e. | kept |")
    print("|---|---|---|---|---|---|---|")
    for f, e in eff.items():
        print(f"| {f} | {e['levels'][0]} -> {e['levels'][1]} | {e['pairs']} | {e['mean']:+.3f} | {e['sd']:.3f} | {e['se']:.3f} | {recipe[f]} |")
    by = {}
    for r in runs:
        by.setdefault(r["dataset"], []).append(r)
    print("\n| dataset | best val. error % | its settings | worst |")
    print("|---|---|---|---|")
    for d, rs in sorted(by.items()):
        best, worst = min(rs, key=lambda r: r["error"]), max(rs, key=lambda r: r["error"])
        print(f"| {d} | {best['error']:.2f} | {', '.join(f'{k}={best[k]}' for k in factors)} | {worst['error']:.2f} |")
    if a.interactions:
        print("\n| factor | given | pairs | change of val. error (points) | s.e. |\n|---|---|---|---|---|")
        for f in factors:
            for g, levels in factors.items():
                for lv in levels if g != f else []:
                    e = effects([r for r in runs if r[g] == lv], factors).get(f)
                    if e:
                        print(f"| {f} | {g}={lv} | {e['pairs']} | {e['mean']:+.3f} | {e['se']:.3f} |")
    print(f"\nrecipe: {flags}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
