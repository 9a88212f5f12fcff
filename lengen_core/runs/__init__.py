"""A run's life, from request to stored result, in one place.

=====================  ==============================================================
module                 its one job
=====================  ==============================================================
``admission``          what a request must pass before anything is written (``admit``:
                       seed, device, cost; ``check_parent``: a fine-tuning run's
                       parent), and the queued runs it becomes (``create_run(s)``)
``provenance``         the code version and environment recorded with a run
``sink``               ``RunSink``: the writes a running run makes (``RunStore`` and
                       ``RecordingStore`` both provide them; mypy checks it)
``execution``          ``execute_run``: train, evaluate every tested task, checkpoint,
                       record, one final status
``evaluate``           ``evaluate_model``: the one evaluation pipeline (a run's own
                       sweep, an extra sweep, the CLI's ``eval``); ``record_sweep``
``extra_sweeps``       sweeping a stored run again: ``plan_extra_sweep`` (checked
                       before it runs), ``execute_extra_sweep`` (``sweep_checkpoint``
                       where the checkpoint is at hand: a Ray worker)
``loading``            ``load_run``: a stored run with its model, and the one rule
                       that its checkpoint must agree with the store
``stored_sweeps``      which of a run's stored sweeps set its curve and breakdown
``progress``           ``RunProgress``: a run's live state for the pages (``follow``: of
                       a run trained elsewhere, from its store writes)
``identity``           ``RunIdentity``: when two requests are the same run (config id,
                       seed, code version); ``Submission``: what a request became
``speed``              ``MachineSpeed``: the cost model scaled to this machine, per
                       family of runs, from a start-up probe and every finished run
``manager``            ``JobManager``: the app's bounded pool of workers and its queue
                       (``request`` shares identical requests; ``place_in_queue``)
=====================  ==============================================================

Import from the modules (``from lengen_core.runs.execution import execute_run``);
this package's own namespace stays empty so that importing one part stays cheap.
"""
