"""Sweeps on Ray: one Ray task per run; the driver, which owns the store, alone writes it.

A task trains and evaluates one run from its config and seed in a Ray worker
process, with a :class:`~lengen_core.remote_records.RecordingStore` in place of
the database: every store write (status, training-curve points, evaluation
points, the checkpoint's bytes) goes, in order, to a mailbox actor. The driver
polls the tasks and the mailbox and writes the records with the store's own API
(:func:`~lengen_core.remote_records.apply_records`), checkpoints into the
store's checkpoint folder. So a worker on another machine takes part without
seeing the database file, and the store stays whole:

* a run's status follows its task: ``queued`` until the worker starts it,
  ``running`` (sent by the worker, written by the driver), then the worker's
  own final status;
* a task that dies (worker process killed, node lost, out of memory) is marked
  ``failed`` with Ray's reason, after the records it had sent are written; Ray's
  retries are off (``max_retries=0``), because a retried run would resend its
  training curve from step 0 (our choice: a dead run is recorded, not rerun);
* cancelling (:meth:`RayRunner.cancel`, or Ctrl-C in the CLI) cancels the tasks
  in flight, marks them and the runs not yet submitted ``cancelled``, and
  returns.

Resources: each task asks Ray for ``cpus_per_run`` CPUs, and one GPU when the
run's device is ``cuda`` (or ``auto`` on a cluster that has GPUs), and sets
torch's threads to ``cpus_per_run``. The driver keeps at most ``max_in_flight``
tasks submitted (default: the cluster's CPUs // ``cpus_per_run``), so Ray's
queue never holds the whole grid and a cancel has little to undo.

Ray is optional: this module imports it only when a runner runs, and
:func:`import_ray` turns its absence into a :class:`ConfigError` naming the flag.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lengen_core.config import RunConfig
from lengen_core.costs import Budget
from lengen_core.cpus import usable_cpus
from lengen_core.errors import ConfigError
from lengen_core.remote_records import Record, RecordingStore, apply_records

if TYPE_CHECKING:
    from lengen_core.runs.extra_sweeps import ExtraSweep
    from lengen_core.runs.progress import RunProgress
    from lengen_core.store import RunStore
    from lengen_core.store.records import RunRecord
    from lengen_core.training import TrainingControl

RAY_MISSING = "needs Ray, which is not installed: python3 -m pip install 'ray==2.60.*' (on the driver and on every node)"
POLL_SECONDS = 0.2


def import_ray(field: str = "--runner") -> Any:
    """The ``ray`` module, or a ConfigError naming ``field`` when Ray is not installed."""
    try:
        import ray
    except ImportError:
        raise ConfigError(field, f"'ray' {RAY_MISSING}") from None
    return ray


@dataclass(frozen=True)
class RemoteJob:
    """What a Ray task needs to train one run: no store path, the parent checkpoint as bytes."""

    run_id: str
    config_json: str
    seed: int
    budget: Budget | None
    torch_threads: int
    parent: tuple[str, bytes] | None = None  # (parent run id, its checkpoint file's bytes) for train.init_from


def train_remotely(job: RemoteJob, mailbox: Any) -> str:
    """The body of a Ray task: train, evaluate and checkpoint one run, every store write sent to ``mailbox``.

    Each ``put`` is waited for, so the records keep their order and all of them
    are in the mailbox when the task returns. Returns the run's final status.
    """
    import ray
    import torch

    from lengen_core.runs.execution import execute_run

    torch.set_num_threads(job.torch_threads)
    with tempfile.TemporaryDirectory(prefix="lengen-ray-") as folder:
        parents = {}
        if job.parent is not None:
            parent_id, data = job.parent
            parents[parent_id] = str(Path(folder) / f"parent-{parent_id}.safetensors")
            Path(parents[parent_id]).write_bytes(data)
        recorder = RecordingStore(lambda record: ray.get(mailbox.put.remote(record)), parents, checkpoint_dir=Path(folder) / "checkpoints")
        config = RunConfig.from_json(job.config_json)
        return execute_run(recorder, job.run_id, config, job.seed, budget=job.budget)


@dataclass(frozen=True)
class RemoteSweep:
    """What a Ray task needs to sweep a stored run again: the plan, the run's record and its checkpoint as bytes."""

    plan: ExtraSweep
    record: RunRecord
    sweep_name: str
    checkpoint: bytes
    budget: Budget | None
    torch_threads: int


def sweep_remotely(job: RemoteSweep, mailbox: Any) -> tuple[int | None, str | None]:
    """The body of an extra sweep's Ray task: evaluate the checkpoint, send the sweep's points to ``mailbox``;
    returns (breakdown length, why it stopped early or None)."""
    import ray
    import torch

    from lengen_core.runs.extra_sweeps import sweep_checkpoint

    torch.set_num_threads(job.torch_threads)
    with tempfile.TemporaryDirectory(prefix="lengen-ray-") as folder:
        checkpoint = Path(folder) / f"{job.plan.run_id}.safetensors"
        checkpoint.write_bytes(job.checkpoint)
        recorder = RecordingStore(lambda record: ray.get(mailbox.put.remote(record)), checkpoint_dir=Path(folder))
        evaluation = sweep_checkpoint(recorder, job.record, job.plan, str(checkpoint), job.sweep_name, budget=job.budget)
        assert evaluation is not None, "a remote sweep has no should_stop: it is cancelled by Ray instead"
        return evaluation.result.breakdown_length, evaluation.stopped


class _Mailbox:
    """Records from every task of a sweep, in arrival order, until the driver drains them (a Ray actor)."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def put(self, record: Any) -> None:
        self.records.append(record)

    def drain(self) -> list[Any]:
        records, self.records = self.records, []
        return records


REACH_TIMEOUT_S = 3.0


def check_reachable(address: str) -> None:
    """Refuse at once an address ``host:port`` (or ``ray://host:port``) where nothing accepts a connection;
    Ray itself would retry for about a minute before failing. ``auto`` and other forms are left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as error:
        raise ConfigError(
            "--ray-address",
            f"nothing answers at {address!r} ({error.strerror or type(error).__name__}); is `ray start --head` running there, "
            "and is the port the head's (6379 by default, 10001 for ray://)?",
        ) from None


_SESSION_LOCK = threading.Lock()
_session = {"users": 0, "started_here": False}


@contextlib.contextmanager
def ray_session(ray: Any, address: str | None) -> Iterator[None]:
    """Connected to Ray for the block: the cluster at ``address``, else ``RAY_ADDRESS``, else a local Ray on 127.0.0.1.

    Sweeps of one process share the connection (the app may run several at
    once); a Ray this process started is shut down when its last sweep ends.
    """
    with _SESSION_LOCK:
        if _session["users"] == 0 and not ray.is_initialized():
            target = address or os.environ.get("RAY_ADDRESS") or None
            options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
            if target is None:
                options.update(num_cpus=usable_cpus(), include_dashboard=False, _node_ip_address="127.0.0.1")
            else:
                check_reachable(target)
            try:
                ray.init(address=target, **options)
            except Exception as error:  # Ray raises ConnectionError, RuntimeError or its own errors here
                hint = " (a cluster with token authentication also needs RAY_AUTH_MODE=token and its token here: RAY_AUTH_TOKEN or ~/.ray/auth_token)"
                raise ConfigError(
                    "--ray-address",
                    f"could not join Ray at {target or 'a new local Ray'!r}: {type(error).__name__}: {str(error)[:300]}{hint if target else ''}",
                ) from None
            _session["started_here"] = True
        _session["users"] += 1
    try:
        yield
    finally:
        with _SESSION_LOCK:
            _session["users"] -= 1
            if _session["users"] == 0 and _session["started_here"]:
                ray.shutdown()
                _session["started_here"] = False


@dataclass
class DriverStats:
    """What the driver did in one :meth:`RayRunner.run` (the scale-out benchmark reports it)."""

    records_received: int = 0  # records the workers sent
    store_writes: int = 0  # records written (a run's back-to-back training points merged)
    store_batches: int = 0  # transactions those writes took (one per drained batch)
    write_seconds: float = 0.0  # the driver's time spent writing them
    dropped_records: list[str] = field(default_factory=list)  # records the store refused (a run deleted meanwhile), and why


class RayRunner:
    """A :class:`~lengen_core.sweeps.Runner` that runs each job as a Ray task and writes the store itself."""

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_run: int = 1,
        max_in_flight: int | None = None,
        poll_seconds: float = POLL_SECONDS,
        task: Callable[[RemoteJob, Any], str] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_records: Callable[[list[Record]], None] | None = None,
    ) -> None:
        """``task`` replaces :func:`train_remotely` as each Ray task's body (the scale-out benchmark's synthetic runs);
        ``should_stop`` is asked every poll and cancels the sweep like :meth:`cancel` once it says so;
        ``on_records`` sees each batch of the workers' records before the store writes it (live progress)."""
        if cpus_per_run < 1:
            raise ConfigError("--ray-cpus-per-run", f"must be >= 1, got {cpus_per_run}")
        if max_in_flight is not None and max_in_flight < 1:
            raise ConfigError("--workers", f"must be >= 1, got {max_in_flight}")
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.max_in_flight = max_in_flight
        self.poll_seconds = poll_seconds
        self.task = task or train_remotely
        self.should_stop = should_stop
        self.on_records = on_records
        self.stats = DriverStats()  # of the last run()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop the sweep from another thread: tasks in flight are cancelled, the rest never start."""
        self._cancel.set()

    def stopping(self) -> bool:
        """Whether the sweep was cancelled (:meth:`cancel`, or ``should_stop``)."""
        return self._cancel.is_set() or (self.should_stop is not None and self.should_stop())

    def run(self, jobs: Sequence[Any], on_done: Callable[[str, str], None] | None = None) -> dict[str, str]:
        """Run every :class:`~lengen_core.sweeps.SweepJob` (all of one store); returns run id -> final status."""
        from lengen_core.store import RunStore

        if not jobs:
            return {}
        paths = {job.store_path for job in jobs}
        if len(paths) != 1:
            raise ConfigError("sweep", f"the jobs of one Ray sweep must share one store, got {len(paths)}")
        ray = import_ray()
        store = RunStore(paths.pop())
        try:
            with ray_session(ray, self.address):
                return _Sweep(ray, store, store.checkpoint_dir, self, jobs, on_done).run()
        except BaseException as error:  # Ray could not be joined, or the driver itself failed: no run stays live
            fail_unfinished(store, jobs, f"the Ray driver stopped ({type(error).__name__}: {error})")
            raise


def fail_unfinished(store: RunStore, jobs: Sequence[Any], reason: str) -> None:
    """Mark ``failed`` every run of ``jobs`` that is not in a final state yet."""
    from lengen_core.store import FINAL_STATUSES

    for job in jobs:
        if store.get_run(job.run_id).status not in FINAL_STATUSES:
            store.set_status(job.run_id, "failed", error=reason)


class _Sweep:
    """One :meth:`RayRunner.run`: the submit / poll / write loop and its bookkeeping."""

    def __init__(
        self, ray: Any, store: RunStore, checkpoint_dir: Path, runner: RayRunner, jobs: Sequence[Any], on_done: Callable[[str, str], None] | None
    ) -> None:
        self.ray, self.store, self.checkpoint_dir, self.runner, self.on_done = ray, store, checkpoint_dir, runner, on_done
        self.waiting = deque(jobs)
        self.run_ids = {job.run_id for job in jobs}
        self.in_flight: dict[Any, Any] = {}  # task ref -> job
        self.results: dict[str, str] = {}
        resources = ray.cluster_resources()
        self.gpus = resources.get("GPU", 0) > 0
        self.limit = runner.max_in_flight or max(1, int(resources.get("CPU", 1)) // runner.cpus_per_run)
        self.mailbox = ray.remote(num_cpus=0)(_Mailbox).remote()
        self.task = ray.remote(runner.task)
        self.stats = runner.stats = DriverStats()

    def run(self) -> dict[str, str]:
        try:
            while (self.waiting or self.in_flight) and not self.runner.stopping():
                while self.waiting and len(self.in_flight) < self.limit:
                    self.submit(self.waiting.popleft())
                ready, _ = self.ray.wait(list(self.in_flight), num_returns=len(self.in_flight), timeout=self.runner.poll_seconds, fetch_local=False)
                self.write_records()
                for ref in ready:
                    self.finish(ref)
            if self.waiting or self.in_flight:
                self.cancel_rest("sweep cancelled")
        except KeyboardInterrupt:
            self.cancel_rest("sweep cancelled (interrupted)")
            raise
        finally:
            self.ray.kill(self.mailbox)
        return self.results

    def submit(self, job: Any) -> None:
        config = RunConfig.from_json(job.config_json)
        device = config.train.device
        gpus = 1 if device == "cuda" or (device == "auto" and self.gpus) else 0
        remote = RemoteJob(job.run_id, job.config_json, job.seed, job.budget, self.runner.cpus_per_run, self.parent_of(config))
        options = {"num_cpus": self.runner.cpus_per_run, "num_gpus": gpus, "max_retries": 0, "name": f"lengen-run-{job.run_id}"}
        self.in_flight[self.task.options(**options).remote(remote, self.mailbox)] = job

    def parent_of(self, config: RunConfig) -> tuple[str, bytes] | None:
        """A fine-tuning run's parent checkpoint, read here (the worker cannot see this machine's files)."""
        from lengen_core.runs.loading import existing_checkpoint

        parent_id = config.train.init_from
        if parent_id is None:
            return None
        path = existing_checkpoint(self.store, parent_id)
        return None if path is None else (parent_id, Path(path).read_bytes())  # None: the worker records the refusal

    def write_records(self) -> None:
        records = self.ray.get(self.mailbox.drain.remote())
        if records and self.runner.on_records is not None:
            self.runner.on_records(records)
        started = time.perf_counter()
        writes, dropped = apply_records(self.store, records, run_ids=self.run_ids, checkpoint_dir=self.checkpoint_dir)
        self.stats.write_seconds += time.perf_counter() - started
        self.stats.records_received += len(records)
        self.stats.store_writes += writes
        self.stats.store_batches += 1 if writes else 0
        self.stats.dropped_records.extend(dropped)

    def finish(self, ref: Any) -> None:
        """A task ended: its records are all written by now; record how it ended if the worker could not."""
        job = self.in_flight.pop(ref)
        try:
            status = self.ray.get(ref)
            reason = None
        except self.ray.exceptions.TaskCancelledError:
            status, reason = "cancelled", "cancelled with its sweep"
        except Exception as error:  # the worker died (killed, out of memory, node lost) or Ray failed the task
            status, reason = "failed", f"Ray task failed ({type(error).__name__}): {str(error).strip()[:2000]}"
        self.results[job.run_id] = self.settle(job.run_id, status, reason)
        if self.on_done:
            self.on_done(job.run_id, self.results[job.run_id])

    def settle(self, run_id: str, status: str, reason: str | None) -> str:
        """The run's final status in the store, set to ``status`` (with ``reason``) when the worker left it live."""
        from lengen_core.store import FINAL_STATUSES, RunNotFound

        try:
            record = self.store.get_run(run_id)
        except RunNotFound:
            return "deleted"  # removed from the store while it ran (the Runs page's delete)
        if record.status not in FINAL_STATUSES:
            self.store.set_status(run_id, status if status in FINAL_STATUSES else "failed", error=reason or f"the task ended with {status!r}")
            record = self.store.get_run(run_id)
        return record.status

    def cancel_rest(self, reason: str) -> None:
        """Cancel the tasks in flight, wait for them to end (a few seconds at most), write what they sent, mark the rest."""
        for ref in self.in_flight:
            self.ray.cancel(ref, force=True)
        deadline = time.monotonic() + 30
        while self.in_flight and time.monotonic() < deadline:
            ready, _ = self.ray.wait(list(self.in_flight), num_returns=len(self.in_flight), timeout=1.0, fetch_local=False)
            self.write_records()
            for ref in ready:
                self.finish(ref)
        self.write_records()
        for ref in list(self.in_flight):
            job = self.in_flight.pop(ref)
            self.results[job.run_id] = self.settle(job.run_id, "cancelled", reason)
        while self.waiting:
            job = self.waiting.popleft()
            self.results[job.run_id] = self.settle(job.run_id, "cancelled", reason)
            if self.on_done:
                self.on_done(job.run_id, self.results[job.run_id])


@dataclass(frozen=True)
class RaySettings:
    """How this server runs sweeps on Ray (read from the environment by :func:`app_ray_settings`)."""

    address: str | None
    cpus_per_run: int

    def where(self) -> str:
        return self.address or "a local Ray this server starts"


def app_ray_settings(environ: Mapping[str, str] | None = None) -> RaySettings | None:
    """``LENGEN_RUNNER=ray`` (with ``RAY_ADDRESS`` and ``LENGEN_RAY_CPUS_PER_RUN``): the app's sweeps go to Ray; else None.

    A bad value, or ``ray`` without Ray installed, is a ConfigError naming the variable.
    """
    variables = os.environ if environ is None else environ
    runner = variables.get("LENGEN_RUNNER", "local").strip() or "local"
    if runner == "local":
        return None
    if runner != "ray":
        raise ConfigError("LENGEN_RUNNER", f"must be 'local' or 'ray', got {runner[:40]!r}")
    import_ray("LENGEN_RUNNER")
    text = variables.get("LENGEN_RAY_CPUS_PER_RUN", "1").strip()
    if not text.isdigit() or not 1 <= int(text) <= 1024:
        raise ConfigError("LENGEN_RAY_CPUS_PER_RUN", f"must be an integer between 1 and 1024, got {text[:40]!r}")
    return RaySettings(variables.get("RAY_ADDRESS") or None, int(text))


class BackgroundSweeps:
    """Ray sweeps driven from threads of this process (the app's Compare page): launch, see, cancel.

    :meth:`launch` records every run as queued first (all or none, as
    :func:`~lengen_core.sweeps.queue_sweep` does), then a thread drives the
    sweep; the page reads the runs from the store and fills cells as they end.
    """

    def __init__(self, settings: RaySettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._runners: dict[str, tuple[RayRunner, threading.Thread]] = {}

    def launch(self, store: RunStore, cells: Sequence[tuple[RunConfig, int]], *, tag: str, budget: Budget | None = None) -> list[str]:
        """Queue ``cells`` as sweep ``tag`` and start driving it; returns the run ids."""
        from lengen_core.sweeps import queue_sweep

        with self._lock:
            if tag in self.running():
                raise ConfigError("sweep.name", f"a sweep named {tag!r} is still running on Ray")
            jobs = queue_sweep(store, cells, tag=tag, budget=budget)
            runner = RayRunner(self.settings.address, cpus_per_run=self.settings.cpus_per_run)
            thread = threading.Thread(target=self._drive, args=(runner, jobs), name=f"ray-sweep-{tag}", daemon=True)
            self._runners[tag] = (runner, thread)
            thread.start()
        return [job.run_id for job in jobs]

    @staticmethod
    def _drive(runner: RayRunner, jobs: Sequence[Any]) -> None:
        try:
            runner.run(jobs)
        except BaseException:  # noqa: BLE001 - run() recorded why on every unfinished run; the page shows them
            return

    def running(self) -> set[str]:
        """Tags of the sweeps whose driver thread is still going."""
        return {tag for tag, (_, thread) in self._runners.items() if thread.is_alive()}

    def cancel(self, tag: str) -> None:
        """Cancel sweep ``tag``: its tasks in flight are cancelled, its runs not yet started never start."""
        entry = self._runners.get(tag)
        if entry is not None:
            entry[0].cancel()

    def wait(self, tag: str, timeout: float | None = None) -> bool:
        """Until sweep ``tag``'s driver has ended; False on timeout."""
        entry = self._runners.get(tag)
        if entry is None:
            return True
        entry[1].join(timeout)
        return not entry[1].is_alive()


class RayJobs:
    """The app's own jobs on Ray (``LENGEN_RUNNER=ray``): each training run the job manager is given becomes a
    one-run Ray sweep, driven from the manager's worker thread.

    The worker's records are written here (the store is written only by the server)
    and followed into the job's :class:`~lengen_core.runs.progress.RunProgress`, so the
    page's progress streams as it does for a local job; the job's cancel cancels its
    Ray task. Extra sweeps go the same way (:meth:`sweep`: the checkpoint is sent as
    its bytes, the points come back at the end). The connection to Ray is made at the
    first job and held until :meth:`close` (a local Ray is not started again for every
    job). What a job cannot do on Ray: pause (a Ray task runs to its end or is
    cancelled), and show a length sweep's points one by one (a run's or an extra
    sweep's points arrive together when the sweep ends).
    """

    def __init__(self, settings: RaySettings) -> None:
        self.settings = settings
        self._held = contextlib.ExitStack()
        self._lock = threading.Lock()
        self._joined = False

    def _join(self) -> None:
        with self._lock:
            if not self._joined:
                self._held.enter_context(ray_session(import_ray("LENGEN_RUNNER"), self.settings.address))
                self._joined = True

    def train(
        self, store: RunStore, run_id: str, config: RunConfig, seed: int, *, control: TrainingControl, progress: RunProgress, budget: Budget | None
    ) -> str:
        """Run ``run_id`` (queued in ``store``) as a Ray task; returns its final status, with ``progress`` finished."""
        from lengen_core.store import FINAL_STATUSES
        from lengen_core.sweeps import SweepJob

        try:
            self._join()
            job = SweepJob(run_id, config.to_json(), seed, str(store.path), budget)
            settings = self.settings
            runner = RayRunner(
                settings.address, cpus_per_run=settings.cpus_per_run, max_in_flight=1, should_stop=lambda: control.cancelled, on_records=progress.follow
            )
            runner.run([job])
        except Exception as error:  # Ray could not be joined, or the driver failed: the run is recorded as failed, never left live
            if store.get_run(run_id).status not in FINAL_STATUSES:
                reason = f"{error.field}: {error.message}" if isinstance(error, ConfigError) else f"the Ray driver stopped ({type(error).__name__}: {error})"
                store.set_status(run_id, "failed", error=reason)
        record = store.get_run(run_id)
        progress.update(phase="finished", status=record.status, error=record.error, paused=False)
        return record.status

    def sweep(
        self, store: RunStore, plan: ExtraSweep, sweep_name: str, *, control: TrainingControl, budget: Budget | None
    ) -> tuple[int | None, str | None] | None:
        """Run an extra sweep of a stored run as a Ray task; returns (breakdown length, why it stopped early), or None
        when it was cancelled (nothing is stored then). The checkpoint travels as its bytes; the points come back
        as one record, which this server writes. An error of the task (the checkpoint disagrees with the store, the
        worker died) is raised here, as a local sweep's would be."""
        self._join()
        ray = import_ray("LENGEN_RUNNER")
        job = RemoteSweep(plan, store.get_run(plan.run_id), sweep_name, Path(plan.checkpoint).read_bytes(), budget, self.settings.cpus_per_run)
        gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0  # the worker evaluates on its GPU when it has one
        mailbox = ray.remote(num_cpus=0)(_Mailbox).remote()
        options = {"num_cpus": self.settings.cpus_per_run, "num_gpus": gpus, "max_retries": 0, "name": f"lengen-sweep-{plan.run_id}"}
        ref = ray.remote(sweep_remotely).options(**options).remote(job, mailbox)
        try:
            while not ray.wait([ref], timeout=POLL_SECONDS, fetch_local=False)[0]:
                if control.should_stop():
                    ray.cancel(ref, force=True)
                    return None  # whatever it sent is left unwritten: a cancelled sweep stores nothing
            result: tuple[int | None, str | None] = ray.get(ref)
            apply_records(store, ray.get(mailbox.drain.remote()), run_ids={plan.run_id}, checkpoint_dir=store.checkpoint_dir)
            return result
        finally:
            ray.kill(mailbox)

    def close(self) -> None:
        """Let go of the Ray connection (a local Ray this process started is shut down with its last user)."""
        with self._lock:
            self._held.close()
            self._joined = False
