"""Restrictions that carry length (issue 22): kept tokens keep their long-instance positions, through batching,
task markers, distractor rows and the index position rule; the first (short) form stays for stored runs."""

from __future__ import annotations

import random

import pytest
import torch

from lengen_core.batching import collate
from lengen_core.config import RunConfig
from lengen_core.data import ExampleSource, stream_rng, with_distractors
from lengen_core.positions import build_scheme
from lengen_core.recipes import RECIPES
from lengen_core.tasks import build_task
from lengen_core.vocab import VOCAB


@pytest.mark.parametrize("options", [{}, {"repeats": True, "alphabet_size": 6}])
def test_a_sort_restriction_keeps_its_long_positions_and_is_answered_to_its_end(options: dict[str, object]) -> None:
    task = build_task("sort_restricted", options)
    for seed in range(50):
        example = task.sample(random.Random(seed), 5)
        total, step = example.meta["long_length"], example.meta["step"]
        tokens, index = VOCAB.decode(example.tokens), example.source_index
        arrow = tokens.index(">")
        assert index[0] == 0 and index[arrow] == total + 1  # <bos> and > where the long instance has them
        assert all(1 <= value <= total for value in index[1:arrow])  # kept inputs within the long input
        assert list(index) == sorted(set(index)), "positions only grow"
        given = index[arrow + 1 : len(example.prompt)]
        assert all(total + 2 <= value < total + 2 + step for value in given)  # outputs before the step
        assert index[len(example.prompt)] == total + 2 + step  # the answer starts at the step's long position
        assert index[-1] == index[-2] + 1  # <eos> right after the last answer token
        inputs, outputs = tokens[1:arrow], tokens[arrow + 1 : -1]
        assert len(inputs) == 5 and outputs == sorted(inputs, key=VOCAB.id)  # the kept instance, sorted to its end
        # the coupled id of an output is the kept input position it copies
        if len(set(inputs)) == 5:
            assert [example.coupled_ids[i] for i in range(arrow + 1, len(tokens) - 1)] == [index[tokens.index(symbol, 1)] for symbol in outputs]


def test_the_first_rounds_long_form_answers_one_step() -> None:
    example = build_task("sort_restricted", {"format": "long"}).sample(random.Random(3), 5)
    total, step = example.meta["long_length"], example.meta["step"]
    assert len(example.answer) == 2 and example.source_index[-2:] == (total + 2 + step, total + 3 + step)


def test_a_reversal_restriction_keeps_the_left_neighbour_it_answers_with() -> None:
    task = build_task("reverse_restricted")
    for seed in range(50):
        example = task.sample(random.Random(seed), 4)
        index = example.source_index
        tokens = VOCAB.decode(example.tokens)
        arrow = tokens.index(">")
        first_answer = len(example.prompt)
        answer_input = tokens.index(tokens[first_answer], 1)  # the answer's input occurrence (distinct symbols)
        last_output_input = tokens.index(tokens[first_answer - 1], 1)
        assert index[last_output_input] - index[answer_input] == 1, "the answer is the left neighbour in the long input"
        assert index[first_answer] == 2 * example.meta["long_length"] + 2 - index[answer_input]  # reversal's output position
        assert tokens[arrow + 1 : -1] == tokens[1:arrow][::-1]  # the kept instance, reversed to its end


@pytest.mark.parametrize("scheme", ["learned", "rope"])
def test_the_index_rule_reads_the_long_positions_with_markers_and_offsets(scheme: str) -> None:
    config = RunConfig().replace(
        **{
            "task.name": "copy_backward_unique",
            "positions.scheme": scheme,
            "positions.max_position": 256,
            "positions.train_offset_max": 256 if scheme == "learned" else 0,
            "task.mixture": [{"name": "reverse_restricted", "train_length_min": 4, "train_length_max": 4, "options": {"source_factor": 8}}],
        }
    )
    source = ExampleSource(config.task).part("reverse_restricted")
    examples = source.sample_many(stream_rng("restrictions"), 4, 8)
    assert all(example.source_index[1] == 1 and example.source_index[2] >= 2 for example in examples)  # the marker is index 1
    batch = collate(examples)
    ids = build_scheme(config.positions).position_ids(batch, training=False)  # [B, T]
    for row, example in enumerate(examples):
        assert ids[row, : len(example.tokens)].tolist() == list(example.source_index)
    trained = build_scheme(config.positions).position_ids(batch, training=True, generator=torch.Generator().manual_seed(0))
    shift = trained - ids  # one offset per example, every id inside the table
    for row, example in enumerate(examples):
        assert len(set(shift[row, : len(example.tokens)].tolist())) == 1
    assert int(trained.max()) < 256
    if scheme == "learned":
        assert int(shift.max()) > 0


def test_a_restriction_after_distractors_keeps_its_positions_shifted_to_its_start() -> None:
    task = build_task("reverse_restricted")
    distractor = build_task("copy_backward_unique").sample(random.Random(1), 3)
    example = task.sample(random.Random(2), 4)
    row = with_distractors(example, [distractor])
    start = len(distractor.tokens)
    assert row.source_index == tuple(range(start)) + tuple(start + value for value in example.source_index)
    assert collate([row, distractor]).source_index[1].tolist()[: len(distractor.tokens)] == list(range(len(distractor.tokens)))


def test_runs_stored_before_the_option_keep_the_short_form() -> None:
    config = RECIPES["restrictions"].apply(RunConfig().replace(**{"task.train_length_max": 6, "positions.scheme": "nope"}))
    stored = config.to_dict()
    del stored["task"]["mixture"][0]["options"]["format"]
    old = RunConfig.from_stored(stored).task.mixture[0].options
    assert old["format"] == "short" and config.task.mixture[0].options["format"] == "long_to_end"
    example = build_task("sort_restricted", old).sample(random.Random(0), 5)
    assert example.source_index is None and len(example.answer) == 2 and VOCAB.decode(example.prompt)[-2] == ">"


def test_the_dense_hint_recipe_keeps_the_main_tasks_examples() -> None:
    base = RunConfig().replace(**{"task.name": "sort_repeated", "task.train_length_max": 20, "positions.scheme": "nope", "train.batch_size": 64})
    recipe = RECIPES["successor_hint_dense"].apply(base)
    assert recipe.train.batch_size == 128 and recipe.task.mixture[0].name == "sort_successor_dense"
    drawn = ExampleSource(recipe.task).sample_training(stream_rng("count"), 128 * 40)
    main = sum(VOCAB.token(example.prompt[1]) == "<task:sort_repeated>" for example in drawn) / 40
    assert abs(main - 64) < 4  # as many sort examples per step as the baseline's 64, on average


def test_the_dense_hint_is_right_only_when_every_successor_is() -> None:
    from lengen_core.config import TaskConfig
    from lengen_core.evaluation import score

    source = ExampleSource(TaskConfig(name="sort_successor_dense", train_length_min=1, train_length_max=6))
    assert source.scores_prompt_labels
    example = source.sample(random.Random(4), 6)
    labelled = [position for position, target in enumerate(example.prefix_targets) if target]
    assert len(labelled) == 5  # one per input but the last, whose successor is the answer
    right = [target or 0 for target in example.prefix_targets[: len(example.prompt)]]
    assert score(source.task, [example], [example.answer_without_eos], [right])[0] == 1
    wrong = list(right)
    wrong[labelled[2]] = example.prompt[1]  # one successor wrong
    assert score(source.task, [example], [example.answer_without_eos], [wrong])[0] == 0


@pytest.mark.parametrize(
    ("name", "step"), [("retrieve_right_unique", 1), ("retrieve_left_unique", -1), ("retrieve_right_first", 1), ("retrieve_left_last", -1)]
)
def test_a_query_coupled_to_its_occurrence_gives_the_answer_its_id_plus_or_minus_one(name: str, step: int) -> None:
    from lengen_core.config import check_compatible
    from lengen_core.errors import ConfigError

    task = build_task(name, {"query_coupled": True})
    assert not task.coupling_needs_answer and build_task(name).coupling_needs_answer
    for seed in range(20):
        example = task.sample(random.Random(seed), 8)
        query_slot = len(example.prompt) - 2  # <bos> c_1..c_n | q =
        query_id, answer_id = example.coupled_ids[query_slot], example.coupled_ids[len(example.prompt)]
        assert query_id == example.meta["query_position"] + 1 and answer_id == query_id + step
        assert example.coupled_ids[query_slot + 1] == query_id  # '=', where the answer is predicted, carries it too
        assert example.prompt[example.meta["query_position"] + 1] == example.prompt[query_slot]  # the id is the query's occurrence
    coupled = RunConfig().replace(
        **{"task.name": name, "task.options": {"query_coupled": True}, "positions.scheme": "coupled", "task.train_length_min": 4, "eval.lengths": [8]}
    )
    check_compatible(coupled)  # plain coupling may run: the ids come from the prompt
    with pytest.raises(ConfigError, match="predictive_coupled"):
        RunConfig().replace(**{"task.name": name, "positions.scheme": "coupled", "task.train_length_min": 4, "eval.lengths": [8]})
