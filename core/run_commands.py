"""``python -m core judge`` (a learner's file, graded in the sandbox), and ``python -m core train`` and
``python -m core export script``: one Playground run, from a preset changed by
``--set KEY=VALUE`` (the flat names a link uses) and ``--epochs``, trained in the engine or written as a
standalone PyTorch script (core.engine.script). A bad option raises ``UsageError`` or ``ConfigError``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

from core.engine.config import RunConfig, from_flat


class UsageError(Exception):
    pass


def add_parsers(sub) -> None:
    train = sub.add_parser("train", help="train one Playground run in the engine and print its final metrics")
    _run_options(train)
    train.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the final metrics here")
    export_ = sub.add_parser("export", help="write one Playground run as a standalone PyTorch script")
    export_.add_argument("what", choices=("script",), help="script: a .py that needs torch and numpy only")
    _run_options(export_)
    export_.add_argument("--out", type=Path, required=True, metavar="PATH", help="the .py to write")


def _run_options(parser: argparse.ArgumentParser) -> None:
    from core.labs.playground.presets import PRESETS  # noqa: PLC0415

    parser.add_argument("--preset", default="default", choices=tuple(PRESETS), help="the Playground's starting point")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one setting of the preset, by its link name, e.g. --set model.p_hidden=0.3,0.3 "
                             "or --set data.noise=0.2 (repeat for more)")
    parser.add_argument("--epochs", type=int, default=None, help="train this many epochs (default: the preset's)")


def run_config(args: argparse.Namespace) -> RunConfig:
    """The run ``--preset``, ``--set`` and ``--epochs`` describe (ConfigError or UsageError with a sentence)."""
    from core.labs.playground.presets import PRESETS  # noqa: PLC0415

    flat = dict(PRESETS[args.preset])
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r} must be KEY=VALUE, e.g. --set data.noise=0.2")
        flat[key.strip()] = value.strip()
    if args.epochs is not None:
        flat["train.max_epochs"] = args.epochs
    return from_flat(flat)


def train(args: argparse.Namespace, check_budget: Callable[[float], None]) -> int:
    from core.engine.script import final_metrics, metrics_json  # noqa: PLC0415
    from core.engine.sweep import Sweep  # noqa: PLC0415

    cfg = run_config(args)
    check_budget(Sweep((cfg,)).work())  # the app's budget for one background run guards this too
    text = metrics_json(final_metrics(cfg))
    print(text)
    return _write(args.json, text + "\n")


def export(args: argparse.Namespace) -> int:
    from core.engine.script import pytorch_script  # noqa: PLC0415

    cfg = run_config(args)
    title = f"The Dropout Lab preset {args.preset!r}" + (f" with {', '.join(args.set)}" if args.set else "")
    if _write(args.out, pytorch_script(cfg, title=title)):
        return 1
    print(f"wrote {args.out}: run it with  python {args.out} --json out.json")
    return 0


def _write(path: Path | None, text: str) -> int:
    if path is None:
        return 0
    try:
        path.write_text(text)
    except OSError as exc:
        print(f"error: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


def judge(args: argparse.Namespace) -> int:
    """Run the judge on ``args.file`` in the sandbox; the exit status says accepted, rejected or unusable."""
    from core.live.sandbox import Sandbox  # noqa: PLC0415

    try:
        source = args.file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"there is no file {args.file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {args.file}: {getattr(exc, 'strerror', None) or exc}") from None
    outcome = Sandbox(slots=1).run(f"core.labs.interview.judge:judge_{args.task}", source)
    if not outcome.ok:  # a limit stopped it, or the runner failed: a rejection that says why
        report = {"status": "rejected", "error": None, "checks": [],
                  "failures": [{"check": "runs within the limits", "message": outcome.message}], "misconceptions": []}
    else:
        report = outcome.result
    if report.get("status") == "unusable":
        print(f"error: {report.get('error')}", file=sys.stderr)
        return 2
    accepted = report.get("status") == "accepted"
    print(f"{args.file}: {'accepted' if accepted else 'rejected'} "
          f"({sum(c['passed'] for c in report.get('checks', []))} of {len(report.get('checks', []))} checks passed)")
    for failure in report.get("failures", []):
        print(f"  [{failure['check']}] {failure['message']}")
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(report, indent=1))
        except OSError as exc:
            print(f"error: cannot write {args.json}: {exc.strerror}", file=sys.stderr)
            return 2
    return 0 if accepted else 1

