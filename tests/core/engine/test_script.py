"""The exported PyTorch script repeats the engine's run: run in an empty folder, with no ``core`` to import, it
ends at the engine's final validation accuracy (within 1 point) and loss (within 5 %), on the same device."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from core.__main__ import main
from core.engine.config import CNNConfig, ConfigError, ModelConfig, RunConfig, from_flat
from core.engine.script import exportable, final_metrics, pytorch_script
from core.engine.upload import example_csv, parse
from core.labs.playground.presets import preset

ROOT = Path(__file__).resolve().parents[3]


def _short(cfg: RunConfig, epochs: int) -> RunConfig:
    return replace(cfg, train=replace(cfg.train, max_epochs=min(cfg.train.max_epochs, epochs), device="cpu"))


CASES = {
    "default": _short(preset("default"), 40),
    "spirals": _short(preset("spirals"), 25),
    "too-much-dropout": _short(preset("too-much-dropout"), 20),
    "diverging": _short(preset("diverging"), 20),
    # every other switch the script has: classic dropout, BatchNorm, max-norm, nuisance inputs, momentum, tanh
    "the rest": from_flat({"data.dataset": "xor", "data.nuisance": 3, "data.n_train": 60, "model.num_hiddens": "16,16",
                           "model.p_hidden": "0.3,0.2", "model.p_input": 0.1, "model.classic": True,
                           "model.batchnorm": True, "model.activation": "tanh", "train.optimizer": "sgd+momentum",
                           "train.lr": 0.03, "train.max_norm": 2.0, "train.max_epochs": 15, "train.device": "cpu"}),
    # a learner's own file: its points are written into the script (with a nuisance input appended)
    "uploaded": _short(replace(preset("default"), data=parse(example_csv().encode()).data_config(seed=3, nuisance=1)),
                       15),
}


def _run_scripts(folder: Path, names: list[str]) -> dict:
    """Run each script in ``folder`` as ``python run.py --json out.json`` would, in one interpreter that cannot
    import ``core`` (isolated mode, an empty working folder); fails if one imported it anyway."""
    code = ("import runpy, sys\n"
            f"for name in {names!r}:\n"
            "    sys.argv = [name, '--json', name + '.json', '--device', 'cpu']\n"
            "    runpy.run_path(name, run_name='__main__')\n"
            "assert not any(m == 'core' or m.startswith('core.') for m in sys.modules), 'the script imported core'\n")
    proc = subprocess.run([sys.executable, "-I", "-c", code], cwd=folder, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {name: json.loads((folder / (name + ".json")).read_text()) for name in names}


def test_the_exported_scripts_reproduce_the_engine(tmp_path):
    names = []
    for i, cfg in enumerate(CASES.values()):
        (tmp_path / f"run{i}.py").write_text(pytorch_script(cfg))
        names.append(f"run{i}.py")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)  # nothing else to lean on
    scripts = _run_scripts(tmp_path, names)
    for (label, cfg), name in zip(CASES.items(), names):
        engine, script = final_metrics(cfg), scripts[name]
        assert (script["epochs"], script["steps"]) == (engine["epochs"], engine["steps"]), label
        assert (script["diverged"] is None) == (engine["diverged"] is None), label
        if engine["diverged"] is None:
            assert abs(script["val_acc"] - engine["val_acc"]) <= 0.01, (label, script, engine)
            assert abs(script["val_loss"] - engine["val_loss"]) <= 0.05 * engine["val_loss"], (label, script, engine)
    assert scripts[names[list(CASES).index("diverging")]]["diverged"].startswith("the training loss became")


def test_the_cli_trains_and_exports_the_same_run(tmp_path):
    """``python -m core train`` and ``export script`` from the same options, as a user runs them."""
    options = ["--preset", "spirals", "--set", "model.p_hidden=0.1,0.1,0.1", "--set", "train.device=cpu",
               "--epochs", "8"]
    proc = subprocess.run([sys.executable, "-m", "core", "train", *options, "--json", str(tmp_path / "engine.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "core", "export", "script", *options, "--out", str(tmp_path / "run.py")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    script = _run_scripts(tmp_path, ["run.py"])["run.py"]
    engine = json.loads((tmp_path / "engine.json").read_text())
    assert engine["epochs"] == script["epochs"] == 8
    assert preset("spirals").model.p_hidden != (0.1, 0.1, 0.1)  # so --set really changed the preset
    assert "'p_hidden': [0.1, 0.1, 0.1]" in (tmp_path / "run.py").read_text()
    assert abs(script["val_acc"] - engine["val_acc"]) <= 0.01
    assert abs(script["val_loss"] - engine["val_loss"]) <= 0.05 * engine["val_loss"]


@pytest.mark.parametrize("argv, says", [
    (["train", "--set", "data.noise=3"], "noise must be in [0.0, 1.0]"),
    (["train", "--set", "noise"], "must be KEY=VALUE"),
    (["train", "--set", "model.depth=3"], "unknown setting 'model.depth'"),
    (["train", "--epochs", "0"], "max_epochs must be in [1, 100000]"),
    (["train", "--preset", "nope"], "invalid choice: 'nope'"),
    (["export", "script", "--preset", "tiny"], "required: --out"),
])
def test_bad_options_get_one_line(argv, says, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err


def test_what_the_script_cannot_write_is_said():
    cnn = RunConfig(data=replace(RunConfig().data, dataset="digits"), model=CNNConfig())
    variant = replace(RunConfig(), model=ModelConfig(num_hiddens=(8,), p_hidden=(0.3,), variants=("gaussian",)))
    digits = replace(RunConfig(), data=replace(RunConfig().data, dataset="digits"))
    for cfg, says in ((cnn, "covers the MLP"), (variant, "uses gaussian"), (digits, "not digits")):
        assert says in exportable(cfg)
        with pytest.raises(ConfigError, match=says):
            pytorch_script(cfg)
    assert exportable(preset("default")) is None
    assert exportable(CASES["uploaded"]) is None


def test_uploaded_points_are_written_into_the_script():
    cfg = CASES["uploaded"]
    text = pytorch_script(cfg)
    assert "TRAIN_POINTS = [" in text and "VAL_POINTS = [" in text and cfg.data.upload in text
    x, y, c = cfg.data.train_points[0]
    assert f"({x!r}, {y!r}, {c})" in text
    assert text.count("), (") + text.count("),\n") >= cfg.data.n_train + cfg.data.n_val - 2
