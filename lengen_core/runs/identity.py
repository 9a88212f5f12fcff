"""When two requests are the same run: the one rule the job manager and the store share.

Training is seeded, so a request with the config id, seed and code version of
another run would recompute that run's result (up to float rounding: thread
counts and devices may differ). :class:`RunIdentity` is those three values;
:meth:`RunStore.find_identical <lengen_core.store.RunStore.find_identical>` looks
one up among finished runs and :class:`~lengen_core.runs.manager.JobManager`
among its queued and running jobs.

What is left out, and why (our choices):

* a run's name and tags say who asked and where it is shown, not what was
  trained; a shared run gains the tags of every request it answers;
* only ``done`` runs are shared once finished: a failed, cancelled or
  interrupted run has no result to give, and a diverged one may have diverged
  by rounding, so a new request trains again;
* the code version includes ``.dirty`` for an edited checkout, whose runs are
  shared among themselves as well (the edit is not part of the version).
"""

from __future__ import annotations

from dataclasses import dataclass

from lengen_core.config import RunConfig
from lengen_core.runs.provenance import code_version

SHARED_FINISHED_STATUS = "done"


@dataclass(frozen=True)
class RunIdentity:
    """What makes two runs the same: the config's id, the seed and the code that trains it."""

    config_id: str
    seed: int
    code_version: str

    @classmethod
    def of(cls, config: RunConfig, seed: int) -> RunIdentity:
        """The identity a run of ``config`` with ``seed`` gets from this code."""
        return cls(config.config_id, int(seed), code_version())


@dataclass(frozen=True)
class Submission:
    """What a request became: ``run_id``, and ``shared`` when it is another request's run.

    ``shared`` is None for a new run, ``"joined"`` when the request joined an
    identical queued or running job (it watches the same progress), and
    ``"stored"`` when an identical run had already finished (its result is there at once).
    """

    run_id: str
    shared: str | None = None

    def note(self) -> str | None:
        """What a page says about a shared request (None for a new run)."""
        if self.shared == "stored":
            return f"Run `{self.run_id}` with the same settings and seed was trained earlier; its result is shown. Choose another seed for a fresh run."
        if self.shared == "joined":
            return f"Run `{self.run_id}` with the same settings and seed is already queued or training; this request follows it."
        return None
