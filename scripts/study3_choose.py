"""Study 3: a recipe, chosen on the validation split from a finished factorial sweep.

    python scripts/study3_choose.py results/study3/sweeps/study3_recipe [--flags]
    python scripts/study3_choose.py results/study3/sweeps/study3_rts_val   # the RTS follow-up

Reads every run's config.json and final.json (validation error, never a test set) and prints,
for each factor of the sweep (every setting whose value differs between its runs, two levels
each, e.g. lr, batch_size, ema, label_smoothing in sweeps/study3_recipe.yaml), its effect: the
mean change of validation error when only that factor changes, over every pair of runs that
differ in it alone, with the pairs' sd and standard error. The recipe keeps a setting only when
it lowers the error by more than t standard errors, t the two-sided 95% point of Student's t with
pairs - 1 degrees of freedom (2.13 for 16 pairs), and only with 3 pairs or more (fewer: undecided);
otherwise the cheaper or simpler level stays (fewer epochs, no EMA or smoothing, the larger
batch, the lower learning rate). ``--flags`` prints the recipe as train.py flags, one line, for
scripts. ``--interactions`` also prints each factor's effect at each level of every other
factor: an effect that changes sign or size with another factor's level is an interaction, and
the averaged effect hides it.
"""
from __future__ import annotations

import dataclasses
import json
import statistics as st
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.runs import cli, find  # noqa: E402
from common.config import RUNTIME_KEYS, Config, Parser, is_validation_set, saved  # noqa: E402
from common.errors import UsageError  # noqa: E402

BLOCKS = ("dataset", "seed")  # runs are paired within a dataset and a seed; neither is ever a factor
CHEAPER_HIGH = {"batch_size"}  # the larger batch is the cheaper level
HEAD_OF = {f.name: f.metadata.get("head") for f in dataclasses.fields(Config)}
DEFAULTS = Config().to_dict()


def effective(cfg: dict) -> dict:
    """A saved config as it trained: every key (the legacy value or today's default where it is
    missing), without the keys that changed nothing (runtime keys such as the device, paths and
    W&B; another head's options; the EMA warm-up when there is no EMA)."""
    c = {**DEFAULTS, **saved(cfg)}
    for k in list(c):
        if k in RUNTIME_KEYS or HEAD_OF.get(k) not in (None, c["variant"]):
            c.pop(k)
    if not c.get("ema"):
        c.pop("ema_warmup")  # inert without an EMA: such a run pairs with either warm-up level
    return c


def factors_of(configs: list[dict]) -> dict[str, list]:
    """Every setting whose value differs between the runs -> its two levels, the cheaper or simpler
    first: the larger batch, the lower number (epochs, lr, EMA decay, smoothing), today's default
    for a switch or a name.

    Raises UsageError (one line) for a factor with more than two levels: the pairs need two.
    """
    out = {}
    for k in sorted(set().union(*configs) - set(BLOCKS)):
        levels = [json.loads(v) for v in sorted({json.dumps(c[k]) for c in configs if k in c})]
        if len(levels) < 2:
            continue
        if len(levels) > 2:
            raise UsageError(f"{k} takes {len(levels)} values in this sweep ({', '.join(map(str, levels))}); this script "
                             "compares two levels per factor: split the sweep, or move the extra runs out of its runs/ folder")
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in levels)
        a, b = sorted(levels, key=lambda v: (-v if k in CHEAPER_HIGH else v) if numeric else (v != DEFAULTS.get(k), str(v)))
        out[k] = [a, b]
    return out


def load_runs(sweep_dir: Path) -> tuple[list[dict], dict[str, list]]:
    """The finished runs (their factors, blocks and % validation error) and the sweep's factors.

    Raises UsageError (one line) when a run was scored on a test set. Unfinished runs are counted
    on stderr: the design is incomplete until they finish."""
    cfgs, errors, unfinished = [], [], 0
    for run in find(sweep_dir / "runs"):
        if not run.finished:
            unfinished += 1
            continue
        cfg = run.config
        scored = run.final["test"]
        name = ", ".join(scored)
        if len(scored) != 1 or not is_validation_set(name) or not run.validation:
            raise UsageError(f"{run.path} was scored on {name!r}, not one validation set; the recipe is chosen on --holdout runs only")
        res = scored[name]
        cfgs.append(effective(cfg))
        errors.append(100 * (1 - res["accuracy"]))
    if unfinished:
        print(f"note: {unfinished} run(s) under {sweep_dir}/runs have not finished; their pairs are missing until they do", file=sys.stderr)
    factors = factors_of(cfgs) if cfgs else {}
    runs = [{**{k: c.get(k) for k in (*factors, *BLOCKS)}, "error": e} for c, e in zip(cfgs, errors)]
    return runs, factors


def effects(runs: list[dict], factors: dict[str, list]) -> dict[str, dict]:
    """Per factor: paired differences (error at the second level minus the first), over the pairs
    of runs that differ in that factor alone (same dataset, same seed, every other factor equal)."""
    out = {}
    for f, (a, b) in factors.items():
        inert = {g for g in factors if any(r[g] is None for r in runs)}  # absent where it changes nothing: no pairing on it
        key = lambda r: tuple((k, r[k]) for k in [*factors, *BLOCKS] if k != f and k not in inert)  # noqa: E731
        first = {key(r): r["error"] for r in runs if r[f] == a}
        diffs = [r["error"] - first[key(r)] for r in runs if r[f] == b and key(r) in first]
        if diffs:
            mean = st.mean(diffs)
            sd = st.stdev(diffs) if len(diffs) > 1 else float("nan")
            out[f] = {"levels": (a, b), "pairs": len(diffs), "mean": mean, "sd": sd, "se": sd / len(diffs) ** 0.5}
    return out


MIN_PAIRS = 3  # with 2 pairs the standard error rests on one degree of freedom (two equal differences give 0)
T95 = {2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}  # two-sided 95% points of Student's t, by degrees of freedom


def t95(df: int) -> float:
    """The two-sided 95% point of Student's t for ``df`` >= 2 degrees of freedom (the table's
    nearest smaller entry: conservative between entries; 1.96 beyond 30 would be 2.042 here)."""
    return T95[max(k for k in T95 if k <= df)]


def choose(eff: dict[str, dict], factors: dict[str, list]) -> dict:
    """The second level of a factor only where it lowers the error by more than t95(pairs - 1)
    standard errors of its paired differences, with at least MIN_PAIRS pairs; otherwise the first."""
    recipe = {}
    for f, (a, b) in factors.items():
        e = eff.get(f)
        decided = e is not None and e["pairs"] >= MIN_PAIRS
        recipe[f] = b if decided and e["mean"] < 0 and -e["mean"] > t95(e["pairs"] - 1) * e["se"] else a
    return recipe


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir", type=Path)
    ap.add_argument("--flags", action="store_true", help="print only the chosen recipe as train.py flags")
    ap.add_argument("--interactions", action="store_true", help="each factor's effect at each level of every other factor")
    a = ap.parse_args(argv)
    runs, factors = load_runs(a.sweep_dir)
    if not runs:
        print(f"error: no finished runs under {a.sweep_dir}/runs; run its sweep file (e.g. sweeps/study3_recipe.yaml) first", file=sys.stderr)
        return 2
    eff = effects(runs, factors)
    unpaired = [f for f in factors if f not in eff]
    if unpaired:
        print(f"error: no two runs differ in {', '.join(unpaired)} alone (they change together, or their runs have not finished); "
              "a factor needs runs that differ in it and nothing else", file=sys.stderr)
        return 2
    recipe = choose(eff, factors)
    flags = " ".join(f"--{k.replace('_', '-')}={v}" for k, v in recipe.items())
    if a.flags:
        print(flags)
        return 0
    print(f"{len(runs)} finished validation runs\n")
    print("| factor | from -> to | pairs | change of val. error (points) | sd | s.e. | kept |")
    print("|---|---|---|---|---|---|---|")
    for f, e in eff.items():
        kept = f"{recipe[f]} (undecided: {e['pairs']} pair{'s' * (e['pairs'] > 1)}, too few for a standard error)" if e["pairs"] < MIN_PAIRS else recipe[f]
        print(f"| {f} | {e['levels'][0]} -> {e['levels'][1]} | {e['pairs']} | {e['mean']:+.3f} | {e['sd']:.3f} | {e['se']:.3f} | {kept} |")
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
    sys.exit(cli(main))
