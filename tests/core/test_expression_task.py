"""A task written as an expression (issue 24): it re-creates built-in tasks, lives in the config, and is refused
before training when it cannot run."""

from __future__ import annotations

import random

import pytest

from lengen_core.config import RunConfig
from lengen_core.errors import ConfigError
from lengen_core.params import config_from_params, config_to_params
from lengen_core.tasks import build_task
from lengen_core.tasks.expression_language import ExpressionError, symbol
from lengen_core.tasks.expression_task import answer_tokens
from lengen_core.vocab import VOCAB


def custom(**changes: object) -> RunConfig:
    base = {"task.name": "expression", "positions.scheme": "nope", "task.train_length_min": 1, "task.train_length_max": 8, "eval.lengths": [4, 8, 16]}
    return RunConfig().replace(**{**base, **changes})


def test_reverse_written_as_an_expression_gives_reverses_examples_from_the_same_seed() -> None:
    mine = build_task("expression", {"answer": "x[::-1]", "alphabet_size": 16, "coupling": "len(x) - 1 - i"})
    reverse = build_task("reverse")
    for seed in range(300):
        a, b = mine.sample(random.Random(seed), 9), reverse.sample(random.Random(seed), 9)
        assert a.tokens == b.tokens and a.prompt == b.prompt
        arrow = len(a.prompt) - 1
        # Cho et al.'s ids on the inputs and the answer; '>' is uncoupled here (reverse gives it n + 1)
        assert a.coupled_ids[:arrow] == b.coupled_ids[:arrow] and a.coupled_ids[arrow + 1 :] == b.coupled_ids[arrow + 1 :]
    assert mine.has_coupling and not mine.coupling_needs_answer


def test_sorted_written_as_an_expression_gives_sorts_examples_from_the_same_seed() -> None:
    mine = build_task("expression", {"answer": "sorted(x)", "alphabet_size": 128, "distinct": True})
    sort = build_task("sort")
    for seed in range(300):
        assert mine.sample(random.Random(seed), 12).tokens == sort.sample(random.Random(seed), 12).tokens


def test_a_parity_expression_answers_as_parity_on_a_thousand_of_its_inputs() -> None:
    mine = build_task("expression", {"answer": "sum(x) % 2", "symbols": "01"})
    parity = build_task("parity")
    rng = random.Random(0)
    for _ in range(1000):
        example = parity.sample(rng, rng.randint(1, 40))
        bits = [int(token) for token in VOCAB.decode(example.prompt[1:-1])]
        assert mine.from_inputs(bits).answer == example.answer


def test_the_expression_is_the_config_so_ids_links_and_stores_carry_it() -> None:
    config = custom(**{"task.options": {"name": "count_a", "answer": "count(x, 'a') % 10", "symbols": "ab"}})
    other = custom(**{"task.options": {"name": "count_a", "answer": "count(x, 'b') % 10", "symbols": "ab"}})
    assert config.config_id != other.config_id
    assert config_from_params(config_to_params(config)) == config  # the URL form
    assert RunConfig.from_stored(config.to_dict()) == config  # the store's form
    assert config.task.options["answer"] == "count(x, 'a') % 10"


def test_a_bad_expression_is_refused_naming_the_field_and_the_column() -> None:
    with pytest.raises(ConfigError) as caught:
        custom(**{"task.options": {"answer": "sorted(x) + x.copy"}})
    assert caught.value.field == "task.options.answer" and "column 14: attribute access (.copy)" in caught.value.message


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"answer": "x[5]"}, "task.options.answer", "at length 1, on x = "),  # the training minimum is probed too
        ({"answer": "[a for a in x for b in x for c in x for d in x if d == 'z']"}, "task.options.answer", "steps"),
        ({"answer": "x * 6"}, "task.options.answer", "at most 4 n + 16"),
        ({"answer": "[len(x)] * 2"}, "task.options.answer", "must be 0-9"),
        ({"answer": "x", "coupling": "i + 100"}, "task.options.coupling", "must be an input position"),
        ({"answer": "x", "symbols": "a1"}, "task.options.symbols", "mixes digits"),
        ({"answer": "x", "symbols": "a"}, "task.options.symbols", "2 to 128"),
        ({"answer": "x", "name": "../etc"}, "task.options.name", "letters, digits"),
        ({"answer": "x", "alphabet_size": 4, "distinct": True}, "task.train_length_max", "at most the alphabet's 4"),
    ],
)
def test_an_expression_that_cannot_run_is_refused_before_training(options: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        custom(**{"task.options": options, "positions.scheme": "coupled" if "coupling" in options else "nope"})
    assert caught.value.field == field and words in caught.value.message


def test_a_coupling_rule_that_reads_the_input_is_for_predictive_coupling_only() -> None:
    options = {"answer": "sorted(x)", "coupling": "index(x, sorted(x)[i])", "alphabet_size": 32, "distinct": True}
    with pytest.raises(ConfigError, match="predictive_coupled"):
        custom(**{"task.options": options, "positions.scheme": "coupled"})
    config = custom(**{"task.options": options, "positions.scheme": "predictive_coupled", "positions.max_position": 64})
    example = build_task("expression", config.task.options).sample(random.Random(1), 6)
    inputs = example.prompt[1:-1]
    assert [example.coupled_ids[1 + inputs.index(token)] for token in example.answer[:-1]] == list(example.coupled_ids[len(example.prompt) : -1])


def test_answers_are_written_as_tokens() -> None:
    assert VOCAB.decode(answer_tokens(-120)) == ["-", "1", "2", "0"]
    assert VOCAB.decode(answer_tokens(True)) == ["<yes>"]
    assert VOCAB.decode(answer_tokens((1, symbol("a"), False))) == ["1", "a", "<no>"]
    with pytest.raises(ExpressionError, match="flat"):
        answer_tokens(((1,),))


def test_the_custom_task_trains_and_tests_like_any_other(tmp_path) -> None:
    from lengen_core.runs.admission import create_run
    from lengen_core.runs.execution import execute_run
    from lengen_core.store import RunStore

    config = custom(
        **{
            "task.options": {"name": "first_a", "answer": "index(x, 'a')", "symbols": "ab"},
            "train.steps": 20,
            "model.n_layers": 1,
            "model.d_model": 32,
            "model.d_ff": 64,
            "eval.samples_per_length": 8,
        }
    )
    store = RunStore(tmp_path / "runs.duckdb")
    run_id = create_run(store, config, 0, name="custom")
    execute_run(store, run_id, config, 0)
    assert store.get_run(run_id).status == "done"
    curve = store.eval_curve([run_id])
    assert sorted(curve["length"].unique().tolist()) == [4, 8, 16]


def test_every_example_in_docs_tasks_md_is_a_valid_task() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "tasks.md").read_text()
    table = text[text.index("| task | answer | coupling |") : text.index("**Coupling.**")]
    rows = re.findall(r"^\| ([^|]+) \| `([^`]+)` \| (?:`([^`]*)`)?", table, flags=re.M)
    assert len(rows) == 10
    for title, answer, coupling in rows:
        symbols = "01" if "parity" in title else "abc"
        options = {"answer": answer, "coupling": coupling or "", "symbols": symbols}
        if title.startswith("sort"):
            options = {**options, "symbols": "ab", "alphabet_size": 32, "distinct": True}
        task = build_task("expression", options)
        for length in (1, 7, 30):
            task.check_length(length)


def test_the_plugin_example_and_its_expression_agree_on_a_thousand_inputs() -> None:
    plugin = build_task("a_before_b")
    mine = build_task("expression", {"answer": "count(x[:index(x, 'b')], 'a') if 'b' in x else count(x, 'a')", "symbols": "abc"})
    rng = random.Random(0)
    for _ in range(1000):
        example = plugin.sample(rng, rng.randint(1, 30))
        assert mine.from_inputs([symbol(name) for name in VOCAB.decode(example.prompt[1:-1])]).answer == example.answer
