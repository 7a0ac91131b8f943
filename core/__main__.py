"""Headless sweeps: ``python -m core sweep ...`` and ``python -m core reproduce <experiment>``; and the
interview page's judge: ``python -m core judge dropout|mc_predict FILE [--json OUT]``.

Sweeps write JSON and print a short table; the pages run the same code (core.engine.sweep,
core.labs.overfitting.experiments, for ``reproduce regime`` core.labs.overfitting.regime, and for
``reproduce spatial`` lesson 6's core.labs.cnn.experiments; lesson 7's variants, ``reproduce dropconnect``,
``gaussian``, ``alpha-selu``, ``variational-rnn``, ``droppath``, ``concrete`` and ``early-dropout``, run
core.labs.variants.experiments, each with its own settings through ``--set NAME=VALUE``; lesson 8's
``bn-shift``, ``bn-fixes``, ``bn-mc`` and ``dropout-lr`` run core.labs.batchnorm.experiments, lesson 9's
``leak`` and ``serving`` core.labs.production.experiments, their settings through ``--set`` too, or the
options they share with the rest, ``--rates --seeds --leak --n-train --steps --lr --batch-size``). A bad
option prints one line and exits with status 2.

``train --preset NAME [--set KEY=VALUE ...] [--epochs E] [--json OUT]`` trains one Playground run in the engine
and prints its final metrics; ``export script`` with the same options ``--out run.py`` writes that run as a
standalone PyTorch script (core.engine.script) that prints the same numbers.

``judge`` grades FILE in the same sandbox as the page (core.live.sandbox): exit 0 accepted, 1 rejected
(each failure printed, and listed in the JSON's ``failures``), 2 unusable (one ``error:`` line).
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from core import run_commands
from core.run_commands import UsageError  # one error type for every command
from core.engine.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig

VARIANT_KEYS = ("dropconnect", "gaussian", "alpha-selu", "variational-rnn", "droppath", "concrete", "early-dropout")
BATCHNORM_KEYS = ("bn-shift", "bn-fixes", "bn-mc", "dropout-lr")
PRODUCTION_KEYS = ("leak", "serving")
LAB_TABLES = {**dict.fromkeys(VARIANT_KEYS, "core.labs.variants.experiments"),
              **dict.fromkeys(BATCHNORM_KEYS, "core.labs.batchnorm.experiments"),
              **dict.fromkeys(PRODUCTION_KEYS, "core.labs.production.experiments")}
SET_KEYS = tuple(LAB_TABLES)  # the experiments whose settings go through --set (lessons 7 to 9)
EXPERIMENT_KEYS = ("fig9a", "fig9b", "fig10", "hinton", "table9", "regime", "spatial", *SET_KEYS)
CNN_ONLY = ("image_size", "block_size", "channels")  # the settings only lesson 6's spatial experiment has
REGIME_ONLY = ("noises", "widths", "nuisance")  # and those only the regime map has




class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage and two lines; we print one
        raise UsageError(message)


def _list(kind):
    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"cannot read {text!r} as a comma-separated list of {kind.__name__}")
        if not values:
            raise argparse.ArgumentTypeError("expected at least one value")
        return values
    parse.__name__ = f"list of {kind.__name__}"
    return parse


def _common(parser: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    add = parser.add_argument
    add("--dataset", default=defaults.get("dataset"), help="moons, circles, xor, gaussians, spirals or digits")
    add("--noise", type=float, default=defaults.get("noise"), help="label overlap (2-D sets) or pixel noise (digits)")
    add("--n-val", type=int, default=defaults.get("n_val"), help="validation points per member")
    add("--hidden", type=_list(int), default=defaults.get("hidden"), metavar="W[,W...]",
        help="hidden widths, one per layer (e.g. 128,128)")
    add("--seeds", type=int, default=defaults.get("seeds"), help="seeds 0..K-1 (data, init and masks differ per seed)")
    add("--epochs", type=int, default=defaults.get("epochs"), help="training epochs per member")
    add("--steps", type=int, default=defaults.get("steps"),
        help="train every member this many minibatch steps instead of --epochs (equal updates for every size)")
    add("--lr", type=float, default=defaults.get("lr"), help="Adam learning rate")
    add("--batch-size", type=int, default=defaults.get("batch_size"), help="minibatch size")
    add("--json", type=Path, default=None, metavar="PATH", help="write the results here")
    add("--quiet", action="store_true", help="no table on stdout")


def build_parser() -> argparse.ArgumentParser:
    from core.labs.overfitting.experiments import Settings  # noqa: PLC0415 (keeps --help fast)

    d = Settings()
    parser = _Parser(prog="python -m core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sweep = sub.add_parser("sweep", help="train every combination of rates x training-set sizes x seeds")
    _common(sweep, {**d.to_json(), "seeds": 3})
    sweep.add_argument("--n-train", type=_list(int), default=(d.n_train,), metavar="N[,N...]",
                       help="training-set sizes")
    sweep.add_argument("--rates", type=_list(float), default=d.rates, metavar="P[,P...]",
                       help="drop probabilities p, applied after every hidden layer")
    sweep.add_argument("--p-input", type=float, default=0.0, help="drop probability on the inputs")
    sweep.add_argument("--nuisance", type=int, default=0, help="irrelevant noise inputs added to the 2-D set")
    sweep.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay for every member")
    sweep.add_argument("--max-norm", type=float, default=0.0, help="max-norm constraint (0 = off)")
    sweep.add_argument("--curves", action="store_true", help="also record ~60 points of each member's curves")

    rep = sub.add_parser("reproduce", help="run one of the paper experiments and judge its claim")
    rep.add_argument("experiment", choices=EXPERIMENT_KEYS)
    _common(rep, {})
    rep.add_argument("--n-train", type=int, default=None, help="training-set size")
    rep.add_argument("--rates", type=_list(float), default=None, metavar="P[,P...]", help="drop probabilities (fig9a, fig9b)")
    rep.add_argument("--sizes", type=_list(int), default=None, metavar="N[,N...]", help="training-set sizes (fig10)")
    rep.add_argument("--p", type=float, default=None, help="the dropout side's p (fig10, hinton, table9)")
    rep.add_argument("--weight-decay", type=float, default=None, help="L2 strength (table9)")
    rep.add_argument("--max-norm", type=float, default=None, help="max-norm constraint (table9)")
    rep.add_argument("--noises", type=_list(float), default=None, metavar="V[,V...]",
                     help="noise levels of the size x noise grid (regime)")
    rep.add_argument("--widths", type=_list(int), default=None, metavar="W[,W...]",
                     help="hidden widths of the size x width grid (regime)")
    rep.add_argument("--nuisance", type=int, default=None, help="irrelevant noise inputs added to the 2-D set (regime)")
    rep.add_argument("--image-size", type=int, default=None, help="8, or 16 to upsample the digits (spatial)")
    rep.add_argument("--block-size", type=int, default=None, help="DropBlock's block side (spatial)")
    rep.add_argument("--channels", type=_list(int), default=None, metavar="C[,C...]",
                     help="feature maps per conv layer (spatial)")
    rep.add_argument("--leak", type=float, default=None, help="share of training rows whose context leaks the label (leak)")
    rep.add_argument("--set", action="append", default=None, metavar="NAME=VALUE",
                     help="any setting of lessons 7 to 9's experiments (dropconnect ... serving), e.g. --set width=64")
    run_commands.add_parsers(sub)
    judge = sub.add_parser("judge", help="grade your own implementation against torch (as the interview page does)")
    judge.add_argument("task", choices=JUDGE_TASKS, help="dropout: a class Dropout(torch.nn.Module); "
                       "mc_predict: a function mc_predict(model, x, T)")
    judge.add_argument("file", type=Path, help="the Python file to grade")
    judge.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the report here")
    return parser


JUDGE_TASKS = ("dropout", "mc_predict")


def _sweep(args: argparse.Namespace) -> dict[str, Any]:
    from core.engine.plain import strict_json  # noqa: PLC0415
    from core.engine.sweep import Sweep, run_sweep  # noqa: PLC0415

    if not 1 <= args.seeds <= 20:
        raise ConfigError(f"--seeds must be in [1, 20], got {args.seeds}")
    members = []
    for n in sorted(set(args.n_train)):  # a repeat would only train the same network twice
        for p in sorted(set(args.rates)):
            for seed in range(args.seeds):
                members.append(RunConfig(
                    DataConfig(args.dataset, args.noise, n, args.n_val, seed, nuisance=args.nuisance),
                    ModelConfig(num_hiddens=args.hidden, p_input=args.p_input, p_hidden=(p,) * len(args.hidden)),
                    TrainConfig(lr=args.lr, weight_decay=args.weight_decay, max_norm=args.max_norm,
                                batch_size=args.batch_size, max_epochs=args.epochs),
                ))
    sweep = Sweep(tuple(members), steps=args.steps, curve_points=60 if args.curves else 0)
    _check_budget(sweep.work())
    result = run_sweep(sweep, progress=_progress_printer(args.quiet))
    config = {k: v for k, v in vars(args).items() if k not in ("json", "quiet", "command")}
    return {"command": "sweep", "config": strict_json(config), **result.to_json()}


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if v is not None and k not in ("json", "quiet", "command", "experiment")}


def _refuse(unused: list[str], key: str) -> None:
    if unused:
        options = ", ".join("--" + k.replace("_", "-") for k in sorted(unused))
        raise UsageError(f"{options} {'is' if len(unused) == 1 else 'are'} not a setting of {key}")


def _reproduce(args: argparse.Namespace) -> dict[str, Any]:
    if args.experiment in LAB_TABLES:
        return _lab(args)
    if args.set:
        raise UsageError(f"--set is for lessons 7 to 9's experiments ({', '.join(SET_KEYS)}), not {args.experiment}")
    if args.leak is not None:
        raise UsageError(f"--leak is a setting of leak, not of {args.experiment}")
    if args.experiment == "spatial":
        return _spatial(args)
    if args.experiment == "regime":
        return _regime(args)
    from core.labs.overfitting.experiments import EXPERIMENTS, experiment_work, run_experiment  # noqa: PLC0415

    e = EXPERIMENTS[args.experiment]
    changes = _changes(args)
    specific = {"rates", "sizes", "p", "weight_decay", "max_norm", *CNN_ONLY, *REGIME_ONLY}
    _refuse([k for k in changes if (k in specific and k not in e.uses) or (k == "n_train" and "sizes" in e.uses)], e.key)
    if "epochs" in changes and "steps" not in changes:
        changes["steps"] = None  # asked for epochs: do not keep a default step count
    settings = e.defaults.from_json({**e.defaults.to_json(), **changes})
    _check_budget(experiment_work(e.key, settings))
    result = run_experiment(e.key, settings, progress=_progress_printer(args.quiet))
    return {"command": "reproduce", **result.to_json()}


def _regime(args: argparse.Namespace) -> dict[str, Any]:
    """Lesson 3's regime map: the gain from dropout over size x noise and size x width, paired over seeds."""
    from core.labs.overfitting.regime import RegimeSettings, regime_work, run_regime  # noqa: PLC0415

    changes = _changes(args)
    if "hidden" in changes:  # the size x noise grid's network: equal widths, one per layer
        hidden = changes.pop("hidden")
        if len(set(hidden)) != 1:
            raise UsageError("regime's --hidden needs equal widths (e.g. 128,128): the width grid varies them together")
        changes["width"], changes["layers"] = hidden[0], len(hidden)
    known = set(RegimeSettings().to_json())
    _refuse([k for k in changes if k not in known], "regime")
    settings = RegimeSettings.from_json({**RegimeSettings().to_json(), **changes})
    _check_budget(regime_work(settings))
    result = run_regime(settings, progress=_progress_printer(args.quiet))
    return {"command": "reproduce", **result.to_json()}


def _print_regime(out: dict[str, Any]) -> None:
    c = out["config"]
    print(f"{out['title']}: {out['claim']}")
    mark = {"holds": "+", "unclear": " ", "does not hold": "-"}
    for axis, columns, fixed in (("noise", c["noises"], ("width", c["width"])), ("width", c["widths"], ("noise", c["noise"]))):
        print(f"  gain from p = {c['p']:g} in points (+ holds, - does not hold), n_train x {axis}, "
              f"{fixed[0]} {fixed[1]:g}:")
        print("  " + " " * 8 + "".join(f"{axis} {v:<7g}" for v in columns))
        for n in c["sizes"]:
            row = {cell[axis]: cell for cell in out["cells"] if cell["n_train"] == n and cell[fixed[0]] == fixed[1]}
            print(f"  n={n:<6}" + "".join(f"{100 * row[v]['gain']:+6.1f}{mark[row[v]['status']]}" + " " * (len(axis) + 1)
                                         for v in columns))
    n = out["counts"]
    print(f"  {n['holds']} cells hold, {n['does not hold']} do not, {n['unclear']} unclear")


def _spatial(args: argparse.Namespace) -> dict[str, Any]:
    """Lesson 6: none / element / channel / block dropout on the same CNN, paired over seeds."""
    from core.labs.cnn.experiments import SpatialSettings, run_spatial, spatial_work  # noqa: PLC0415

    changes = _changes(args)
    known = set(SpatialSettings().to_json())
    _refuse([k for k in changes if k not in known], "spatial")
    settings = SpatialSettings.from_json({**SpatialSettings().to_json(), **changes})
    _check_budget(spatial_work(settings))
    result = run_spatial(settings, progress=_progress_printer(args.quiet))
    return {"command": "reproduce", **result.to_json()}


def _lab(args: argparse.Namespace) -> dict[str, Any]:
    """Lessons 7 to 9: an experiment of a lab's table (``core.engine.registry``), its settings from ``--set``."""
    table = importlib.import_module(LAB_TABLES[args.experiment])
    changes = _set_changes(args)
    if isinstance(changes.get("hidden"), tuple) and args.experiment in PRODUCTION_KEYS:
        if len(changes["hidden"]) != 1:
            raise UsageError(f"{args.experiment}'s --hidden is one width (its legitimate tower has two equal layers)")
        changes["hidden"] = changes["hidden"][0]
    req = table.request(args.experiment, changes)
    _check_budget(table.request_work(req))
    return {"command": "reproduce", **table.run_request(req, progress=_progress_printer(args.quiet)).to_json()}


def _set_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The options given (as ``_changes`` finds them) and each ``--set NAME=VALUE``."""
    changes = _changes(args)
    for item in changes.pop("set", None) or ():
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set needs NAME=VALUE, got {item!r}")
        changes[name.strip().replace("-", "_")] = _value(value)
    return changes


def _value(text: str) -> Any:
    """A ``--set`` value: a number, true/false or a [list] as JSON reads them, anything else as text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return tuple(value) if isinstance(value, list) else value


def _check_budget(work: float) -> None:
    """The app's budget for one background run guards the command line too (DROPOUT_LAB_JOB_BUDGET)."""
    from core.live.settings import ServerSettings, over_budget  # noqa: PLC0415

    problem = over_budget(work, ServerSettings.from_env().job_budget)
    if problem is not None:
        raise ConfigError(problem[:1].upper() + problem[1:])


def _progress_printer(quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None

    def show(progress) -> None:
        eta = "" if progress.eta is None else f", about {progress.eta:.0f} s left"
        print(f"\r{100 * progress.fraction:5.1f} %{eta}   ", end="", file=sys.stderr, flush=True)
    return show


def _print_spatial(out: dict[str, Any]) -> None:
    print(f"{out['title']}: {out['claim']}")
    for row in out["summary"]:
        print(f"  {row['label']:<8} val loss {_num(row['val_loss'])} ± {_num(row['val_loss_se'])}   val error "
              f"{_pct(row['val_err'])} ± {_pct(row['val_err_se'])}   train loss {_num(row['train_loss'])}")
    for v in out["verdicts"]:
        for c in v["checks"]:
            print(f"  [{v['status']}] {c['text']}: {c['detail']}")


def _print_table(out: dict[str, Any]) -> None:
    if out.get("experiment") in LAB_TABLES:  # lessons 7 to 9 print their own tables
        print("\n".join(importlib.import_module(LAB_TABLES[out["experiment"]]).report_lines(out)))
        return
    if out.get("experiment") == "spatial":
        _print_spatial(out)
    elif out.get("experiment") == "regime":
        _print_regime(out)
    elif "summary" in out:
        print(f"{out['source']}: {out['claim']}")
        for row in out["summary"]:
            keys = ", ".join(f"{k}={row[k]:g}" if isinstance(row[k], float) else f"{k}={row[k]}"
                             for k in row if k in ("label", "p", "n_train"))
            print(f"  {keys:<32} val error {_pct(row['val_err'])} ± {_pct(row['val_err_se'])}"
                  f"   train error {_pct(row['train_err'])}   val loss {_num(row['val_loss'])}")
        v = out["verdict"]
        print(f"verdict: {v['summary']}")
        for c in v["checks"]:
            print(f"  [{c['status']}] {c['text']}: {c['detail']}")
        if "rival" in out:
            print("early stopping, the rival (each run stopped at its lowest validation loss):")
            for c in out["rival"]["checks"]:
                print(f"  [{c['status']}] {c['text']}: {c['detail']}")
    else:
        for m in out["members"]:
            print(f"  p={m['p']:<4g} n_train={m['n_train']:<5} seed={m['seed']:<3} train loss "
                  f"{_num(m['train_loss'])}  val loss {_num(m['val_loss'])}  val acc {_num(m['val_acc'])}")
    print(f"{len(out['members'])} members in {out['elapsed_s']:.1f} s on {out['device']}")


def _pct(x: float | None) -> str:
    return f"{100 * x:5.1f} %" if x is not None and math.isfinite(x) else "  n/a"


def _num(x: float | None) -> str:
    return f"{x:.3f}" if x is not None and math.isfinite(x) else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "judge":
            return run_commands.judge(args)
        if args.command == "export":
            return run_commands.export(args)
        from core.engine.runtime import configure  # noqa: PLC0415

        if args.command == "train":
            configure()
            return run_commands.train(args, _check_budget)
        configure()
        out = _sweep(args) if args.command == "sweep" else _reproduce(args)
    except (UsageError, ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, MemoryError) as exc:  # e.g. out of memory for a very large sweep
        first_line = (str(exc) or type(exc).__name__).splitlines()[0]
        print(f"error: the sweep could not run: {first_line}", file=sys.stderr)
        return 1
    if sys.stderr.isatty() and not args.quiet:
        print(file=sys.stderr)
    if not args.quiet:
        _print_table(out)
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(out, indent=1, allow_nan=False))
        except OSError as exc:
            print(f"error: cannot write {args.json}: {exc.strerror}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
