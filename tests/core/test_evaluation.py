"""Evaluation: greedy decoding (never teacher forcing), Wilson intervals, breakdown length."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lengen_core.config import EvalConfig, ModelConfig, PositionConfig, TaskConfig
from lengen_core.evaluation import EvalPoint, breakdown_length, greedy_decode, resolve_eval_lengths, score, wilson_interval
from lengen_core.models import Transformer
from lengen_core.positions import build_scheme
from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task
from lengen_core.vocab import BOS_ID, EOS_ID, VOCAB


def copy_example(symbols: list[int]) -> Example:
    n = len(symbols)
    prompt = (BOS_ID, *symbols, VOCAB.id("="))
    answer = (*symbols, EOS_ID)
    coupled = (0, *range(1, n + 1), n + 1, *range(1, n + 1), n + 1)
    segments = (0,) + (1,) * n + (0,) + (ANSWER_SEGMENT,) * (n + 1)
    return Example(prompt, answer, n, segments, coupled, None)


def symbols(*indices: int) -> list[int]:
    return [VOCAB.id(f"s{i}") for i in indices]


def make_model(scheme: str = "rope", seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    model = Transformer(ModelConfig(n_layers=2, n_heads=2, d_model=32, d_ff=64), build_scheme(PositionConfig(scheme=scheme, max_position=64)))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model.eval()


def reference_greedy(model: Transformer, example: Example) -> list[int]:
    """Step-by-step greedy decoding of one example, no cache, no batching: the oracle."""
    scheme = model.scheme
    from lengen_core.batching import collate

    ids = scheme.position_ids(collate([example]), training=False)[0]
    tokens = list(example.prompt)
    generated: list[int] = []
    for _ in range(len(example.answer)):
        logits = model(torch.tensor([tokens]), ids[None, : len(tokens)]).logits
        next_token = int(logits[0, -1].argmax())
        if next_token == EOS_ID:
            break
        generated.append(next_token)
        tokens.append(next_token)
    return generated


@pytest.mark.parametrize("scheme", ["rope", "learned", "coupled", "alibi", "fire"])
def test_batched_cached_decoding_equals_step_by_step_reference(scheme: str) -> None:
    model = make_model(scheme)
    examples = [copy_example(symbols(1, 2, 3)), copy_example(symbols(4, 5, 6, 7, 8, 9)), copy_example(symbols(10))]
    decoded = greedy_decode(model, examples)
    for example, answer in zip(examples, decoded.answers):
        assert answer == reference_greedy(model, example)


def test_decoding_never_reads_the_true_answer() -> None:
    """Same prompt, different true answers of the same length -> identical predictions.

    With teacher forcing the predictions would follow the fed answer tokens.
    """
    model = make_model("rope")
    base = copy_example(symbols(1, 2, 3, 4, 5))
    other_answer = dataclasses.replace(base, answer=(*symbols(9, 9, 9, 9, 9), EOS_ID))
    first, second = greedy_decode(model, [base]).answers[0], greedy_decode(model, [other_answer]).answers[0]
    assert first == second


def test_decoding_does_not_depend_on_batch_neighbours() -> None:
    model = make_model("rope")
    short = copy_example(symbols(3, 1))
    alone = greedy_decode(model, [short]).answers[0]
    with_long_neighbour = greedy_decode(model, [copy_example(symbols(*range(12))), short]).answers[1]
    assert alone == with_long_neighbour


def test_score_counts_exact_and_per_token_accuracy() -> None:
    task = Task()
    examples = [copy_example(symbols(1, 2, 3)), copy_example(symbols(4, 5))]
    correct, token_accuracy = score(task, examples, [symbols(1, 2, 3), symbols(4, 6)])
    assert correct == 1
    # second example: truth (s4, s5, eos), predicted (s4, s6, eos): 2 of 3 tokens right
    assert token_accuracy == pytest.approx((1.0 + 2 / 3) / 2)


def test_wilson_interval_known_values_and_sample_size() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(3.8415 / 13.8415, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(1 - 3.8415 / 13.8415, abs=1e-4)
    small = wilson_interval(19, 20)
    large = wilson_interval(190, 200)
    assert small[0] < large[0] < 0.95 < large[1] < small[1]


def point(length: int, accuracy: float) -> EvalPoint:
    return EvalPoint(length, 100, accuracy, accuracy, accuracy, accuracy)


def test_breakdown_length_is_last_length_before_the_first_failure() -> None:
    points = [point(10, 1.0), point(20, 0.95), point(30, 0.5), point(40, 0.97)]
    assert breakdown_length(points, 0.9) == 20  # 40 recovers but 30 already broke
    assert breakdown_length(list(reversed(points)), 0.9) == 20  # order of points does not matter
    assert breakdown_length([point(5, 0.2)], 0.9) is None
    assert breakdown_length([point(5, 0.9)], 0.9) == 5  # threshold is inclusive


def test_default_eval_lengths_reach_four_times_the_training_length() -> None:
    class Lengths(Task):
        name = "lengths_probe"
        min_length = 1
        max_length = 1000

    task = Lengths()
    task_config = TaskConfig.__new__(TaskConfig)  # bypass registry lookup: only lengths are read
    object.__setattr__(task_config, "train_length_max", 10)
    lengths = resolve_eval_lengths(task_config, EvalConfig(), task)
    assert lengths[0] == 1 and lengths[-1] == 40 and 10 in lengths and len(lengths) >= 10
    assert resolve_eval_lengths(task_config, EvalConfig(lengths=(7, 3, 7)), task) == [3, 7]


@pytest.mark.parametrize("scheme", ["fire", "predictive_coupled"])
def test_cached_and_uncached_batched_decoding_agree(scheme: str) -> None:
    model = make_model(scheme)
    examples = [copy_example(symbols(*range(k, k + n))) for k, n in ((0, 2), (3, 7), (20, 4))]
    cached = greedy_decode(model, examples, use_cache=True)
    uncached = greedy_decode(model, examples, use_cache=False)
    assert cached.answers == uncached.answers
    assert cached.position_ids == uncached.position_ids
