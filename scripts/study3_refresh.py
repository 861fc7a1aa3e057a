"""Bring every study-3 table and figure up to date with the run folders, after a run lands.

    python scripts/study3_refresh.py        # the CPU queue (scripts/study3_cpu.sh) runs it after each run

Writes results/study3/table.md (scripts/study3_table.py), replaces the copies of its tables in
docs/study3.md (the cell-by-cell table) and README.md (the headline table), each found by its
header row and ending at its last "|" line, and docs/study3.md's table of every run on the
independent test sets (scripts/study3_external_table.py --docs, once results/study3/external holds
reports), redraws docs/img/study3_errors.png
(scripts/study3_plot.py) and, when results/study3/metrics exists, writes
results/study3/transfer.md (scripts/study3_transfer.py: the kept models on the sets they were not
trained on). Hand-written text around them is left as it is: re-read it. Everything is made first
and then moved into place, so a failure (exit 2 with one line: no runs, no independent-set
folder, a document whose table header row is missing or twice) writes nothing.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study3_external_table  # noqa: E402
import study3_plot  # noqa: E402
import study3_table as t  # noqa: E402
import study3_transfer  # noqa: E402

DOCS_HEADER = "| head | R ours | R paper |"
README_HEADER = "| | R | RTS | P | E | TC |"


def splice(text: str, header: str, table: str, name: str) -> str:
    """``text`` with the markdown table whose header row is the one line starting ``header`` (the
    table: that line and every "|" line after it) replaced by ``table``. Raises UsageError when no
    line or more than one starts with ``header``."""
    found = [m.start() for m in re.finditer("(?m)^" + re.escape(header), text)]
    if len(found) != 1:
        raise t.runs.UsageError(f"{name} has {len(found)} lines starting {header!r}, not one: put its table back "
                                "(git checkout the file) and run again")
    end = re.compile(r"(?m)^(?!\|)").search(text, found[0])  # the first line after the table's that is no table row
    return text[:found[0]] + table.strip("\n") + "\n" + (text[end.start():] if end else "")


def printed(script_main, argv: list[str]) -> str:
    """What a results script's ``main(argv)`` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        script_main(argv)
    return out.getvalue()


def main(argv=None) -> int:
    ap = t.Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=t.ROOT, help="the checkout to refresh (default: this one)")
    a = ap.parse_args(argv)
    sweeps, cut = a.root / "results/study3/sweeps", a.root / "results/study3/gpu_unfinished"
    cuts = ["--cut", str(cut)] if cut.is_dir() else []
    ext = ["--ext", str(a.root / "results/study3/external")]
    full = printed(t.main, [str(sweeps), *cuts])
    docs, readme, figure = a.root / "docs/study3.md", a.root / "README.md", a.root / "docs/img/study3_errors.png"
    docs_text = splice(docs.read_text(), DOCS_HEADER, full.split("\n\n")[1], "docs/study3.md")
    side_by_side = printed(study3_external_table.table, ["--docs", "--root", ext[1], "--runs", str(sweeps)]) \
        if any(Path(ext[1]).glob("**/sets.json")) else ""  # empty until a kept model is scored on an independent set
    if side_by_side:
        docs_text = splice(docs_text, study3_external_table.DOCS_HEADER, side_by_side, "docs/study3.md")
    new = {docs: docs_text,
           readme: splice(readme.read_text(), README_HEADER, printed(t.main, [str(sweeps), "--headline", *cuts, *ext]), "README.md"),
           a.root / "results/study3/table.md": full}
    if (a.root / "results/study3/metrics").is_dir():
        new[a.root / "results/study3/transfer.md"] = printed(study3_transfer.main, [str(a.root / "results/study3/metrics")])
    figure.parent.mkdir(parents=True, exist_ok=True)
    # beside its targets, so os.replace stays on one file system; "*.tmp" is git-ignored should a kill leave it
    with tempfile.TemporaryDirectory(dir=figure.parent, suffix=".tmp") as tmp:
        printed(study3_plot.main, [str(sweeps), *cuts, *ext, "-o", str(Path(tmp) / "figure.png")])
        for i, (path, text) in enumerate(new.items()):
            (Path(tmp) / f"{i}.md").write_text(text)
        for i, path in enumerate(new):
            os.replace(Path(tmp) / f"{i}.md", path)
        os.replace(Path(tmp) / "figure.png", figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(t.runs.cli(main))
