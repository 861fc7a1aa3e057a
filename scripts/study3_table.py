"""Study 3's table beside the STN paper's Table 1, from the run folders alone.

    python scripts/study3_table.py results/study3/sweeps --cut results/study3/gpu_unfinished > results/study3/table.md
    python scripts/study3_table.py results/study3/sweeps --headline --cut results/study3/gpu_unfinished   # README's table

% test error per cell (mean ± sd over the finished seeds, and how many), the epochs and the
training time of one run (sum of its logged epoch seconds) on the machine that ran it. Runs cut
short (a deadline, a session's end) are listed apart with their epochs and last error: they are
not in any mean. Machine: the devices its sweep log names at each start, else its env.json.
"""
from __future__ import annotations

import statistics as st
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import data, runs  # noqa: E402
from common.config import Parser  # noqa: E402
from study3_external_table import scored  # noqa: E402
from study_table import SHORT  # noqa: E402,F401  (t.SHORT: study3_transfer.py, study3_plot.py)

# Jaderberg et al. 2015 (arXiv 1506.02025), Table 1 (R, RTS, P, E) and section 4.1's text (TC): % error
PAPER = {
    ("rotated", "none"): 1.2, ("rts", "none"): 0.8, ("projective", "none"): 1.5, ("elastic", "none"): 1.4, ("cluttered", "none"): 3.5,
    ("rotated", "affine"): 0.7, ("rts", "affine"): 0.5, ("projective", "affine"): 0.8, ("elastic", "affine"): 1.2, ("cluttered", "affine"): 1.7,
    ("rotated", "projective"): 0.8, ("rts", "projective"): 0.6, ("projective", "projective"): 0.8, ("elastic", "projective"): 1.3,
    ("rotated", "tps"): 0.7, ("rts", "tps"): 0.5, ("projective", "tps"): 0.8, ("elastic", "tps"): 1.1,
}
SETS = ["rotated", "rts", "projective", "elastic", "cluttered"]
HEADS = ["none", "affine", "projective", "tps", "iterative", "moments", "diffeo", "glimpse", "pstn", "polar"]


def machine(run: Path) -> str:
    """Where the run trained: every device train.py named at a start in the run's sweep log (a
    GPU run continued on a CPU: "H200 + CPU"), else its env.json."""
    log = run / "sweep.log" if (run / "sweep.log").exists() else run.parent.parent / f"{run.name}.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    starts = ["H200" if "), cuda" in line else "CPU (2 cores)" for line in lines if "parameters" in line and ("), cuda" in line or "), cpu" in line)]
    if not starts and (run / "env.json").exists():
        env = runs.read_json(run / "env.json", (dict, list))
        starts = ["CPU (2 cores)" if e.get("device_type") == "cpu" else e.get("device_name", "?") for e in (env if isinstance(env, list) else [env])]
    return " + ".join(dict.fromkeys(starts)) or "?"


def load(sweeps: Path, extra: list[Path]):
    done, cut = defaultdict(list), []
    if not sweeps.is_dir() or not any(sweeps.glob("study3*/runs/*/metrics.json")):
        raise runs.UsageError(f"no study-3 runs under {sweeps}/study3*/runs; pass the folder that holds the sweeps "
                              "(results/study3/sweeps)")
    for root in extra:
        if not root.is_dir():
            raise runs.UsageError(f"no folder {root} (--cut); pass a folder of runs cut short, e.g. results/study3/gpu_unfinished")
    current = {r.name for r in sweeps.glob("study3*/runs/*/") if (r / "metrics.json").exists()}
    stale = [r for root in extra for r in sorted(root.glob("*/")) if r.name not in current]  # a cut run restarted here is read here
    for path in sorted(sweeps.glob("study3*/runs/*/")) + stale:
        if path.parent.parent.name == "study3_recipe" or not (path / "metrics.json").exists():
            continue
        run = runs.Run(path)
        cfg, hist = run.config, run.epochs
        if not hist or run.validation:  # a validation run (e.g. sweeps/study3_rts_val.yaml) is no cell of the table
            continue
        key = (cfg["dataset"], cfg["variant"], cfg["coordconv"])
        row = {"seed": cfg["seed"], "error": 100 * (1 - hist[-1]["test_accuracy"]), "epochs": len(hist), "of": cfg["epochs"],
               "seconds": sum(r["epoch_seconds"] for r in hist), "machine": machine(path), "run": run.name}
        if run.finished:
            done[key].append(row)
        else:
            cut.append((key, row))
    return done, cut


# README's headline rows: (label, head); the paper's rows come from PAPER
HEADLINE = [("ours, no transformer", "none"), ("ours, TPS head", "tps"),
            ("ours, affine head (the paper's ST-CNN Aff: R 0.7, RTS 0.5, P 0.8, E 1.2, TC 1.7)", "affine"),
            ("ours, iterative head (IC-STN, 4 steps)", "iterative"), ("ours, glimpse head (new: a learned 28-pixel crop)", "glimpse"),
            ("ours, pstn head (new: a Gaussian over affine warps, 4 samples averaged)", "pstn"),
            ("ours, polar head (new: log-polar about a learned origin)", "polar")]
ST_CNN = ("affine", "projective", "tps")


def paper_best(dataset: str) -> float:
    """The paper's best ST-CNN % error on ``dataset`` (Table 1's Aff / Proj / TPS; TC: section 4.1's 1.7)."""
    return min([PAPER[(dataset, h)] for h in ST_CNN if (dataset, h) in PAPER] or [1.7])


def independent(ext: Path) -> dict[str, float]:
    """% error of each kept run on the independently made test set of its own protocol
    (``ext``/<set>/[<batch>/]sets.json, written by scripts/study3_external.sh; not the ``_anywhere`` variants)."""
    if not ext.is_dir():
        raise runs.UsageError(f"no folder {ext} (--ext); pass the folder of the independent sets' reports "
                              "(results/study3/external), or run scripts/study3_external.sh first")
    out = {}
    for s in SETS:
        for run, sets in scored(ext / s).items():
            theirs = [v for k, v in sets.items() if k.endswith("-ext")]
            if theirs:
                out[run] = 100 * theirs[0]["error"]
    return out


def same_as_affine(head: str, dataset: str) -> bool:
    """glimpse on a 28-pixel set: a 28-pixel crop of a 28-pixel image, the affine model."""
    return head == "glimpse" and data.image_size(dataset) == 28


def headline(done, cut, ext: dict[str, float]) -> list[str]:
    """README's table: the paper's CNN and best ST-CNN beside our heads, one column per set. A cell
    is the mean error over finished seeds (± sd and [seeds] when more than one) with, in brackets,
    the mean over those runs on the independent test set when every one was scored there.
    "unfinished": a run of the cell started, none finished; "–": none started. On 28-pixel sets
    glimpse is the affine model (marked "= affine", never the lowest). A last row names the lowest
    of every transformer head on each set, bold when at or below the paper's best ST-CNN (the
    issue's target; not a claim of beating it: one seed's noise is ~0.2 points)."""
    started = {key for key, _ in cut}
    best_paper = {s: paper_best(s) for s in SETS}

    def mean(h, s):
        rows = done.get((s, h, False), [])
        return st.mean(r["error"] for r in rows) if rows else None

    def counts(h, s):  # a distinct head on this set (glimpse on 28 pixels is not)
        return h != "none" and not same_as_affine(h, s) and mean(h, s) is not None

    def cell(h, s, bold=False):
        rows = done[(s, h, False)]
        text = mean_sd([r["error"] for r in rows])
        theirs = [ext[r["run"]] for r in rows if r["run"] in ext]
        return (f"**{text}**" if bold else text) + (f" ({st.mean(theirs):.2f})" if len(theirs) == len(rows) else "")

    lines = ["| | " + " | ".join(SHORT[s] for s in SETS) + " |", "|---|" + "---|" * len(SETS),
             "| paper CNN | " + " | ".join(f"{PAPER[(s, 'none')]}" for s in SETS) + " |"]
    for label, h in HEADLINE:
        cells = []
        for s in SETS:
            if (s, h, False) not in done:
                cells.append("unfinished" if (s, h, False) in started else "–")
            else:
                cells.append(cell(h, s) + (", = affine" if same_as_affine(h, s) else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if h == "none":
            lines.append("| paper ST-CNN (best of Aff / Proj / TPS) | " + " | ".join(f"{best_paper[s]}" for s in SETS) + " |")
    best = {s: min((h for h in HEADS if counts(h, s)), key=lambda h: mean(h, s), default=None) for s in SETS}
    lines.append("| ours, lowest transformer head (which) | " + " | ".join(
        "–" if best[s] is None else f"{best[s]}: {cell(best[s], s, bold=round(mean(best[s], s), 2) <= best_paper[s])}" for s in SETS) + " |")
    return lines


CONVENTIONAL = ("affine", "projective", "tps", "iterative", "moments", "diffeo")
NEW = ("polar", "pstn", "glimpse")
SEEDS = 3  # the issues' bar: a gap is judged only between cells of this many seeds


def gap(a: list[float], b: list[float]) -> tuple[float, str]:
    """Mean of ``a`` minus mean of ``b`` (% error points) and its verdict: "beyond the spread" when
    the gap exceeds the sum of the two seed sds, both cells having SEEDS seeds; "within the
    spread" when it does not; "needs 3 seeds" before that (one seed's noise is ~0.2 points)."""
    d = st.mean(a) - st.mean(b)
    if min(len(a), len(b)) < SEEDS:
        return d, f"needs {SEEDS} seeds each (so far {len(a)} against {len(b)})"
    return d, "beyond the spread" if abs(d) > st.stdev(a) + st.stdev(b) else "within the spread"


def welch(a: list[float], b: list[float]) -> float | None:
    """Two-sided p of Welch's t-test (unequal variances; Welch 1947, Biometrika 34) of two cells'
    per-seed % test errors ``a`` and ``b``; None below 2 seeds a cell or with no spread in either
    (the test is undefined there). A check on ``gap``'s rule, not a replacement: with 3 seeds a cell
    a gap beyond the spread can still have p near 0.1. One comparison's p: ``holm`` corrects a
    table's many."""
    a, b = [round(x, 6) for x in a], [round(x, 6) for x in b]  # errors are counts / 100: drop float noise
    if min(len(a), len(b)) < 2 or st.stdev(a) + st.stdev(b) == 0:
        return None
    from scipy.stats import t as student_t  # the statistic by hand: scipy's ttest_ind warns on a cell of equal errors

    va, vb = st.variance(a) / len(a), st.variance(b) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))  # Welch-Satterthwaite
    return float(2 * student_t.sf(abs(st.mean(a) - st.mean(b)) / (va + vb) ** 0.5, df))


def p_text(p: float | None) -> str:
    """A p as table text: two decimals, "<0.01" below 0.005, "–" where the test is undefined (None)."""
    return "–" if p is None else "<0.01" if p < 0.005 else f"{p:.2f}"


def welch_p(a: list[float], b: list[float]) -> str:
    """``welch``'s p as table text (``p_text``)."""
    return p_text(welch(a, b))


def holm(tests: list[tuple[str, float]], alpha: float = 0.05) -> list[str]:
    """The names of ``tests`` ((name, p) pairs) that Holm's step-down correction keeps at family-wise
    error ``alpha`` (Holm 1979, Scand. J. Statist. 6): the i-th smallest p (from 0) must be below
    alpha / (m - i), and the first that is not stops the walk. In the order of their p."""
    kept = []
    for i, (name, p) in enumerate(sorted(tests, key=lambda t: t[1])):
        if p >= alpha / (len(tests) - i):
            break
        kept.append(name)
    return kept


def holm_text(tests: list[tuple[str, float]]) -> str:
    """What ``holm`` keeps of ``tests``, as a sentence's end: the names, or "none of them"."""
    return "; ".join(holm(tests)) or "none of them"


def mean_sd(errors: list[float], fmt: str = ".2f") -> str:
    """Seeds' values (% errors by default) as a table cell: the one value, or "mean ± sd [seeds]"."""
    return f"{errors[0]:{fmt}}" if len(errors) == 1 else f"{st.mean(errors):{fmt}} ± {st.stdev(errors):{fmt}} [{len(errors)}]"


def compared(a: list[float], b: list[float], verdict: str | None = None,
             tests: list[tuple[str, float]] | None = None, name: str = "") -> str:
    """A comparison's table cells: mean of ``a`` minus mean of ``b`` (points), ``gap``'s verdict (or
    ``verdict``), ``welch_p``; the p, where defined, is added to ``tests`` as (``name``, p) for ``holm``."""
    (d, v), p = gap(a, b), welch(a, b)
    if tests is not None and p is not None:
        tests.append((name, p))
    return f"{d:+.2f} | {verdict or v} | {p_text(p)}"


def verdicts(done, planned: set[tuple[str, str]] | None = None) -> list[str]:
    """The issues' three questions, answered from the runs ``done`` ((set, head, CoordConv) -> runs,
    as ``load`` returns them) as markdown lines: the lowest transformer head against the paper's best
    ST-CNN (issue 13's target; the paper gives one figure, no spread: a mean above it by no more than
    its seed sd says so); then three comparisons, each by the rule of ``gap`` with ``welch_p``
    beside it: CoordConv against Conv in the localisation net, head by head; every other
    conventional head and the plain CNN against the recurrent head (studies 1-2 found it the best
    STN: README's conclusion, re-read); each new head against the lowest conventional head of its
    set (issue 14's target: a new head lower beyond the spread on at least 2 sets). A new head is
    judged only once every conventional head ``planned`` on its set ((set, head) of the grid's runs;
    default: the study's sweep files') has finished. Last, the comparisons whose p survives ``holm``
    over every p printed."""
    planned = {k[:2] for k in grid_runs()} if planned is None else planned
    errs = {k: [r["error"] for r in v] for k, v in done.items()}
    mean = {k: st.mean(v) for k, v in errs.items()}
    out = ["### The questions, answered by rule (a gap counts when it exceeds the sum of the two cells' seed sds, "
           f"{SEEDS} seeds each)\n", "Lowest transformer head against the paper's best ST-CNN (mean of the finished seeds):\n",
           "| set | lowest head | % error (seeds) | paper | verdict |", "|---|---|---|---|---|"]
    for s in SETS:
        paper = paper_best(s)
        heads = [h for h in HEADS if h != "none" and not same_as_affine(h, s) and (s, h, False) in errs]
        if not heads:
            continue
        h = min(heads, key=lambda h: mean[(s, h, False)])
        m, n = mean[(s, h, False)], len(errs[(s, h, False)])
        short = "at or below" if round(m, 2) <= paper else f"short by {m - paper:.2f} points"
        if n < SEEDS:
            short += f", needs {SEEDS} seeds"
        elif round(m, 2) > paper and m - paper <= st.stdev(errs[(s, h, False)]):
            short += " (within one seed sd)"
        out.append(f"| {SHORT[s]} | {h} | {m:.2f} ({n}) | {paper} | {short} |")
    tests: list[tuple[str, float]] = []  # every Welch p printed below, for Holm's correction at the end
    out += ["", "CoordConv minus Conv in the localisation net (negative: CoordConv lower):\n",
            "| set | head | CoordConv − Conv (points) | verdict | Welch p |", "|---|---|---|---|---|"]
    for (s, h, c) in sorted((k for k in errs if k[2]), key=lambda k: (SETS.index(k[0]), HEADS.index(k[1]))):
        if (s, h, False) in errs:
            out.append(f"| {SHORT[s]} | {h} | {compared(errs[(s, h, True)], errs[(s, h, False)], None, tests, f'{SHORT[s]} {h}: CoordConv − Conv')} |")
    out += ["", "Each other conventional head, and the plain CNN, minus the recurrent head (IC-STN) of its set "
                "(positive: the recurrent head lower):\n",
            "| set | head | head − iterative (points) | verdict | Welch p |", "|---|---|---|---|---|"]
    for s in SETS:
        if (s, "iterative", False) in errs:
            it = errs[(s, "iterative", False)]
            out += [f"| {SHORT[s]} | {h} | {compared(errs[(s, h, False)], it, None, tests, f'{SHORT[s]} {h} − iterative')} |"
                    for h in ("none",) + CONVENTIONAL
                    if h != "iterative" and (s, h, False) in errs]
    out += ["", "Each new head minus the lowest conventional head of its set (negative: the new head lower):\n",
            "| set | new head | lowest conventional | new − conventional (points) | verdict | Welch p |", "|---|---|---|---|---|---|"]
    wins = set()
    for s in SETS:
        conv = [h for h in CONVENTIONAL if (s, h, False) in errs]
        if not conv:
            continue
        best = min(conv, key=lambda h: mean[(s, h, False)])
        missing = [h for h in CONVENTIONAL if (s, h) in planned and (s, h, False) not in errs]
        for h in NEW:
            if (s, h, False) not in errs or same_as_affine(h, s):
                continue
            d, v = gap(errs[(s, h, False)], errs[(s, best, False)])
            v = f"needs {', '.join(missing)} (no finished run yet)" if missing else v
            wins |= {s} if d < 0 and v == "beyond the spread" else set()
            out.append(f"| {SHORT[s]} | {h} | {best} | "
                       f"{compared(errs[(s, h, False)], errs[(s, best, False)], v, tests, f'{SHORT[s]} {h} − {best}')} |")
    out += ["", f"Sets where a new head is lower beyond the spread: {', '.join(SHORT[s] for s in SETS if s in wins) or 'none'} "
                f"({len(wins)} of the 2 issue 14 asks for)."]
    if tests:
        out += ["", f"The Welch p values above are each one comparison's; with {len(tests)} of them, one below 0.05 can come "
                    f"by chance alone. Holm's correction over all {len(tests)} (family-wise error 0.05) keeps: {holm_text(tests)}."]
    return out


def grid_runs(grid=None) -> list[tuple[str, str, bool, int]]:
    """(set, head, CoordConv, seed) of every run of the study's sweep files (head_costs.GRID, or
    ``grid``'s paths), resolved as sweep.py will. Raises UsageError for a file that cannot be read."""
    import head_costs

    return [(c.dataset, c.variant, c.coordconv, c.seed) for c in head_costs.grid_configs(grid or head_costs.GRID)]


def left(done, grid=None, costs: Path = ROOT / "results/study3/head_costs.md") -> list[str]:
    """What is left of the study: the runs of ``grid_runs(grid)`` not finished, per seed, priced at
    the minutes of one run that
    scripts/head_costs.py measured for its head and a set of its image size on a quiet 2-core CPU
    (``costs``, its table; an estimate; CoordConv runs at their Conv twins'; "–" if a head is missing);
    then how many cells have every seed, which are short, and how long the finished CPU-only runs
    took against their price (the median ratio and the range: how far the estimate held on the machines that ran them).
    Raises UsageError for a sweep file that cannot be read."""
    todo = grid_runs(grid)
    finished = {k + (r["seed"],) for k, rows in done.items() for r in rows}
    minutes = {}  # (set, head) -> minutes of one run, from head_costs.md's rows "| set | head | ... | N min |"
    for line in costs.read_text().splitlines() if costs.exists() else []:
        cells = line.strip("| ").split(" | ")
        if len(cells) > 2 and cells[-1].endswith(" min") and cells[0] in SETS:
            minutes[(cells[0], cells[1])] = float(cells[-1].split()[0])

    def price(dataset, head):  # head_costs times one set per image size (R for P and E)
        return next((minutes[(t, head)] for t in [dataset] + SETS if (t, head) in minutes and data.image_size(t) == data.image_size(dataset)), None)

    import head_costs

    files = ", ".join(f"sweeps/{Path(g).name}" for g in (grid or head_costs.GRID))
    out = [f"### Left to run: the runs of {files} not finished, priced at "
           f"scripts/head_costs.py's minutes of one run on a quiet 2-core CPU ({costs.relative_to(ROOT) if costs.is_relative_to(ROOT) else costs}; an estimate: the line under the table says how the finished runs compared)\n",
           "| seed | runs left | CPU hours |", "|---|---|---|"]
    for seed in sorted({k[3] for k in todo}):
        priced = [price(k[0], k[1]) for k in todo if k[3] == seed and k not in finished]
        hours = "–" if None in priced else f"{sum(priced) / 60:.1f}"
        out.append(f"| {seed} | {len(priced)} | {hours} |")
    planned = defaultdict(set)
    for k in todo:
        planned[k[:3]].add(k[3])
    have = {c: len(seeds & {r["seed"] for r in done.get(c, [])}) for c, seeds in planned.items()}
    short = {c: have[c] for c in sorted(planned, key=lambda c: (SETS.index(c[0]), (HEADS + [c[1]]).index(c[1]), c[2]))
             if have[c] < len(planned[c])}
    names = [f"{SHORT[c[0]]} {c[1]}{' CoordConv' if c[2] else ''} ({n} of {len(planned[c])})" for c, n in short.items()]
    out.append(f"\nCells with every seed finished: {len(planned) - len(short)} of {len(planned)}"
               + (f"; short: {', '.join(names)}." if names else "."))
    ratios = sorted(r["seconds"] / 60 / p for k, rows in done.items() if (p := price(k[0], k[1])) for r in rows
                    if r.get("machine") == "CPU (2 cores)")
    if ratios:
        out.append(f"The {len(ratios)} finished run{'s' if len(ratios) > 1 else ''} that trained on a CPU alone took {st.median(ratios):.1f}x their price "
                   f"(median; {ratios[0]:.1f}x to {ratios[-1]:.1f}x: the machines of different sessions and the jobs beside a run differ).")
    return out


def fmt(errors: list[float]) -> str:
    if len(errors) == 1:
        return f"{errors[0]:.2f} (1 seed)"
    return f"{st.mean(errors):.2f} ± {st.stdev(errors):.2f} ({len(errors)} seeds)"


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweeps", type=Path, help="the folder holding study3*/runs")
    ap.add_argument("--cut", type=Path, action="append", default=[], help="more folders of runs cut short (e.g. results/study3/gpu_unfinished)")
    ap.add_argument("--headline", action="store_true", help="print README's table only (with the independent sets' errors from --ext)")
    ap.add_argument("--ext", type=Path, default=ROOT / "results/study3/external", help="folder of <set>/[<batch>/]sets.json (scripts/study3_external.sh)")
    a = ap.parse_args(argv)
    done, cut = load(a.sweeps, a.cut)
    if a.headline:
        print("\n".join(headline(done, cut, independent(a.ext))))
        return 0
    print("### % test error, cell by cell (Conv localisation net)\n")
    print("| head | " + " | ".join(f"{SHORT[s]} ours | {SHORT[s]} paper" for s in SETS) + " |")
    print("|---|" + "---|---|" * len(SETS))
    for h in HEADS:
        cells = []
        for s in SETS:
            rows = done.get((s, h, False), [])
            cells.append(fmt([r["error"] for r in rows]) if rows else "–")
            cells.append(f"{PAPER[(s, h)]}" if (s, h) in PAPER else ("1.7 (ST-CNN)" if s == "cluttered" and h == "affine" else "–"))
        if any(c != "–" for c in cells[::2]):
            print(f"| {h} | " + " | ".join(cells) + " |")
    cc = {k: v for k, v in done.items() if k[2]}
    if cc:
        print("\n### CoordConv localisation net (its Conv twin above)\n")
        print("| set | head | Conv | CoordConv |\n|---|---|---|---|")
        for (s, h, _), rows in sorted(cc.items()):
            print(f"| {SHORT[s]} | {h} | {fmt([r['error'] for r in done.get((s, h, False), [])]) if done.get((s, h, False)) else '–'} | {fmt([r['error'] for r in rows])} |")
    print()
    print("\n".join(verdicts(done)))
    print("\n### Every finished run: epochs and training time on the machine that ran it\n")
    print("| set | head | CoordConv | seed | % error | epochs | training time | machine | run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (s, h, c), rows in sorted(done.items(), key=lambda kv: (SETS.index(kv[0][0]), HEADS.index(kv[0][1]) if kv[0][1] in HEADS else 99)):
        for r in sorted(rows, key=lambda r: r["seed"]):
            print(f"| {SHORT[s]} | {h} | {c} | {r['seed']} | {r['error']:.2f} | {r['epochs']} | {r['seconds'] / 60:.1f} min | {r['machine']} | {r['run']} |")
    if cut:
        print("\n### Runs cut short (not in any mean): epochs done of those planned, error after the last one\n")
        print("| set | head | CoordConv | seed | epochs | % error then | machine | run |")
        print("|---|---|---|---|---|---|---|---|")
        for (s, h, c), r in sorted(cut, key=lambda kr: (SETS.index(kr[0][0]), kr[0][1])):
            print(f"| {SHORT[s]} | {h} | {c} | {r['seed']} | {r['epochs']}/{r['of']} | {r['error']:.2f} | {r['machine']} | {r['run']} |")
    print()
    print("\n".join(left(done)))
    return 0


if __name__ == "__main__":
    raise SystemExit(runs.cli(main))
