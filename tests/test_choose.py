"""scripts/study3_choose.py: a recipe chosen from validation runs, its factors read from the runs."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import study3_choose  # noqa: E402


def fake_sweep(root: Path, grid: dict[str, list], error, scored_on: str = "rts-val", extra: dict | None = None) -> Path:
    """One finished run per point of ``grid``; its validation error is ``error(point)`` (%)."""
    import itertools
    keys = list(grid)
    for i, values in enumerate(itertools.product(*grid.values())):
        point = dict(zip(keys, values))
        run = root / "runs" / f"r{i}"
        run.mkdir(parents=True)
        cfg = {"dataset": "rts", "variant": "affine", "seed": 1, "holdout": 10000, "run_name": f"r{i}", "img": f"{run}/stn.png", **point, **(extra or {})}
        (run / "config.json").write_text(json.dumps(cfg))
        (run / "final.json").write_text(json.dumps({"test": {scored_on: {"accuracy": 1 - error(point) / 100}}}))
    return root


def test_factors_come_from_the_runs_and_effects_from_their_pairs(tmp_path, capsys):
    # 32 epochs lowers the error by 0.30 points at every other setting, lr=0.006 raises it by 0.10,
    # label smoothing changes nothing; a little noise from the smoothing level
    fake_sweep(tmp_path, {"epochs": [24, 32], "lr": [0.003, 0.006], "label_smoothing": [0.0, 0.1]},
               lambda p: 1.0 - 0.3 * (p["epochs"] == 32) + 0.1 * (p["lr"] == 0.006)
               + 0.02 * (p["label_smoothing"] > 0) * (1 if p["epochs"] == p["lr"] * 8000 else -1))
    runs, factors = study3_choose.load_runs(tmp_path)
    assert factors == {"epochs": [24, 32], "label_smoothing": [0.0, 0.1], "lr": [0.003, 0.006]}  # seed, run_name, img are not
    eff = study3_choose.effects(runs, factors)
    assert eff["epochs"]["pairs"] == 4 and eff["epochs"]["mean"] == pytest.approx(-0.3, abs=0.02)
    assert eff["lr"]["mean"] == pytest.approx(0.1, abs=0.02)
    assert study3_choose.main([str(tmp_path), "--flags"]) == 0
    # a helpful factor is kept, a harmful or null one not
    assert capsys.readouterr().out.strip() == "--epochs=32 --label-smoothing=0.0 --lr=0.003"


def test_a_gain_inside_the_noise_keeps_the_cheaper_level(tmp_path, capsys):
    noise = {(256, 0.0): 0.0, (128, 0.0): -0.5, (256, 0.1): 0.0, (128, 0.1): +0.4}
    fake_sweep(tmp_path, {"batch_size": [128, 256], "label_smoothing": [0.0, 0.1]},
               lambda p: 2.0 + noise[(p["batch_size"], p["label_smoothing"])])
    runs, factors = study3_choose.load_runs(tmp_path)
    assert factors["batch_size"] == [256, 128]  # the larger batch is the cheaper level, listed first
    study3_choose.main([str(tmp_path), "--flags"])
    assert capsys.readouterr().out.strip() == "--batch-size=256 --label-smoothing=0.0"


def test_a_test_set_run_is_refused(tmp_path):
    fake_sweep(tmp_path, {"lr": [0.001, 0.003]}, lambda p: 1.0, scored_on="rts")
    with pytest.raises(study3_choose.UsageError, match="not one validation set"):
        study3_choose.load_runs(tmp_path)
    assert study3_choose.cli(lambda: study3_choose.main([str(tmp_path)])) == 2


def test_three_levels_are_refused_with_what_to_do(tmp_path):
    fake_sweep(tmp_path, {"lr": [0.001, 0.003, 0.01]}, lambda p: 1.0)
    with pytest.raises(study3_choose.UsageError, match="lr takes 3 values"):
        study3_choose.load_runs(tmp_path)


def test_no_finished_run_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    assert study3_choose.main([str(tmp_path)]) == 2
    assert "run its sweep file" in capsys.readouterr().err


def test_blocks_runtime_keys_and_inert_keys_are_never_factors(tmp_path, capsys):
    """Datasets and seeds are blocks (runs pair within them), the device is where a run ran, a key
    missing from an older config is its default, and the EMA warm-up without an EMA changes nothing."""
    import itertools
    for i, (ds, seed, ema) in enumerate(itertools.product(["rts", "cluttered"], [1, 2], [0.0, 0.999])):
        run = tmp_path / "runs" / f"r{i}"
        run.mkdir(parents=True)
        cfg = {"dataset": ds, "variant": "affine", "seed": seed, "holdout": 10000, "ema": ema, "device": ["cpu", "cuda"][i % 2]}
        if i % 4:  # some saved before the key existed
            cfg["ema_warmup"] = True
        (run / "config.json").write_text(json.dumps(cfg))
        err = 1.0 + seed * 0.1 + (0.5 if ds == "cluttered" else 0) - (0.3 if ema else 0)
        (run / "final.json").write_text(json.dumps({"test": {f"{ds}-val": {"accuracy": 1 - err / 100}}}))
    runs, factors = study3_choose.load_runs(tmp_path)
    assert list(factors) == ["ema"]
    eff = study3_choose.effects(runs, factors)
    assert eff["ema"]["pairs"] == 4 and eff["ema"]["mean"] == pytest.approx(-0.3)
    assert study3_choose.main([str(tmp_path), "--flags"]) == 0
    assert capsys.readouterr().out.strip() == "--ema=0.999"


def test_factors_that_change_together_are_one_line_and_exit_2(tmp_path, capsys):
    for i, (lr, ls) in enumerate([(0.001, 0.0), (0.003, 0.1)]):
        run = tmp_path / "runs" / f"r{i}"
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"dataset": "rts", "variant": "affine", "seed": 1, "holdout": 100, "lr": lr, "label_smoothing": ls}))
        (run / "final.json").write_text(json.dumps({"test": {"rts-val": {"accuracy": 0.99}}}))
    assert study3_choose.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "label_smoothing, lr alone" in err[0]


def test_one_pair_is_reported_as_undecided(tmp_path, capsys):
    fake_sweep(tmp_path, {"ema": [0.0, 0.999]}, lambda p: 1.0 - 0.5 * (p["ema"] > 0))
    (tmp_path / "runs" / "r9").mkdir()
    (tmp_path / "runs" / "r9" / "config.json").write_text("{}")  # a run still going
    assert study3_choose.main([str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "| ema | 0.0 -> 0.999 | 1 | -0.500 |" in out.out and "0.0 (undecided: 1 pair," in out.out
    assert "1 run(s)" in out.err and "not finished" in out.err


def test_two_equal_pairs_decide_nothing(tmp_path, capsys):
    """Two pairs that differ by the same 0.05 points have a standard error of 0; that is no evidence."""
    fake_sweep(tmp_path, {"epochs": [24, 32], "lr": [0.003, 0.006]},
               lambda p: 0.87 - 0.05 * (p["epochs"] == 32) + 0.06 * (p["lr"] == 0.006))
    assert study3_choose.main([str(tmp_path), "--flags"]) == 0
    assert capsys.readouterr().out.strip() == "--epochs=24 --lr=0.003"


def test_the_threshold_is_students_t_for_the_pairs():
    eff = {"ls": {"pairs": 4, "mean": -0.30, "se": 0.10}}  # 3.0 s.e.: beyond t(3) = 3.182? no
    assert study3_choose.choose(eff, {"ls": [0.0, 0.1]}) == {"ls": 0.0}
    eff["ls"]["pairs"] = 16  # the same 3.0 s.e. with 15 degrees of freedom: beyond 2.131
    assert study3_choose.choose(eff, {"ls": [0.0, 0.1]}) == {"ls": 0.1}
