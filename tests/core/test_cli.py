"""``python -m core sweep`` and ``python -m core reproduce``: JSON out, one-line errors."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
MEMBER_KEYS = {"p", "n_train", "seed", "train_loss", "val_loss", "train_acc", "val_acc"}


def reject(constant: str):
    raise AssertionError(f"{constant} is not valid JSON")


def test_sweep_command_writes_valid_json(tmp_path):
    """As a user runs it: a subprocess, from the repository root."""
    out = tmp_path / "sweep.json"
    proc = subprocess.run(
        [sys.executable, "-m", "core", "sweep", "--dataset", "circles", "--noise", "0.3", "--n-train", "40,60",
         "--rates", "0,0.5", "--seeds", "2", "--epochs", "3", "--hidden", "16,16", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text(), parse_constant=reject)  # strict JSON: no NaN or Infinity
    assert data["config"]["dataset"] == "circles" and data["config"]["hidden"] == [16, 16]
    members = data["members"]
    assert len(members) == 2 * 2 * 2
    assert all(MEMBER_KEYS <= set(m) for m in members)
    assert {(m["n_train"], m["p"], m["seed"]) for m in members} == {
        (n, p, s) for n in (40, 60) for p in (0.0, 0.5) for s in (0, 1)}
    assert all(0 <= m["val_acc"] <= 1 and m["train_loss"] > 0 for m in members)
    assert "members in" in proc.stdout


def test_sweep_curves_on_request(tmp_path):
    out = tmp_path / "c.json"
    assert main(["sweep", "--rates", "0.5", "--seeds", "1", "--epochs", "4", "--curves", "--quiet", "--json", str(out)]) == 0
    curves = json.loads(out.read_text())["members"][0]["curves"]
    assert len(curves["val_loss"]) == len(curves["epoch"]) >= 4


def test_reproduce_writes_the_data_and_the_verdict(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["reproduce", "hinton", "--seeds", "2", "--epochs", "5", "--n-val", "100", "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text(), parse_constant=reject)
    assert data["experiment"] == "hinton" and data["config"]["seeds"] == 2
    assert data["verdict"]["status"] in ("holds", "unclear", "does not hold")
    assert len(data["verdict"]["checks"]) == 2 and len(data["members"]) == 4
    assert {r["label"] for r in data["summary"]} == {"dropout", "no dropout", "no dropout, stopped early",
                                                   "dropout, stopped early"}
    assert len(data["rival"]["checks"]) == 3
    assert "verdict:" in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["sweep", "--rates", "0,1.5"], "p_hidden must be in"),
    (["sweep", "--rates", "x"], "comma-separated list of float"),
    (["sweep", "--dataset", "mnist"], "dataset must be one of"),
    (["sweep", "--seeds", "0"], "--seeds must be in"),
    (["sweep", "--n-train", "5"], "n_train must be in"),
    (["sweep", "--bogus"], "unrecognized arguments"),
    (["reproduce", "fig99"], "invalid choice"),
    (["reproduce", "fig9a", "--rates", "0,0.5"], "at least three dropout rates"),
    (["reproduce", "fig10", "--dataset", "digits", "--sizes", "100,800,1500"], "1797 images"),
    (["reproduce", "fig10", "--sizes", "0,40,80"], "n_train must be in"),
    (["reproduce", "hinton", "--rates", "0,0.5,0.9"], "--rates is not a setting of hinton"),
    (["reproduce", "fig10", "--n-train", "40", "--max-norm", "2"], "--max-norm, --n-train are not a setting"),
    (["sweep", "--noise", "nan"], "noise must be in"),
    (["sweep", "--hidden", "0"], "hidden width must be in"),
    (["reproduce", "fig9a", "--seeds", "10", "--hidden", "256,256,256", "--epochs", "5000", "--n-train", "1000"],
     "times what this server allows one run"),
    (["sweep", "--seeds", "20", "--hidden", "256,256,256", "--epochs", "5000", "--n-train", "1000"],
     "DROPOUT_LAB_JOB_BUDGET"),
    ([], "required"),
    (["reproduce", "spatial", "--image-size", "24"], "image_size must be 8 or 16"),
    (["reproduce", "spatial", "--p", "1.5"], "p must be in [0.01, 0.95]"),
    (["reproduce", "spatial", "--seeds", "1"], "seeds must be in [2, 20]"),
    (["reproduce", "spatial", "--channels", "8,x"], "comma-separated list of int"),
    (["reproduce", "spatial", "--hidden", "8", "--rates", "0,0.5,0.9"], "--hidden, --rates are not a setting of spatial"),
    (["reproduce", "fig9a", "--channels", "4"], "--channels is not a setting of fig9a"),
    (["reproduce", "spatial", "--seeds", "20", "--epochs", "200", "--image-size", "16", "--channels", "32,32,32",
      "--n-train", "797"], "times what this server allows one run"),
])
def test_bad_options_get_one_line_and_exit_2(argv, says, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err, err
    assert "Traceback" not in err


def test_an_unwritable_json_path_is_one_line_too(capsys, tmp_path):
    code = main(["sweep", "--rates", "0", "--seeds", "1", "--epochs", "1", "--quiet",
                 "--json", str(tmp_path / "missing" / "x.json")])
    assert code == 1 and capsys.readouterr().err.startswith("error: cannot write")


def test_reproduce_with_epochs_trains_epochs_even_where_the_default_is_steps(tmp_path):
    out = tmp_path / "f.json"
    argv = ["reproduce", "fig10", "--sizes", "20,40,80", "--seeds", "2", "--epochs", "3", "--quiet", "--json", str(out)]
    assert main(argv) == 0
    data = json.loads(out.read_text(), parse_constant=reject)
    assert data["config"]["steps"] is None
    assert {m["n_train"]: m["steps"] for m in data["members"]} == {20: 2 * 3, 40: 3 * 3, 80: 5 * 3}


def test_reproduce_spatial_writes_the_members_the_summary_and_a_verdict_per_claim(tmp_path, capsys):
    out = tmp_path / "s.json"
    argv = ["reproduce", "spatial", "--seeds", "2", "--epochs", "2", "--n-train", "64", "--n-val", "100",
            "--channels", "4,4", "--p", "0.2", "--json", str(out)]
    assert main(argv) == 0
    data = json.loads(out.read_text(), parse_constant=reject)
    assert data["experiment"] == "spatial" and data["config"]["channels"] == [4, 4] and data["config"]["p"] == 0.2
    assert len(data["members"]) == 8 and {r["label"] for r in data["summary"]} == {"none", "element", "channel", "block"}
    assert [v["claim"] for v in data["verdicts"]] == ["element beats none", "channel beats element", "block beats element"]
    assert all(v["status"] in ("holds", "unclear", "does not hold") for v in data["verdicts"])
    printed = capsys.readouterr().out
    assert "channel dropout gives a lower validation loss" in printed and "8 members in" in printed


def test_reproduce_a_variant_with_set_writes_its_summary_signature_and_verdicts(tmp_path, capsys):
    out = tmp_path / "g.json"
    code = main(["reproduce", "gaussian", "--seeds", "2", "--epochs", "10", "--set", "width=16", "--set", "p=0.3",
                 "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text(), parse_constant=reject)
    assert data["experiment"] == "gaussian" and data["config"]["width"] == 16 and data["config"]["p"] == 0.3
    assert {row["label"] for row in data["summary"]} == {"none", "bernoulli", "gaussian"}
    assert data["signature"]["theory_var"] == pytest.approx(0.3 / 0.7)
    assert [v["claim"] for v in data["verdicts"]] == ["gaussian agrees with bernoulli", "gaussian beats none"]
    printed = capsys.readouterr().out
    assert "Gaussian dropout" in printed and "[" in printed and "done in" in printed


@pytest.mark.parametrize("argv, says", [
    (["reproduce", "gaussian", "--set", "colour=blue"], "unknown setting(s): colour"),
    (["reproduce", "gaussian", "--set", "width"], "--set needs NAME=VALUE"),
    (["reproduce", "gaussian", "--set", "width=2.5"], "width"),
    (["reproduce", "gaussian", "--hidden", "8,8"], "unknown setting(s): hidden"),
    (["reproduce", "fig9a", "--set", "width=8"], "--set is for lessons 7 to 9's experiments"),
])
def test_a_bad_variant_setting_is_one_line_and_exit_2(argv, says, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and err.count("\n") == 1
