"""Run folders as the results scripts read them: one reader for every script under ``scripts/``.

A run folder (``train.py --out-dir D --run-name N`` writes ``D/N``) holds

- ``config.json``: the run's resolved config, a mapping of ``Config`` keys;
- ``metrics.json``: a list, one row per finished epoch (``epoch``, ``train_loss``, ``test_loss``,
  ``test_accuracy``, ``epoch_seconds``, ``lr``; runs since the validation split came also name
  ``eval_set``, the set behind the two ``test_`` columns: a ``--holdout`` run's validation split);
- ``final.json`` once the run has finished (``test``: ``{set: {loss, accuracy, correct, n}}``,
  parameter counts);
- ``eval/eval.json`` once ``evaluate.py`` has scored it.

Reading them here means a missing, corrupt or misshapen file is one line (``UsageError``) that
names the file and what to do, never a traceback, and a ``--holdout`` run reads as a validation result in
every table (``Run.validation``, ``Run.scored_on``).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path

from .config import validation_set_name
from .errors import UsageError


RERUN = "rerun the command that wrote it, or move its run folder out of the way"


def write_json(path: Path | str, obj) -> None:
    """Write ``obj`` as indented JSON to ``path``, whole or not at all (a temporary file beside it,
    then ``os.replace``): a reader, or a kill halfway, never meets half a file. OSError propagates."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path, kind: type | tuple[type, ...] = dict, fix: str = RERUN):
    """The JSON value in ``path``, which must be a ``kind`` (dict, list, or a tuple of them).
    Raises UsageError (one line: the file, what is wrong, then ``fix``: what to do) if it cannot be
    read, is not JSON or is another kind."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise UsageError(f"cannot read {path} ({err.strerror}); {fix}") from None
    try:
        obj = json.loads(text, object_hook=lambda d: Entries(d, path, fix))
    except ValueError:
        raise UsageError(f"{path} is not valid JSON (cut off while written?); {fix}") from None
    if not isinstance(obj, kind):
        wanted = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise UsageError(f"{path} holds a JSON {type(obj).__name__} where a {wanted} belongs; {fix}")
    return obj


class Entries(dict):
    """A JSON object read by ``read_json``: a plain dict, except that a missing key is a
    UsageError naming the file and the key (a script that reads ``cfg["lr"]`` from a file without
    it stops in one line, not with a KeyError); ``.get`` still returns its default."""

    def __init__(self, data: dict, path: Path, fix: str):
        super().__init__(data)
        self._where = (path, fix)

    def __missing__(self, key):
        path, fix = self._where
        raise UsageError(f"{path} has no {key!r} (written by another version, or cut short?); {fix}")


def _require(path: Path, ok: bool, what: str) -> None:
    """UsageError naming ``path`` and ``what`` it lacks, unless ``ok``."""
    if not ok:
        raise UsageError(f"{path} is not as stn-lab writes it ({what}); {RERUN}")


class Run:
    """One run folder. Each file is read once, when first asked for, and checked for the keys the
    results scripts use: any fault is a UsageError naming the file."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def name(self) -> str:
        """The run's name: its folder's."""
        return self.path.name

    def _file(self, name: str, kind: type):
        f = self.path / name
        return read_json(f, kind) if f.exists() else None

    @cached_property
    def config(self) -> dict:
        """config.json: the run's settings (``Config`` keys; older runs lack the newer keys). Raises
        UsageError if it is missing, unreadable, or has no ``dataset``, ``variant`` or ``seed``."""
        cfg = self._file("config.json", dict)
        if cfg is None:
            raise UsageError(f"{self.path} has no config.json: not a run folder written by train.py; move it out of the results folder")
        missing = [k for k in ("dataset", "variant", "seed") if k not in cfg]
        _require(self.path / "config.json", not missing, f"no {', '.join(missing)}")
        return cfg

    @cached_property
    def epochs(self) -> list[dict]:
        """metrics.json's rows, one per finished epoch ([] before the first); each has ``epoch``,
        ``test_accuracy`` (a fraction, on the set scored) and ``epoch_seconds`` (training only)."""
        rows = self._file("metrics.json", list) or []
        _require(self.path / "metrics.json",
                 all(isinstance(r, dict) and {"epoch", "test_accuracy", "epoch_seconds"} <= r.keys() for r in rows),
                 "each row needs epoch, test_accuracy and epoch_seconds")
        return rows

    @cached_property
    def final(self) -> dict | None:
        """final.json, None while the run is unfinished (or was cut short); its ``test`` maps each
        set scored to ``{loss, accuracy, correct, n}``."""
        fin = self._file("final.json", dict)
        if fin is not None:
            t = fin.get("test")
            _require(self.path / "final.json", isinstance(t, dict) and bool(t) and all(isinstance(v, dict) and "accuracy" in v for v in t.values()),
                     "its test must map each set scored to an accuracy")
        return fin

    @cached_property
    def eval(self) -> dict | None:
        """eval/eval.json, None until evaluate.py has scored the run; its ``sets`` maps each set
        scored to that set's metrics."""
        ev = self._file("eval/eval.json", dict)
        if ev is not None:
            _require(self.path / "eval" / "eval.json", isinstance(ev.get("sets"), dict) and "dataset" in ev, "it needs dataset and sets")
        return ev

    @property
    def finished(self) -> bool:
        """Has the run written final.json? (``final`` reads and checks it.)"""
        return (self.path / "final.json").exists()

    @property
    def validation(self) -> bool:
        """A ``--holdout`` run: it was scored on its validation split, never on a test set."""
        return bool(self.config.get("holdout"))

    @property
    def scored_on(self) -> str:
        """The set behind its scores: ``"validation: rts-val"`` or ``"test: rts"``."""
        cfg = self.config
        name = (self.epochs[-1].get("eval_set") if self.epochs else None) or (
            validation_set_name(cfg["dataset"]) if self.validation else cfg["dataset"])
        return f"{'validation' if self.validation else 'test'}: {name}"

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def writable_folder(folder: Path | str, flag: str = "", fix: str = "", make: bool = True) -> Path:
    """Make ``folder`` (and its parents) and write a scratch file in it, so that a command meets an
    unwritable output folder in one line before its work, not after. Raises UsageError("cannot
    write FOLDER (reason); FIX"), FIX by default "pass FLAG pointing at a writable folder"; returns
    the folder. ``make=False`` (a dry run) writes nothing: the nearest existing folder on the way
    must be a folder this process may write to."""
    folder = Path(folder)
    fix = fix or f"pass {flag} pointing at a writable folder"
    if not make:
        there = folder
        while not there.exists() and there != there.parent:
            there = there.parent
        if not there.is_dir() or not os.access(there, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write {folder} ({there} is {'not a folder' if not there.is_dir() else 'not writable'}); {fix}")
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise UsageError(f"cannot write {folder} ({err.strerror}); {fix}") from None
    return folder


def keep_aside(path: Path) -> Path:
    """Move a damaged ``path`` out of the way as ``<name>.corrupt`` (``.corrupt.1``, ... if an
    earlier one is there: none is overwritten); returns where it went."""
    path = Path(path)
    dest, i = path.with_name(f"{path.name}.corrupt"), 1
    while dest.exists():
        dest, i = path.with_name(f"{path.name}.corrupt.{i}"), i + 1
    path.replace(dest)
    return dest


EXAMPLE = "results/study3/sweeps/study3/runs"  # a folder of run folders, shipped in every clone


def find(roots: Path | str | Iterable[Path | str], holding: str = "config.json", example: str = EXAMPLE) -> list[Run]:
    """The run folders directly under each root that hold the file ``holding`` (e.g.
    ``final.json``: the finished ones), in name order within each root. Raises UsageError naming a
    root that is no folder, with ``example``: a folder the calling script reads."""
    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    for root in roots:
        if not Path(root).is_dir():
            raise UsageError(f"no folder {root}; pass a folder that holds run folders (e.g. {example})")
    return [Run(Path(root) / f.relative_to(root).parts[0]) for root in roots for f in sorted(Path(root).glob(f"*/{holding}"))]


def require(found: list, roots, what: str, example: str = EXAMPLE) -> list:
    """``found``, or a UsageError saying that ``roots`` hold no ``what`` and what to point at
    (``example``: a folder the calling script reads)."""
    if not found:
        where = ", ".join(map(str, [roots] if isinstance(roots, (str, Path)) else roots))
        raise UsageError(f"no {what} under {where}; pass a folder that holds them (e.g. {example})")
    return found


def cli(main: Callable[[], int | None]) -> int:
    """Run a results script's ``main``: a UsageError becomes one line on stderr and exit status 2;
    a reader that stops early (``| head``) ends it quietly."""
    try:
        return main() or 0
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return 0
