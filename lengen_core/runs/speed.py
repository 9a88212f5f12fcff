"""How fast this machine runs jobs compared with the cost model: :class:`MachineSpeed`, and the probe that starts it.

The cost model (:mod:`lengen_core.costs`) is a fit made on one machine; the CPU
model varies between machines by 2x or more. :class:`MachineSpeed` holds ratios,
measured seconds over the model's seconds, one for training and one for the
length sweep, and scales every estimate by them. It starts from a short probe
(:func:`probe_training`: a few steps of a small dense run, timed) and follows each
finished job (:func:`observe_finished_run`).

Jobs that run at once slow each other beyond the cores they are given (shared
caches and memory bandwidth; two vCPUs may be one core's two threads): on a 2-vCPU
AMD EPYC two lesson runs at one thread each trained 1.37x slower than one alone, and
the wait announced for a lesson was 0.57x the real one (docs/benchmarks.md). So the
speed also holds a contention factor, measured at start by :func:`probe_contention`
(the probe's run, that many at once in this process's threads as the job manager runs
them): estimates of jobs that will share the machine are multiplied by it, and a
finished job's times are divided by it for the part of its run it shared, so the
ratios stay those of a job alone (our choice, like the rest of this module).

The ratios are kept per family of runs (:func:`family_of`: the attention kind and
the task), because the model's error differs by family more than machines differ:
on the development machine it misjudged the HSA reference path by 2.6x and dense
runs of different tasks by 0.7-1.4x (docs/benchmarks.md). With one ratio for all
runs, the HSA lesson's runs moved it enough to throw the next dense estimate off by
2x; with one per attention kind, the lesson's dense passkey run still did. A family
not measured yet uses the median of the families measured so far (the probe's
among them): the machine's speed, robust to one family the model misjudges.

Our choices: each observation moves a ratio a third of the way (:data:`FOLLOW`),
so one unusual job shifts the estimate without taking it over; a ratio stays
within :data:`RATIO_RANGE`, so a job the model misjudges badly cannot make every
later estimate absurd. A ratio with no observation yet stays 1.0.
"""

from __future__ import annotations

import functools
import statistics
import threading
import time
from dataclasses import dataclass

from lengen_core.config import RunConfig
from lengen_core.costs import Budget, CostEstimate, estimate_cost
from lengen_core.store import RunStore

FOLLOW = 1 / 3
RATIO_RANGE = (0.1, 10.0)
CONTENTION_RANGE = (1.0, 3.0)  # a job beside others is never faster than alone; 3x bounds a disturbed probe
PROBE_CHANGES = {"train.steps": 40, "train.log_every": 40, "train.warmup_steps": 5, "train.device": "cpu"}


def _clamp(ratio: float) -> float:
    low, high = RATIO_RANGE
    return min(high, max(low, ratio))


def family_of(config: RunConfig) -> str:
    """The family whose ratios a run of ``config`` follows: ``<attention>:<task>`` (``dense:reverse``; a mixture by
    its main task)."""
    return f"{config.model.attention}:{config.task.name}"


PROBE_FAMILY = "dense:reverse"  # the probe's run: the Train page's defaults


@dataclass(frozen=True)
class SpeedReading:
    """A family's ratios as they stand, and how many observations each rests on (the probe counts as one);
    a ratio of a family with none is the machine's (dense) ratio."""

    train_ratio: float
    eval_ratio: float
    train_observations: int
    eval_observations: int


@dataclass
class _Ratio:
    value: float = 1.0
    observations: int = 0

    def follow(self, observed: float) -> None:
        """The first observation replaces the prior of 1.0; later ones move the ratio :data:`FOLLOW` of the way."""
        observed = _clamp(observed)
        self.value = observed if self.observations == 0 else _clamp(self.value + FOLLOW * (observed - self.value))
        self.observations += 1


class MachineSpeed:
    """Measured over estimated seconds on this machine, per family, for training and for evaluation (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._train: dict[str, _Ratio] = {}
        self._eval: dict[str, _Ratio] = {}
        self._contention = 1.0

    @property
    def contention(self) -> float:
        """How many times slower a job runs while others run beside it than alone (1.0 until measured)."""
        return self._contention

    def set_contention(self, factor: float) -> None:
        """Set the contention factor (:func:`probe_contention`), kept within :data:`CONTENTION_RANGE`."""
        low, high = CONTENTION_RANGE
        self._contention = min(high, max(low, float(factor)))

    def slowdown(self, shared_fraction: float) -> float:
        """How much slower than alone a job ran that shared the machine for ``shared_fraction`` (0..1) of its time."""
        return 1.0 + (self._contention - 1.0) * min(1.0, max(0.0, shared_fraction))

    @staticmethod
    def _pick(ratios: dict[str, _Ratio], family: str) -> tuple[float, int]:
        """The family's ratio and its observations; unmeasured: the median over the measured families (else 1.0), 0."""
        own = ratios.get(family)
        if own is not None:
            return own.value, own.observations
        measured = [ratio.value for ratio in ratios.values()]
        return (statistics.median(measured) if measured else 1.0), 0

    def reading(self, family: str = PROBE_FAMILY) -> SpeedReading:
        with self._lock:
            (train, train_count), (evaluation, eval_count) = self._pick(self._train, family), self._pick(self._eval, family)
        return SpeedReading(train, evaluation, train_count, eval_count)

    def families(self) -> list[str]:
        """The families measured so far (training or evaluation)."""
        with self._lock:
            return sorted(set(self._train) | set(self._eval))

    def scaled(self, estimate: CostEstimate, family: str = PROBE_FAMILY, *, shared: bool = False) -> tuple[float, float]:
        """(training, evaluation) seconds of ``estimate`` (a run of ``family``) on this machine, each scaled by its ratio,
        and by :attr:`contention` when the run will share the machine with other jobs (``shared``)."""
        reading = self.reading(family)
        factor = self._contention if shared else 1.0
        return estimate.train_seconds * reading.train_ratio * factor, estimate.eval_seconds * reading.eval_ratio * factor

    def seconds(self, estimate: CostEstimate, family: str = PROBE_FAMILY, *, shared: bool = False) -> float:
        """``estimate``'s time to result on this machine (:meth:`scaled`, summed)."""
        return sum(self.scaled(estimate, family, shared=shared))

    def describe(self, family: str = PROBE_FAMILY) -> str:
        """How the estimates are made, for a caption: ``the cost model x 0.68 for training (3 measurements) ...``."""
        reading = self.reading(family)

        def part(name: str, ratio: float, count: int) -> str:
            if count:
                return f"{name} x {ratio:.2f} ({count} measurement{'s' if count != 1 else ''} of {family} runs here)"
            return (
                f"{name} x {ratio:.2f} (no {family} run measured here yet: the median over the families measured)"
                if ratio != 1.0
                else f"{name} as modelled (not measured here yet)"
            )

        beside = f" Jobs running at once each take {self._contention:.2f}x as long as alone (measured at start)." if self._contention > 1.0 else ""
        return (
            "Times are the cost model scaled to this machine: "
            f"{part('training', reading.train_ratio, reading.train_observations)}, {part('length sweep', reading.eval_ratio, reading.eval_observations)}."
            f"{beside}"
        )

    def observe(
        self,
        *,
        family: str = PROBE_FAMILY,
        estimated_train_s: float = 0.0,
        measured_train_s: float = 0.0,
        estimated_eval_s: float = 0.0,
        measured_eval_s: float = 0.0,
    ) -> None:
        """Follow one finished job of ``family``: a pair with an estimate of 0 (nothing of that kind ran) is skipped."""
        with self._lock:
            if estimated_train_s > 0 and measured_train_s > 0:
                self._train.setdefault(family, _Ratio()).follow(measured_train_s / estimated_train_s)
            if estimated_eval_s > 0 and measured_eval_s > 0:
                self._eval.setdefault(family, _Ratio()).follow(measured_eval_s / estimated_eval_s)


@functools.lru_cache(maxsize=8)
def probe_training(threads: int) -> tuple[float, float]:
    """(estimated, measured) seconds of a short training run at ``threads`` torch threads: the Train page's
    default model for :data:`PROBE_CHANGES`' 40 steps (about two seconds on one core of a 2-core machine).

    Training only: the probe's sweep would take longer than it tells; evaluation's ratio waits for the first
    finished job. Measured once per process and thread count (a second job manager in the same process, as
    the tests make, reuses it: the machine has not changed)."""
    config = RunConfig().replace(**PROBE_CHANGES)
    return estimate_cost(config, threads=threads).train_seconds, _training_seconds(config, threads)


def _training_seconds(config: RunConfig, threads: int, seed: int = 0) -> float:
    """Seconds ``config`` trains for at ``threads`` torch threads in the calling thread (its count restored after)."""
    import torch

    from lengen_core.training import train

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))  # this thread's own count, as a job's worker sets it
    try:
        started = time.perf_counter()
        result = train(config, seed=seed)
        return result.train_seconds if result.train_seconds > 0 else time.perf_counter() - started
    finally:
        torch.set_num_threads(previous)


CONTENTION_PROBE_STEPS = 10  # per run: about 1 s on one core of a 2-vCPU EPYC; 40 steps were no steadier


@functools.lru_cache(maxsize=8)
def probe_contention(jobs: int, threads: int) -> float:
    """How many times slower each of ``jobs`` runs trains when they train at once than one alone, each at
    ``threads`` torch threads: the probe's model (:data:`PROBE_CHANGES`) for :data:`CONTENTION_PROBE_STEPS` steps,
    once alone and then ``jobs`` at once in threads of this process (as the job manager's workers run them); the
    mean of theirs over the lone one. 1.0 for one job.

    Short on purpose (about 2 s of both cores on a 2-vCPU machine): a run submitted while it runs trains beside it.
    The job manager runs it on a quiet machine. Noisy: on a 2-vCPU EPYC, three tries in one process read 1.04-1.30
    with 40 steps, 1.09-1.25 with 20 and 1.24-1.33 with 10; five fresh processes 1.19-1.38 (a median of three pairs
    was no steadier); two lesson runs trained 1.37x slower beside each other. Not clamped here
    (:meth:`MachineSpeed.set_contention` does). Measured once per process and setting."""
    if jobs <= 1:
        return 1.0
    config = RunConfig().replace(**{**PROBE_CHANGES, "train.steps": CONTENTION_PROBE_STEPS, "train.log_every": CONTENTION_PROBE_STEPS, "train.warmup_steps": 2})

    alone = _training_seconds(config, threads)
    seconds = [0.0] * jobs

    def one(index: int) -> None:
        seconds[index] = _training_seconds(config, threads, seed=index)

    workers = [threading.Thread(target=one, args=(index,), name=f"lengen-contention-probe-{index}") for index in range(jobs)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return statistics.mean(seconds) / alone if alone > 0 else 1.0


def observe_finished_run(
    speed: MachineSpeed, store: RunStore, run_id: str, config: RunConfig, *, budget: Budget, threads: int, wall_seconds: float, shared_fraction: float = 0.0
) -> None:
    """Tell ``speed`` how a ``done`` run compared with the cost model at ``threads`` torch threads.

    Training is compared for the steps it ran (a run that stopped once learned ran
    part of them). The sweep is compared for the lengths it tested: a length search
    that went past the planned sweep tested more, which is the run generalizing, not
    the machine being slow (our choice; the wait shown before a run still counts the
    planned sweep only). ``wall_seconds`` less the training time is the sweep's time
    (with the model's set-up and the checkpoint, a second or less). Both are divided by
    :meth:`MachineSpeed.slowdown` for the ``shared_fraction`` of the run's wall time that
    other jobs ran beside it, so the ratios stay those of a job alone.
    """
    record = store.get_run(run_id)
    planned = estimate_cost(config, budget, threads=threads)
    trained = float(record.train_seconds or 0.0)
    steps_share = (record.steps_done or 0) / max(config.train.steps, 1)
    tested = sorted({int(length) for length in store.eval_curve([run_id], sweep="default")["length"]})
    main = estimate_cost(config, budget, lengths=tested, threads=threads).eval_seconds if tested else 0.0
    others = sum(point.seconds for point in planned.eval_lengths if point.task)  # a mixture's other tested tasks, as planned
    slowdown = speed.slowdown(shared_fraction)
    speed.observe(
        family=family_of(config),
        estimated_train_s=planned.train_seconds * steps_share,
        measured_train_s=trained / slowdown,
        estimated_eval_s=main + others,
        measured_eval_s=max(0.0, wall_seconds - trained) / slowdown,
    )
