"""Study 3's building blocks: the paper's models, the downsampling rule, EMA, the validation
split, and P-STN's evaluation draws."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import variants
from common import data
from common.config import Config
from common.errors import UsageError
from common.models import PaperCNN, PaperLocNet, count_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("size", [21, 28, 30, 42])
def test_paper_classifier_takes_every_canvas_it_meets(size):
    clf = PaperCNN((1, size, size))
    assert clf(torch.rand(3, 1, size, size)).shape == (3, 10)
    convs = [m for m in clf.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(9, 9), (7, 7)]  # conv 9x9, conv 7x7 (section 4.1)


def test_paper_classifier_refuses_a_canvas_too_small():
    with pytest.raises(UsageError, match="21x21"):
        PaperCNN((1, 14, 14))


@pytest.mark.parametrize("size", [28, 42, 60])
def test_paper_localisation_net_sees_a_half_size_input_and_has_20_features(size):
    loc = PaperLocNet((1, size, size))
    assert loc(torch.rand(2, 1, size, size)).shape == (2, 20)
    convs = [m for m in loc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(20, (5, 5)), (20, (5, 5))]
    assert isinstance(loc.features[0], torch.nn.AvgPool2d)  # the 2x downsampling comes first


@pytest.mark.parametrize("dataset,variant,side", [("rotated", "affine", 28), ("rts", "affine", 21), ("cluttered", "tps", 30),
                                                  ("rts", "glimpse", 28), ("rts", "none", 42), ("cluttered", "polar", 28)])
def test_auto_downsampling_halves_only_outputs_above_digit_size(dataset, variant, side):
    cfg = Config(variant=variant, dataset=dataset, classifier="paper", loc_net="paper", st_downsample=0)
    model = variants.build_model(cfg)
    seen = []
    model.classifier.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[-1]))
    size = data.image_size(dataset)
    assert model(torch.rand(2, 1, size, size)).shape == (2, 10) and seen == [side]


def test_a_downsampling_that_does_not_divide_the_output_is_refused():
    with pytest.raises(UsageError, match="st-downsample=3"):
        variants.build_model(Config(variant="affine", dataset="mnist", st_downsample=3))


class _Stream:
    """Four fixed batches of random images: enough for the trainer's loop."""

    def __init__(self, n=4, b=8):
        g = torch.Generator().manual_seed(0)
        self.data = [(torch.rand(b, 1, 28, 28, generator=g), torch.randint(0, 10, (b,), generator=g)) for _ in range(n)]
        self.labels = torch.cat([y for _, y in self.data])

    def __len__(self):
        return len(self.data)

    def permutation(self):
        return None

    def batches(self, perm, start=0):
        for i in range(start, len(self.data)):
            yield i, (*self.data[i], {})

    def state(self):
        return torch.zeros(1)

    def set_state(self, s):
        pass


def test_ema_is_what_is_evaluated_and_kept(tmp_path):
    from common.trainer import Trainer

    torch.manual_seed(0)
    cfg = Config(variant="affine", ema=0.5, epochs=2, lr=1e-2)
    model = variants.build_model(cfg)
    x, y = _Stream().data[0]
    ts = data.TestSet("t", (x * 255).to(torch.uint8), y, {})
    tr = Trainer(cfg, model, _Stream(), ts, torch.device("cpu"), checkpoint=tmp_path / "c.pt", show=False)
    assert tr.eval_model is tr.ema.module
    tr.run()
    ema = tr.ema.module.state_dict()
    assert all(torch.equal(v, ema[k]) for k, v in model.state_dict().items())  # the kept model is the average
    saved = torch.load(tmp_path / "c.pt", weights_only=False)
    assert saved["ema"] is not None and all(torch.equal(v, saved["model"][k]) for k, v in ema.items())


def test_ema_warmup_lets_the_average_leave_the_initial_weights(tmp_path):
    """At decay 0.999, 8 steps leave 99% of the average at the random initial weights; with timm's
    warm-up the average follows the trained weights instead."""
    from common.trainer import Trainer

    def distance_to_init(warmup: bool) -> float:
        torch.manual_seed(0)
        cfg = Config(variant="affine", ema=0.999, ema_warmup=warmup, epochs=2, lr=1e-2)
        model = variants.build_model(cfg)
        init = {k: v.clone() for k, v in model.state_dict().items()}
        ts = data.TestSet("t", (_Stream().data[0][0] * 255).to(torch.uint8), _Stream().data[0][1], {})
        tr = Trainer(cfg, model, _Stream(), ts, torch.device("cpu"), checkpoint=tmp_path / f"{warmup}.pt", show=False)
        tr.run()
        kept = model.state_dict()  # the average, loaded into the model at the end
        return sum(float((kept[k] - v).norm()) for k, v in init.items() if v.is_floating_point())

    assert distance_to_init(True) > 20 * distance_to_init(False)


def test_validation_split_holds_out_the_last_digits_and_never_the_test_set(mnist):
    (train_x, train_y), (test_x, _) = mnist
    rest_x, rest_y, val = data.validation_split("rts", train_x, train_y, 200)
    assert torch.equal(rest_x, train_x[:-200]) and torch.equal(val.labels, train_y[-200:])
    assert val.name == "rts-val" and val.images.shape == (200, 1, 42, 42)
    again = data.validation_split("rts", train_x, train_y, 200)[2]
    assert torch.equal(again.images, val.images)  # fixed by its own seed
    with pytest.raises(UsageError, match="holdout"):
        data.validation_split("rts", train_x, train_y, len(train_x))


def test_a_holdout_run_never_loads_a_test_set(data_root, tmp_path, monkeypatch, capsys):
    import train

    def refuse(*a, **k):
        raise AssertionError("a --holdout run loaded a test set")

    monkeypatch.setattr(data, "load_test_set", refuse)
    cfg = Config(variant="affine", dataset="rotated", holdout=100, train_limit=200, epochs=1, batch_size=50, data_root=str(data_root),
                 out_dir=str(tmp_path), run_name="h", img=str(tmp_path / "stn.png"), wandb=False)
    final = train.run(cfg)
    assert list(final["test"]) == ["rotated-val"] and final["test"]["rotated-val"]["n"] == 100
    rows = json.loads((tmp_path / "h" / "metrics.json").read_text())
    assert [r["eval_set"] for r in rows] == ["rotated-val"]  # per epoch, too, the file says what was scored
    import evaluate
    assert evaluate.main([str(tmp_path / "h"), "--wandb=False"]) == 2  # a recipe candidate is not scored on test sets
    assert "--holdout-runs" in capsys.readouterr().err
    assert not (tmp_path / "h" / "eval").exists()


def test_a_holdout_run_logs_validation_not_test_metrics():
    from common.config import summary_metrics
    assert {"val/accuracy", "val/loss"} <= summary_metrics(Config(holdout=100)) and "test/accuracy" not in summary_metrics(Config(holdout=100))
    assert "test/accuracy" in summary_metrics(Config()) and "val/accuracy" not in summary_metrics(Config())


def test_a_validation_run_is_no_cell_of_the_study3_table(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_table

    for sweep, name, holdout, acc in (("study3", "final", 0, 0.9912), ("study3_rts_val", "val", 10000, 0.9990)):
        run = tmp_path / sweep / "runs" / name
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"dataset": "rts", "variant": "affine", "coordconv": False, "seed": 1,
                                                     "epochs": 1, "holdout": holdout}))
        (run / "metrics.json").write_text(json.dumps([{"epoch": 1, "test_accuracy": acc, "epoch_seconds": 60.0}]))
        (run / "final.json").write_text("{}")
    assert study3_table.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "0.88 (1 seed)" in out and "0.10" not in out and "| val |" not in out


def test_pstn_evaluation_does_not_depend_on_batch_size_or_position():
    torch.manual_seed(0)
    model = variants.build_model(Config(variant="pstn")).eval()
    with torch.no_grad():
        model.transformer.fc.weight.normal_(0, 0.5)
    x = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        full = model(x)
        assert torch.allclose(full[:2], model(x[:2]), atol=1e-6) and torch.allclose(full[4:], model(x[4:]), atol=1e-6)
        assert count_params(model.transformer) > 0


def test_a_run_saved_before_a_key_existed_is_rebuilt_as_it_was():
    """diffeo had no velocity bound before diffeo_max: an old diffeo config rebuilds unbounded, a
    resume of it with today's default is refused, and other heads do not care about the key."""
    from common.config import saved

    old = {k: v for k, v in Config(variant="diffeo").to_dict().items() if k != "diffeo_max"}
    assert Config(**saved(old)).diffeo_max == 0.0
    assert variants.build_model(Config(**saved(old))).transformer.vmax == 0.0
    assert Config(variant="diffeo").differs(old) == ["diffeo_max"]
    old_affine = {k: v for k, v in Config(variant="affine").to_dict().items() if k != "diffeo_max"}
    assert Config(variant="affine").differs(old_affine) == []
    assert Config(variant="affine", tps_grid=6).differs(Config(variant="affine").to_dict()) == []  # another head's option


def test_an_unreadable_checkpoint_names_its_cause(tmp_path):
    from common.trainer import read_checkpoint

    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UsageError, match=r"is corrupt or not a stn-lab checkpoint \(\w+\); point at a run folder"):
        read_checkpoint(bad)  # evaluate's and pack's advice; train.py's resume passes its own
    torch.save({"model": {}}, bad)
    with pytest.raises(UsageError, match="no config"):
        read_checkpoint(bad)


def _cell(root, sweep, name, dataset, variant, seed, acc, finished=True, coordconv=False):
    run = root / sweep / "runs" / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"dataset": dataset, "variant": variant, "coordconv": coordconv, "seed": seed, "epochs": 2}))
    (run / "metrics.json").write_text(json.dumps([{"epoch": 1, "test_accuracy": acc, "epoch_seconds": 60.0}] * (2 if finished else 1)))
    if finished:
        (run / "final.json").write_text("{}")


def test_headline_table_means_seeds_brackets_the_independent_set_and_bolds_only_at_the_paper(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_table

    sweeps, ext = tmp_path / "sweeps", tmp_path / "ext"
    _cell(sweeps, "study3", "a1", "rotated", "affine", 1, 0.9930)
    _cell(sweeps, "study3", "a2", "rotated", "affine", 2, 0.9934)  # mean 0.68 <= paper 0.7: bold
    _cell(sweeps, "study3", "t1", "rts", "tps", 1, 0.9910)  # 0.90 > paper 0.5: not bold
    _cell(sweeps, "study3", "i1", "cluttered", "iterative", 1, 0.98, finished=False)
    _cell(sweeps, "study3", "t2", "rotated", "tps", 1, 0.9931)  # 0.69 <= 0.7 but not the lowest: not bold
    _cell(sweeps, "study3_newheads", "g1", "rotated", "glimpse", 1, 0.9950)  # 0.50: glimpse is affine on 28 px, not a head
    _cell(sweeps, "study3_newheads", "p1", "rts", "pstn", 1, 0.9920)
    (ext / "rotated").mkdir(parents=True)
    (ext / "rotated" / "sets.json").write_text(json.dumps({r: {"rotated": {"error": 0.01}, "rotated-ext": {"error": e}}
                                                           for r, e in (("a1", 0.0080), ("a2", 0.0060))}))
    assert study3_table.main([str(sweeps), "--headline", "--ext", str(ext)]) == 0
    rows = {c[0]: c[1:] for c in (line.strip("| ").split(" | ") for line in capsys.readouterr().out.splitlines()[2:])}
    affine = next(v for k, v in rows.items() if k.startswith("ours, affine"))
    assert affine[0] == "0.68 ± 0.03 [2] (0.70)"  # mean ± sd [seeds], the independent set's mean in brackets
    assert next(v for k, v in rows.items() if k.startswith("ours, TPS"))[1] == "0.90"  # no independent score: no bracket
    assert next(v for k, v in rows.items() if k.startswith("ours, iterative"))[4] == "unfinished"
    assert next(v for k, v in rows.items() if k.startswith("ours, TPS"))[0] == "0.69"
    assert next(v for k, v in rows.items() if k.startswith("ours, glimpse"))[0] == "0.50, = affine"
    assert next(v for k, v in rows.items() if k.startswith("ours, pstn"))[:2] == ["–", "0.80"]  # every new head has its row
    assert next(v for k, v in rows.items() if k.startswith("ours, polar")) == ["–"] * 5
    lowest = next(v for k, v in rows.items() if k.startswith("ours, lowest"))
    # new heads count, glimpse on 28 px does not; bold only at or below the paper's best ST-CNN (R 0.7; RTS 0.5)
    assert lowest[:2] == ["affine: **0.68 ± 0.03 [2]** (0.70)", "pstn: 0.80"]
    with pytest.raises(UsageError, match="--ext"):  # a missing --ext is refused (runs.cli makes it one line, exit 2)
        study3_table.main([str(sweeps), "--headline", "--ext", str(tmp_path / "nowhere")])


def test_verdicts_call_a_gap_only_beyond_the_seed_spread_of_three_seeds(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_table

    assert study3_table.gap([0.6, 0.6, 0.6], [0.8, 0.8]) == pytest.approx((-0.2, "needs 3 seeds each (so far 3 against 2)"))
    assert study3_table.gap([0.5, 0.6, 0.7], [0.8, 0.9, 1.0])[1] == "beyond the spread"  # gap 0.3 > sd 0.1 + 0.1
    assert study3_table.gap([0.5, 0.7, 0.9], [0.8, 0.9, 1.0])[1] == "within the spread"  # gap 0.2 < 0.2 + 0.1
    assert study3_table.welch_p([0.7] * 3, [0.8] * 3) == "–"  # no spread in either cell: the test is undefined
    assert study3_table.welch_p([0.7], [0.8, 0.9]) == "–"
    assert study3_table.welch_p([0.7] * 3, [0.8, 0.9, 1.0]) == "0.07"  # one cell without spread: still a test
    assert study3_table.welch_p([0.5, 0.51, 0.52], [0.9, 0.91, 0.92]) == "<0.01"  # never printed as 0.00
    assert study3_table.holm([("a", 0.004), ("b", 0.02), ("c", 0.03)]) == ["a", "b", "c"]  # 0.004 < .05/3, .02 < .05/2, .03 < .05
    assert study3_table.holm([("c", 0.03), ("a", 0.001), ("b", 0.04)]) == ["a"]  # 0.03 > 0.05/2 stops the walk
    assert study3_table.holm([("a", 0.03), ("b", 0.6)]) == []  # 0.03 alone would pass; one of two must be < 0.025
    assert study3_table.holm([("b", 0.02), ("a", 0.02)]) == ["b", "a"]  # a tie: 0.02 < .05/2, then < .05; kept in p order
    sweeps = tmp_path / "sweeps"
    for seed, (it, ps, gl, po) in enumerate([(0.9931, 0.9945, 0.9960, 0.990), (0.9929, 0.9944, 0.9961, 0.991),
                                             (0.9930, 0.9946, 0.9959, 0.992)], start=1):
        _cell(sweeps, "study3", f"i{seed}", "rts", "iterative", seed, it)  # RTS: iterative 0.70 ± 0.01
        _cell(sweeps, "study3_newheads", f"p{seed}", "rts", "pstn", seed, ps)  # 0.55: lower beyond the spread
        _cell(sweeps, "study3_newheads", f"g{seed}", "rotated", "glimpse", seed, gl)  # 28 px: the affine model, never compared
        _cell(sweeps, "study3_newheads", f"o{seed}", "rts", "polar", seed, po)  # higher beyond the spread: no win
        _cell(sweeps, "study3", f"a{seed}", "rts", "affine", seed, 1 - (0.7 + 0.1 * seed) / 100)  # 0.90 ± 0.10: above iterative
        _cell(sweeps, "study3_coordconv", f"c{seed}", "rts", "affine", seed, 1 - (0.75 + 0.05 * seed) / 100, coordconv=True)
    _cell(sweeps, "study3", "n1", "rotated", "none", 1, 0.95)
    _cell(sweeps, "study3", "m1", "rts", "moments", 1, 0.9925)
    done, _ = study3_table.load(sweeps, [])
    lines = study3_table.verdicts(done, planned={("rts", "iterative")})
    assert "| RTS | pstn | 0.55 (3) | 0.5 | short by 0.05 points |" in lines  # the target row takes any transformer head
    assert "| RTS | pstn | iterative | -0.15 | beyond the spread | <0.01 |" in lines  # Welch p: sds 0.01, 3 seeds each
    assert "| RTS | polar | iterative | +0.20 | beyond the spread | 0.07 |" in lines  # 0.20 > sd 0.10 + 0.01, yet p 0.07
    recurrent = lines[lines.index("| set | head | head − iterative (points) | verdict | Welch p |") + 2:]
    assert recurrent[:2] == ["| RTS | affine | +0.20 | beyond the spread | 0.07 |",  # 0.20 > 0.10 + 0.01
                             "| RTS | moments | +0.05 | needs 3 seeds each (so far 1 against 3) | – |"]  # conventional heads and `none` only
    assert recurrent[2] == ""
    assert "| RTS | affine | -0.05 | within the spread | 0.50 |" in lines  # CoordConv 0.85 ± 0.05 minus Conv 0.90 ± 0.10
    assert not any(line.startswith("| R |") for line in lines)  # rotated: only `none` and glimpse-as-affine, no head to rank
    assert lines[-3].startswith("Sets where a new head is lower beyond the spread: RTS (1 of the 2")
    # four p values (<0.01, 0.07, 0.07, 0.50): Holm keeps the smallest (< 0.05 / 4), stops at 0.07 (> 0.05 / 3)
    assert lines[-1].startswith("The Welch p values above are each one comparison's; with 4 of them")
    assert lines[-1].endswith("keeps: RTS pstn − iterative.")
    # a conventional head of the grid with no finished run on the set: no new head is judged there yet
    lines = study3_table.verdicts(done, planned={("rts", "iterative"), ("rts", "tps")})
    assert "| RTS | pstn | iterative | -0.15 | needs tps (no finished run yet) | <0.01 |" in lines
    assert lines[-3].startswith("Sets where a new head is lower beyond the spread: none")
    for seed, acc in ((4, 0.9955), (5, 0.9960)):  # iterative 0.70 ± 0.01 -> 0.59 ± 0.15 over five seeds: 0.09 above 0.5, within one sd
        _cell(sweeps, "study3", f"i{seed}", "rts", "iterative", seed, acc)
    _cell(sweeps, "study3_newheads", "p4", "rts", "pstn", 4, 0.990)  # pstn's mean rises above iterative's
    lines = study3_table.verdicts(study3_table.load(sweeps, [])[0], planned=set())
    assert any(line.startswith("| RTS | iterative |") and line.endswith("short by 0.09 points (within one seed sd) |") for line in lines)


def test_study3_plot_draws_every_finished_seed_of_each_cell_and_refuses_a_folder_without_runs(tmp_path, cli):
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_plot

    sweeps = tmp_path / "sweeps"
    for seed, acc in ((1, 0.9930), (2, 0.9920)):
        _cell(sweeps, "study3", f"a{seed}", "rts", "affine", seed, acc)
    _cell(sweeps, "study3_coordconv", "c1", "rts", "affine", 1, 0.9940, coordconv=True)
    _cell(sweeps, "study3_newheads", "g1", "rotated", "glimpse", 1, 0.9950)  # 28 px: the affine model, not drawn
    _cell(sweeps, "study3", "n1", "rotated", "none", 1, 0.9890)
    _cell(sweeps, "study3", "t1", "rts", "tps", 1, 0.98, finished=False)  # cut short: in no cell
    done, _ = study3_plot.t.load(sweeps, [])
    pts = study3_plot.points(done, {"a2": 0.66})
    assert list(pts) == ["rotated", "rts"]
    assert [c[0] for c in pts["rotated"]] == ["none"]
    (lab, ours, theirs), (cc_lab, cc_ours, _) = pts["rts"]
    assert (lab, cc_lab) == ("affine", "affine CC")
    assert ours == pytest.approx([0.70, 0.80]) and theirs == [0.66] and cc_ours == pytest.approx([0.60])
    out = tmp_path / "img" / "errors.png"
    study3_plot.plot(pts, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = cli("scripts/study3_plot.py", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.png"), cwd=ROOT)
    assert r.returncode == 2 and "no study-3 runs under" in r.stderr and not (tmp_path / "x.png").exists()
    _cell(tmp_path / "cut", "study3", "u1", "rts", "tps", 1, 0.98, finished=False)  # runs, none finished: nothing to draw
    (tmp_path / "ext").mkdir()
    r = cli("scripts/study3_plot.py", str(tmp_path / "cut"), "--ext", str(tmp_path / "ext"), "-o", str(tmp_path / "x.png"), cwd=ROOT)
    assert r.returncode == 2 and "no finished study-3 run under" in r.stderr and not (tmp_path / "x.png").exists()


def test_study3_refresh_replaces_only_the_tables_and_refuses_a_document_that_lost_one(tmp_path, capsys, cli):
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_refresh

    sweeps = tmp_path / "results/study3/sweeps"
    for seed, acc in ((1, 0.9930), (2, 0.9920)):
        _cell(sweeps, "study3", f"a{seed}", "rts", "affine", seed, acc)
    (tmp_path / "results/study3/external/rts").mkdir(parents=True)
    (tmp_path / "results/study3/external/rts/sets.json").write_text(json.dumps({"a2": {
        "rts": {"accuracy": 0.992, "error": 0.008, "n": 10000}, "rts-ext": {"accuracy": 0.991, "error": 0.009, "n": 10000}}}))
    _evaluated(tmp_path / "results/study3/metrics", "i1", "rotated", "iterative", 1, {"rotated": 0.7, "projective": 20.0})
    (tmp_path / "docs").mkdir()
    docs = ("# Study 3\n\nBefore.\n\n| head | R ours | R paper |\n|---|---|---|\n| stale | 9.99 | 0.7 |\n\nBetween.\n\n"
            "| set | head | ours (95% CI) | independent set (95% CI) | change |\n|---|---|---|---|---|\n| RTS | old | 8.88 |\n\nAfter, by hand.\n")
    (tmp_path / "docs/study3.md").write_text(docs)
    (tmp_path / "README.md").write_text("Intro.\n\n| | R | RTS | P | E | TC |\n|---|\n| old | 9.99 |\n\nWhere it stands.\n")
    assert study3_refresh.main(["--root", str(tmp_path)]) == 0
    new_docs, readme = (tmp_path / "docs/study3.md").read_text(), (tmp_path / "README.md").read_text()
    assert "9.99" not in new_docs + readme and "stale" not in new_docs and "8.88" not in new_docs
    assert new_docs.startswith("# Study 3\n\nBefore.\n\n| head | R ours |") and new_docs.endswith("|\n\nAfter, by hand.\n")
    assert "|\n\nBetween.\n\n| set | head | ours" in new_docs and "\n| RTS | affine, seed 2 | 0.80 (" in new_docs
    assert "| affine | – | 0.7 | 0.75 ± 0.07 (2 seeds) | 0.5 |" in new_docs
    assert "| ours, affine head" in readme and "0.75 ± 0.07 [2]" in readme and readme.endswith("|\n\nWhere it stands.\n")
    import study3_table

    assert study3_table.main([str(sweeps)]) == 0
    assert (tmp_path / "results/study3/table.md").read_text() == capsys.readouterr().out
    assert (tmp_path / "docs/img/study3_errors.png").read_bytes()[:4] == b"\x89PNG"
    assert not list((tmp_path / "docs/img").glob("*.tmp"))  # its scratch folder is gone
    assert "| R | iterative | 0.70* | 20.00 | 0.130 |" in (tmp_path / "results/study3/transfer.md").read_text()
    # a README whose headline table lost its header row: one line naming the fix, exit 2, nothing rewritten
    (tmp_path / "README.md").write_text("Intro, no table.\n")
    (tmp_path / "docs/study3.md").write_text(docs)
    (tmp_path / "results/study3/table.md").unlink()
    r = cli("scripts/study3_refresh.py", "--root", str(tmp_path), cwd=ROOT)
    assert r.returncode == 2 and "README.md has 0 lines starting '| | R | RTS | P | E | TC |', not one" in r.stderr
    assert not (tmp_path / "results/study3/table.md").exists() and (tmp_path / "docs/study3.md").read_text() == docs
    # the splice: a header on the first line, a table with no blank line after it, a header twice
    assert study3_refresh.splice("| h |\n|---|\n| 1 |\nText.\n", "| h |", "| h |\n|---|\n| 2 |\n", "f") == "| h |\n|---|\n| 2 |\nText.\n"
    assert study3_refresh.splice("A\n| h |\n| 1 |", "| h |", "| h |\n| 2 |", "f") == "A\n| h |\n| 2 |\n"
    with pytest.raises(UsageError, match="f has 2 lines starting"):
        study3_refresh.splice("| h |\n\n| h |\n", "| h |", "| h |\n", "f")


def _evaluated(root, name, dataset, variant, seed, errors, nll=0.13, coordconv=False, robustness=None):
    run = root / name
    (run / "eval").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"dataset": dataset, "variant": variant, "coordconv": coordconv, "seed": seed}))
    nlls = nll if isinstance(nll, dict) else {s: nll for s in errors}
    ev = {"dataset": dataset, "sets": {s: {"error": e / 100, "nll": nlls[s]} for s, e in errors.items()}}
    if robustness:  # (rotation AUC, accuracy at 180 degrees, scale AUC), the curve around it made up
        auc, at180, scale = robustness
        ev["robustness"] = {"rotation_auc": auc, "scale_auc": scale,
                            "rotation_curve": {"degrees": [-180, 0, 180], "accuracy": [at180, 0.99, at180]}}
    (run / "eval/eval.json").write_text(json.dumps(ev))


def test_study3_transfer_tabulates_robustness_beyond_the_training_range_over_seeds(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_transfer

    for seed, (auc, at180) in enumerate([(0.96, 0.88), (0.962, 0.89), (0.964, 0.90)], start=1):
        _evaluated(tmp_path, f"p{seed}", "rotated", "polar", seed, {"rotated": 1.0}, robustness=(auc, at180, 0.89))
    _evaluated(tmp_path, "i1", "rts", "iterative", 1, {"rts": 0.7}, robustness=(0.71, 0.45, 0.993))
    _evaluated(tmp_path, "n1", "rts", "none", 1, {"rts": 1.0})  # scored before robustness was: no row
    _evaluated(tmp_path, "c1", "rts", "affine", 1, {"rts": 0.7}, coordconv=True, robustness=(0.66, 0.46, 0.992))
    _evaluated(tmp_path, "a1", "rts", "affine", 1, {"rts": 0.8}, robustness=(0.663, 0.46, 0.992))
    lines = study3_transfer.robustness_table(study3_transfer.robustness(tmp_path))
    assert lines[3:] == ["| R | polar | 0.962 ± 0.002 [3] | 89.0 ± 1.0 [3] | 0.890 ± 0.000 [3] |",
                         "| RTS | affine | 0.663 | 46.0 | 0.992 |", "| RTS | iterative | 0.710 | 45.0 | 0.993 |",
                         "| RTS | affine CoordConv | 0.660 | 46.0 | 0.992 |"]  # the study's head order, CoordConv after Conv
    assert study3_transfer.main([str(tmp_path)]) == 0
    assert "| R | polar | 0.962 ± 0.002 [3] | 89.0 ± 1.0 [3] | 0.890 ± 0.000 [3] |" in capsys.readouterr().out
    _evaluated(tmp_path, "p1-rerun", "rotated", "polar", 1, {"rotated": 1.0}, robustness=(0.96, 0.88, 0.89))
    with pytest.raises(UsageError, match="two runs .* are polar on rotated .*seed 1: keep one"):
        study3_transfer.robustness(tmp_path)
    ev = tmp_path / "p1-rerun/eval/eval.json"
    ev.write_text(ev.read_text().replace("180]", "165]"))  # a curve that stops short of 180°: named, not a silent nan
    (tmp_path / "p1/eval/eval.json").unlink()
    with pytest.raises(UsageError, match="p1-rerun's rotation curve has no 180° point"):
        study3_transfer.robustness(tmp_path)


def test_study3_transfer_scores_heads_off_their_training_set_and_judges_only_three_seed_cells(tmp_path, capsys, cli):
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_transfer

    for seed, (it, ps) in enumerate([(20.0, 13.0), (18.0, 13.5), (22.0, 14.0)], start=1):
        _evaluated(tmp_path, f"i{seed}", "rotated", "iterative", seed, {"rotated": 0.7, "projective": it},
                   nll={"rotated": 0.11 + 0.01 * seed, "projective": 0.9})  # own-set NLL 0.12-0.14: mean 0.130
        _evaluated(tmp_path, f"p{seed}", "rotated", "pstn", seed, {"rotated": 0.7 + 0.05 * seed, "projective": ps})
        _evaluated(tmp_path, f"c{seed}", "rotated", "iterative", seed, {"rotated": 0.6, "projective": 30.0, "mnist": 0.5},
                   coordconv=True)  # its own row; never compared, never mixed into the Conv cell
    _evaluated(tmp_path, "a1", "rotated", "affine", 1, {"rotated": 0.8, "projective": 17.0})
    _evaluated(tmp_path, "r1", "rts", "affine", 1, {"rts": 0.8})  # scored on its own set only: no row
    lines = study3_transfer.table(study3_transfer.load(tmp_path))
    assert "| R | iterative | – | 0.70 ± 0.00 [3]* | 20.00 ± 2.00 [3] | 0.130 |" in lines
    assert "| R | iterative CoordConv | 0.50 ± 0.00 [3] | 0.60 ± 0.00 [3]* | 30.00 ± 0.00 [3] | 0.130 |" in lines
    assert not any(line.startswith("| R | iterative | MNIST") for line in lines)
    assert "| R | affine | – | 0.80* | 17.00 | 0.130 |" in lines and not any(line.startswith("| RTS") for line in lines)
    assert "| R | pstn | P | -6.50 | beyond the spread | 0.02 |" in lines  # 6.5 > sd 2.0 + 0.5
    assert "| R | pstn | R* | +0.10 | beyond the spread | 0.07 |" in lines  # 0.10 > 0.05 + 0, yet p 0.07
    assert not any(line.startswith("| R | affine | P |") for line in lines)  # one seed: waits, not judged
    assert "2 more comparisons wait for 3 seeds in both cells." in lines
    assert lines[-1] == "Holm's correction over the 2 Welch p values above (family-wise error 0.05) keeps: R pstn on P."
    r = cli("scripts/study3_transfer.py", str(tmp_path / "none"), cwd=ROOT)
    assert r.returncode == 2 and r.stderr == f"error: no folder {tmp_path / 'none'}; pass a folder that holds run folders (e.g. results/study3/metrics)\n"
    (tmp_path / "empty").mkdir()  # a folder, but of no evaluated runs: says which files it lacks and who writes them
    r = cli("scripts/study3_transfer.py", str(tmp_path / "empty"), cwd=ROOT)
    assert r.returncode == 2 and "scripts/study3_metrics.sh writes them" in r.stderr and "(e.g. results/study3/metrics)" in r.stderr
    _evaluated(tmp_path, "p1-rerun", "rotated", "pstn", 1, {"rotated": 0.7})  # a second seed-1 pstn: refused, not averaged in
    with pytest.raises(UsageError, match="two runs .* are pstn on rotated .*seed 1: keep one"):
        study3_transfer.load(tmp_path)


def test_what_is_left_is_the_whole_grid_before_any_run_and_priced_as_head_costs_prices_it(tmp_path):
    """With no finished run, the runs left are the three sweep files' 129 and their hours add up to
    the grid total head_costs.py printed from the same per-run minutes; a head it did not time is "–".
    Under the table: the cells with every seed (and the short ones, named), and how long the finished
    CPU-only runs took against their price."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_table

    def table(lines):
        return [line.strip("| ").split(" | ") for line in lines if line[:3] in ("| 1", "| 2", "| 3")]

    costs = ROOT / "results/study3/head_costs.md"
    empty = study3_table.left({}, costs=costs)
    rows = table(empty)
    assert [r[0] for r in rows] == ["1", "2", "3"] and sum(int(r[1]) for r in rows) == 129
    total = float(re.search(r"129 runs, ([\d.]+) hours", costs.read_text()).group(1))
    assert sum(float(r[2]) for r in rows) == pytest.approx(total, abs=0.2)
    assert "Cells with every seed finished: 0 of 43; short: " in empty[-1] and "RTS affine (0 of 3)" in empty[-1]
    assert "RTS affine CoordConv (0 of 3)" in empty[-1] and not any("took" in line for line in empty)
    partial = tmp_path / "costs.md"
    partial.write_text("| rotated | affine | 11,086 | 119,050 | 22.3 | 2,073 | 8,572 | 1.00x | 12 min |\n")
    assert all(r[2] == "–" for r in table(study3_table.left({}, costs=partial)))
    cpu = {"error": 0.7, "seconds": 14 * 60, "machine": "CPU (2 cores)"}  # head_costs.md: RTS affine 7 min, R affine 12
    done = {("rts", "affine", False): [{"seed": s, **cpu} for s in (1, 2, 3)],
            ("rotated", "affine", False): [{"seed": 2, **cpu, "seconds": 6 * 60}, {"seed": 3, **cpu, "machine": "H200 + CPU (2 cores)"}]}
    out = study3_table.left(done, costs=costs)
    assert [r[:2] for r in table(out)] == [["1", "42"], ["2", "41"], ["3", "41"]]
    assert "every seed finished: 1 of 43;" in out[-2] and "RTS affine (" not in out[-2] and "R affine (2 of 3)" in out[-2]
    assert out[-1].startswith("The 4 finished runs that trained on a CPU alone took 2.0x their price (median; 0.5x to 2.0x")
    assert out[-2].index("R none (") < out[-2].index("R affine (") < out[-2].index("RTS none (") < out[-2].index("TC polar (")
    # a CoordConv run is priced at its Conv twin's minutes (RTS affine, 7); a head with no price is left out of the ratio
    done[("rts", "affine", True)] = [{"seed": 1, **cpu, "seconds": 70 * 60}]
    assert "took 2.0x their price (median; 0.5x to 10.0x" in study3_table.left(done, costs=costs)[-1]
    assert "The 1 finished run that trained on a CPU alone took 0.5x" in study3_table.left(done, costs=partial)[-1]


def test_readme_holds_the_headline_table_the_committed_runs_give(capsys):
    """README's study-3 table is what the script prints from results/ (regenerate it after new runs)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_table

    assert study3_table.main([str(ROOT / "results/study3/sweeps"), "--headline", "--cut", str(ROOT / "results/study3/gpu_unfinished"),
                              "--ext", str(ROOT / "results/study3/external")]) == 0
    table = capsys.readouterr().out
    assert table.strip() and f"\n\n{table}\n" in (ROOT / "README.md").read_text(), "README's study-3 table is stale: run " \
        "python scripts/study3_refresh.py (the CPU queue does after each run)"


def test_the_committed_study3_table_and_its_copy_in_the_docs_are_what_the_script_prints(capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_table

    assert study3_table.main([str(ROOT / "results/study3/sweeps"), "--cut", str(ROOT / "results/study3/gpu_unfinished")]) == 0
    def finished(table):  # runs still training in this working tree change the cut-short list (its own section), nothing else
        return re.sub(r"\n### Runs cut short.*?(?=\n### |\Z)", "", table, flags=re.S)

    printed = capsys.readouterr().out
    assert finished(printed) == finished((ROOT / "results/study3/table.md").read_text()), "results/study3/table.md is stale: run " \
        "python scripts/study3_refresh.py (the CPU queue does after each run)"
    assert printed.split("\n\n")[1] in (ROOT / "docs/study3.md").read_text(), "docs/study3.md's results table is stale: run python scripts/study3_refresh.py"


def test_the_docs_table_of_the_independent_sets_is_what_the_script_prints(capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_external_table

    assert study3_external_table.main(["--docs", "--root", str(ROOT / "results/study3/external"), "--runs", str(ROOT / "results/study3/sweeps")]) == 0
    table = capsys.readouterr().out
    assert table.count("\n") > 40 and f"\n\n{table}\n" in (ROOT / "docs/study3.md").read_text(), \
        "docs/study3.md's independent-set table is stale: run python scripts/study3_refresh.py (the CPU queue does after each run)"


def test_every_mean_and_sd_the_study3_prose_quotes_is_one_the_committed_tables_print(capsys):
    """A "mean ± sd" written by hand in README or docs/study3.md is one the study-3 scripts print
    from the committed runs (study3_table.py, study3_transfer.py); a typo or a stale value fails here."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_table
    import study3_transfer

    pair = r"(\d+\.\d+)\s*±\s*(\d+\.\d+)"  # a line break may fall on either side of the ±
    assert study3_table.main([str(ROOT / "results/study3/sweeps"), "--cut", str(ROOT / "results/study3/gpu_unfinished")]) == 0
    assert study3_transfer.main([str(ROOT / "results/study3/metrics")]) == 0
    known = set(re.findall(pair, capsys.readouterr().out))
    quoted = [(f, text.count("\n", 0, m.start()) + 1, m.groups()) for f in ("README.md", "docs/study3.md")
              for text in [(ROOT / f).read_text()] for m in re.finditer(pair, text)]
    assert len(quoted) > 20 and len(known) > 20
    wrong = [f"{f}:{i}: {a} ± {b}" for f, i, (a, b) in quoted if (a, b) not in known]
    assert not wrong, "not in results/study3's tables (copy the value from results/study3/table.md or transfer.md): " + "; ".join(wrong)


def test_the_committed_transfer_table_is_what_the_script_prints(capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import study3_transfer

    assert study3_transfer.main([str(ROOT / "results/study3/metrics")]) == 0
    assert capsys.readouterr().out == (ROOT / "results/study3/transfer.md").read_text(), "results/study3/transfer.md is stale: " \
        "run python scripts/study3_refresh.py (the CPU queue does after each run)"


def test_head_costs_counts_the_study_grid_and_prices_a_run():
    sys.path.insert(0, str(ROOT / "scripts"))
    import head_costs

    cells = head_costs.grid_runs(head_costs.GRID)
    assert len(cells) == 90 + 12 + 27 and {tuple(c[2:]) for c in cells} == {(24, 60000, 10000)}
    assert sum(c[0] == "cluttered" for c in cells) == 6 * 3 + 2 * 3 + 3 * 3
    assert head_costs.run_minutes(24, 2000.0, 8000.0) == pytest.approx(24 * (30 + 1.25) / 60)
    # a validation sweep trains on 50,000 digits and scores the 10,000 held out; epochs from its command
    val = head_costs.grid_runs([str(ROOT / "sweeps/study3_rts_val.yaml")])
    assert {c[3:] for c in val} == {(50000, 10000)} and {c[2] for c in val} == {24, 32} and {c[0] for c in val} == {"rts"}


def test_head_costs_refuses_a_grid_it_cannot_price_before_timing_anything(tmp_path, cli):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "sweeps/study3_newheads.yaml").read_text().replace("values: [glimpse", "values: [diffeo, glimpse"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nparameters: [\n")
    for f, says in ((bad, "no timing for [("), (broken, "not valid YAML")):
        r = cli(str(ROOT / "scripts/head_costs.py"), "--grid", str(f), timeout=120)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr and not r.stdout, r.stderr


def test_study3_commit_tracks_the_checkpoint_in_flight_and_untracks_a_finished_runs(tmp_path):
    """A session's end takes the ignored checkpoints with it; the commit script keeps the one in flight."""
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True).stdout
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts/study3_commit.sh").write_text((ROOT / "scripts/study3_commit.sh").read_text())
    (tmp_path / "scripts/study3_refresh.py").write_text(  # stands in for the refresh: README counts the finished runs
        "import pathlib, sys\nif pathlib.Path('broken').exists(): sys.exit('error: refresh failed')\n"
        "n = len(list(pathlib.Path('results').rglob('final.json')))\npathlib.Path('README.md').write_text(f'tables of {n} runs\\n')\n")
    (tmp_path / ".gitignore").write_text("results/**/checkpoint.pt\n")
    (tmp_path / "README.md").write_text("tables\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/study3.md").write_text("tables\n")
    runs = tmp_path / "results/study3/sweeps/study3/runs"
    for name in ("inflight", "done"):
        (runs / name).mkdir(parents=True)
        (runs / name / "checkpoint.pt").write_bytes(b"weights")
        (runs / name / "metrics.json").write_text("[]")
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "start")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PY": sys.executable}

    def commit(msg):
        subprocess.run(["bash", str(tmp_path / "scripts/study3_commit.sh"), msg], check=True, env=env,
                       capture_output=True, text=True)
        return set(git("ls-files").split())

    tracked = commit("both in flight")
    assert {"results/study3/sweeps/study3/runs/inflight/checkpoint.pt",
            "results/study3/sweeps/study3/runs/done/checkpoint.pt"} <= tracked
    assert git("show", "HEAD:README.md") == "tables of 0 runs\n"
    (runs / "done/final.json").write_text("{}")
    tracked = commit("one finished, its weights not yet packed")
    assert "results/study3/sweeps/study3/runs/done/checkpoint.pt" in tracked  # the only copy of its weights
    assert git("show", "HEAD:README.md") == "tables of 1 runs\n"  # the run and its tables land together
    (runs / "done/model.pt").write_bytes(b"kept")
    tracked = commit("its weights packed")
    assert "results/study3/sweeps/study3/runs/inflight/checkpoint.pt" in tracked
    assert "results/study3/sweeps/study3/runs/done/checkpoint.pt" not in tracked
    assert (runs / "done/checkpoint.pt").exists()  # untracked, not deleted
    assert {"results/study3/sweeps/study3/runs/done/final.json", "results/study3/sweeps/study3/runs/done/model.pt"} <= tracked
    assert "nothing to commit" in subprocess.run(["bash", str(tmp_path / "scripts/study3_commit.sh"), "again"], env=env,
                                                 capture_output=True, text=True, check=True).stdout
    (runs / "inflight/final.json").write_text("{}")
    (tmp_path / "broken").write_text("")  # a refresh that fails commits nothing: no run lands without its tables
    r = subprocess.run(["bash", str(tmp_path / "scripts/study3_commit.sh"), "stale"], env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "study3_refresh.py failed" in r.stderr and git("log", "-1", "--format=%s").strip() == "its weights packed"
    (tmp_path / "broken").unlink()
    (tmp_path / "code.py").write_text("x = 1\n")  # a code change staged by hand must not ride along
    git("add", "code.py")
    r = subprocess.run(["bash", str(tmp_path / "scripts/study3_commit.sh"), "progress"], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "outside results/" in r.stderr and "code.py" not in git("ls-tree", "-r", "--name-only", "HEAD")