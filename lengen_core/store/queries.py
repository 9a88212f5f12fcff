"""SQL text that several reads share: column lists, the eval-curve query, the newest checkpoint per run."""

from __future__ import annotations

# The columns of ``runs`` a RunRecord holds, in its field order.
RUN_COLUMNS = (
    "run_id, name, config_id, config, seed, status, error, code_version, environment, created_at, started_at, "
    "finished_at, breakdown_length, train_length_max, steps_done, train_seconds, owner, tags, stop_reason, learned_step, "
    "breakdown_low, breakdown_high, breakdown_bound"
)
RUN_FIELDS: tuple[str, ...] = tuple(name.strip() for name in RUN_COLUMNS.split(","))

# A run's task as listings show it: the task's name, and for a task the user wrote (lengen_core.tasks.expression_task)
# ``expression:<its name>``, so that two custom tasks are two rows on Compare and two choices on Runs.
TASK_LABEL = "CASE WHEN task = 'expression' THEN 'expression:' || coalesce(json_extract_string(config, '$.task.options.name'), '') ELSE task END"

# One row of a run listing: the filterable fields, without the JSON blobs.
LIST_COLUMNS = (
    f"run_id, name, status, {TASK_LABEL} AS task, scheme, attention, train_length_max, breakdown_length, "
    "CASE WHEN train_length_max > 0 THEN breakdown_length::DOUBLE / train_length_max END AS breakdown_ratio, "
    "seed, config_id, created_at, started_at, finished_at, steps_done, train_seconds, tags, stop_reason, learned_step, "
    "breakdown_low, breakdown_high, breakdown_bound, "
    # what theory beside measurement needs (lengen_core.theory): APE's training offsets and how far the run was tested
    "TRY_CAST(json_extract_string(config, '$.positions.train_offset_max') AS INTEGER) AS train_offset_max, "
    "(SELECT max(e.length) FROM eval_points AS e WHERE e.run_id = runs.run_id AND e.sweep = 'default') AS longest_tested, "
    # whether a run learned its range, and how far it got (Compare's "did not learn: 0.94 in distribution"): the lowest
    # exact match of its own sweep at lengths up to the longest training length, and its samples per length
    "(SELECT min(e.exact_match) FROM eval_points AS e WHERE e.run_id = runs.run_id AND e.sweep = 'default' "
    "AND e.length <= runs.train_length_max) AS in_distribution, "
    "TRY_CAST(json_extract_string(config, '$.eval.samples_per_length') AS INTEGER) AS samples_per_length, "
    # multi-task runs and fine-tuning: the other tasks of the mixture (comma-joined) and the parent run. The config is
    # stored compact (values.py: separators "," ":"), so a LIKE finds the few rows that have them and only those are
    # parsed: three JSON extracts per row made the 10,000-run listing 2.8x slower (0.076 s against 0.027 s)
    "CASE WHEN config LIKE '%\"mixture\":[{%' THEN array_to_string(json_extract_string(config, '$.task.mixture[*].name'), ',') END AS mixture, "
    "CASE WHEN config LIKE '%\"init_from\":\"%' THEN json_extract_string(config, '$.train.init_from') END AS init_from"
)
LIST_ORDER = "ORDER BY created_at DESC, run_id"  # newest first

TRAIN_COLUMNS: tuple[str, ...] = ("step", "loss", "accuracy", "lr", "wall_time_s", "tokens_per_s", "in_distribution")
EVAL_COLUMNS: tuple[str, ...] = ("length", "n", "exact_match", "exact_match_low", "exact_match_high", "token_accuracy")

ARTIFACT_COLUMNS = "run_id, kind, path, created_at"

# (run_id, checkpoint_path): the newest checkpoint artifact of every run that has one.
NEWEST_CHECKPOINTS = "SELECT run_id, arg_max(path, created_at) AS checkpoint_path FROM artifacts WHERE kind = 'checkpoint' GROUP BY run_id"


def eval_curve_query(*conditions: str) -> str:
    """Eval points joined with their sweep's breakdown, ordered by run, sweep, length.

    Columns run_id, sweep, length, n, exact_match(_low/_high), token_accuracy,
    breakdown_length, train_length_max, breakdown_low, breakdown_high, bound_reason. ``conditions`` (ANDed) name
    the points table ``p``, e.g. ``"list_contains(?, p.run_id)"``.
    """
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return (
        f"SELECT p.run_id, p.sweep, {', '.join('p.' + key for key in EVAL_COLUMNS)}, s.breakdown_length, s.train_length_max, "
        "s.breakdown_low, s.breakdown_high, s.bound_reason "
        f"FROM eval_points AS p LEFT JOIN eval_sweeps AS s USING (run_id, sweep){where} ORDER BY p.run_id, p.sweep, p.length"
    )
