"""The plug-in table: every live runner kind and every background job, by name, and what runs it.

The composition roots hand it to the pool (``core.live.pool.use_kinds`` and ``use_jobs``): the app's
frame for its own process, ``core.worker`` for each worker process. A lesson with a runner or a job
of its own adds one line here and touches no shared file. This is the one file of ``core.labs`` that
imports several labs.
"""
from __future__ import annotations

from typing import Any

from core.analysis.calibration import calibrate, calibration_work
from core.labs.batchnorm import experiments as batchnorm
from core.labs.cnn.experiments import run_spatial, spatial_work
from core.labs.cnn.rebuild import measure_rebuild, rebuild_work
from core.labs.cnn.runner import LiveCNN
from core.labs.coadaptation.features import train_features
from core.labs.interview import experiments as interview
from core.labs.mechanism.compute import demos, demos_work
from core.labs.overfitting.experiments import experiment_work, run_experiment
from core.labs.overfitting.regime import regime_work, run_regime
from core.labs.production import experiments as production
from core.labs.production.runner import COMMANDS as LEAK_COMMANDS
from core.labs.production.runner import LiveLeak
from core.labs.uncertainty.regression_runner import LiveRegression
from core.labs.variants import experiments as variants
from core.live.jobs import from_fraction
from core.live.pair import COMMANDS as PAIR_COMMANDS
from core.live.pair import LiveRunner
from core.live.pool import JobKind, Kind

KINDS: dict[str, Kind] = {
    "live": Kind(LiveRunner, PAIR_COMMANDS),  # lessons 2 and 4: networks A and B in lockstep
    "regression": Kind(LiveRegression),  # lesson 5: a 1-D regression net and its MC bands
    "cnn": Kind(LiveCNN),  # lesson 6: CNNs A, B and C in lockstep, their feature maps and masks
    "leak": Kind(LiveLeak, LEAK_COMMANDS),  # lesson 9: two-tower models A and B on the leaked context
}


def _train_digits(settings: Any, **kwargs: Any) -> Any:
    from core.labs.uncertainty.shift import train_digit_model  # noqa: PLC0415 - scipy's images only when asked for

    return train_digit_model(settings, **kwargs)


def _digit_path(key: str, request: Any, progress: Any, cancelled: Any) -> Any:
    from core.labs.uncertainty.shift import digit_path  # noqa: PLC0415

    return digit_path(request)


def _digit_path_work(key: str, request: Any) -> float:
    from core.labs.uncertainty.shift import path_work  # noqa: PLC0415

    return path_work(request)


JOBS: dict[str, JobKind] = {
    "mechanism": JobKind(lambda key, request, progress, cancelled: demos(request),
                         lambda key, request: demos_work(request)),  # lesson 1: its small trained networks
    "overfitting": JobKind(run_experiment, experiment_work),  # lesson 3: a paper's experiment as one sweep
    "regime": JobKind(lambda key, request, progress, cancelled: run_regime(request, progress, cancelled),
                      lambda key, request: regime_work(request)),  # lesson 3: the gain from dropout over two grids
    "features": JobKind(from_fraction(train_features), lambda key, s: 2 * s.work()),  # lesson 4: two digit nets
    "digits": JobKind(from_fraction(_train_digits), lambda key, s: s.work()),  # lesson 5: the digit that walks away
    "digit_path": JobKind(_digit_path, _digit_path_work),  # lesson 5: one digit moved, T passes per frame
    "calibration": JobKind(lambda key, request, progress, cancelled: calibrate(request),
                           lambda key, request: calibration_work(request)),  # lesson 5: Fig. 11, reliability
    "spatial": JobKind(lambda key, request, progress, cancelled: run_spatial(request, progress, cancelled),
                       lambda key, request: spatial_work(request)),  # lesson 6: none/element/channel/block, paired seeds
    "cnn_rebuild": JobKind(from_fraction(measure_rebuild),
                           lambda key, request: rebuild_work(request)),  # lesson 6: neighbour rebuild, 8x8 vs upsampled
    "variants": JobKind(lambda key, request, progress, cancelled: variants.run_request(request, progress, cancelled),
                        lambda key, request: variants.request_work(request)),  # lesson 7: a variant vs standard dropout
    "batchnorm": JobKind(lambda key, request, progress, cancelled: batchnorm.run_request(request, progress, cancelled),
                         lambda key, request: batchnorm.request_work(request)),  # lesson 8: shift, fixes, MC, lr
    "production": JobKind(lambda key, request, progress, cancelled: production.run_request(request, progress, cancelled),
                          lambda key, request: production.request_work(request)),  # lesson 9: the leak, serving
    "interview": JobKind(lambda key, request, progress, cancelled: interview.run_experiment(request, progress, cancelled),
                         lambda key, request: interview.experiment_work(request)),  # interview: predict, then observe
}
