"""Evaluation: greedy decoding (never teacher forcing), Wilson intervals, breakdown length."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lengen_core.config import POSITION_SCHEMES, EvalConfig, ModelConfig, PositionConfig, TaskConfig
from lengen_core.evaluation import EvalPoint, breakdown_length, decoding_inputs, greedy_decode, resolve_eval_lengths, score, wilson_interval
from lengen_core.models import Transformer
from lengen_core.positions import build_scheme
from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task
from lengen_core.vocab import BOS_ID, EOS_ID, VOCAB


def copy_example(symbols: list[int]) -> Example:
    """Copy ``symbols``; coupled ids pair each symbol with its copy, and the symbols get a
    digit significance (n..1, as if they were the digits of a number) so that Abacus applies too."""
    n = len(symbols)
    prompt = (BOS_ID, *symbols, VOCAB.id("="))
    answer = (*symbols, EOS_ID)
    coupled = (0, *range(1, n + 1), n + 1, *range(1, n + 1), n + 1)
    significance = (0, *range(n, 0, -1), 0, *range(n, 0, -1), 0)
    segments = (0,) + (1,) * n + (0,) + (ANSWER_SEGMENT,) * (n + 1)
    return Example(prompt, answer, n, segments, coupled, significance)


def symbols(*indices: int) -> list[int]:
    return [VOCAB.id(f"s{i}") for i in indices]


ATTENTIONS = {  # model.attention settings: dense, and HSA with either local mixer (chunks of 4 tokens)
    "dense": {},
    "hsa-swa": {"attention": "hsa", "hsa": {"chunk_size": 4, "top_k": 2, "window": 8, "local_mixer": "swa", "retrieval_dim": 8}},
    "hsa-recurrent": {"attention": "hsa", "hsa": {"chunk_size": 4, "top_k": 2, "window": 8, "local_mixer": "recurrent", "retrieval_dim": 8}},
}


def make_model(scheme: str = "rope", seed: int = 0, attention: str = "dense") -> Transformer:
    torch.manual_seed(seed)
    model = Transformer(
        ModelConfig(n_layers=2, n_heads=2, d_model=32, d_ff=64, **ATTENTIONS[attention]), build_scheme(PositionConfig(scheme=scheme, max_position=64))
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model.eval()


def slot_ids(model: Transformer, examples: list[Example]) -> list[torch.Tensor]:
    """Each example's ids of its prompt and answer slots, ``[P + A]``, as ``greedy_decode(seed=0)`` draws them.

    Random schemes draw per batch: the whole batch for dense models; HSA models
    decode each prompt length apart, so the examples here all differ in prompt length.
    """
    batches = [[example] for example in examples] if model.chunk_aligned else [examples]
    ids = []
    for batch_examples in batches:
        batch, position_ids = decoding_inputs(model.scheme, batch_examples, seed=0)  # [B, P + A]
        ids += [row[real] for row, real in zip(position_ids, batch.token_index >= 0)]
    return ids


@torch.no_grad()
def reference_greedy(model: Transformer, example: Example, ids: torch.Tensor) -> tuple[list[int], list[int]]:
    """Step-by-step greedy decoding of one example, one full forward per token, no cache, no batching: the oracle.

    ids: [P + A] its slot ids (predictive coupling feeds back its predicted ids instead).
    Returns the answer and the ids of its tokens (and of the <eos> slot, if reached).
    """
    tokens, token_ids = list(example.prompt), ids[: len(example.prompt)].tolist()
    generated: list[int] = []
    generated_ids: list[int] = []
    for slot in range(len(example.prompt), len(example.prompt) + len(example.answer)):
        output = model(torch.tensor([tokens]), torch.tensor([token_ids]))
        next_token = int(output.logits[0, -1].argmax())
        next_id = int(ids[slot]) if output.position_logits is None else int(output.position_logits[0, -1].argmax())
        generated_ids.append(next_id)
        if next_token == EOS_ID:
            break
        generated.append(next_token)
        tokens.append(next_token)
        token_ids.append(next_id)
    return generated, generated_ids


@pytest.mark.parametrize("attention", sorted(ATTENTIONS))
@pytest.mark.parametrize("scheme", POSITION_SCHEMES)
def test_batched_cached_decoding_equals_step_by_step_reference(scheme: str, attention: str) -> None:
    model = make_model(scheme, attention=attention)
    examples = [copy_example(symbols(1, 2, 3)), copy_example(symbols(4, 5, 6, 7, 8, 9)), copy_example(symbols(10))]
    decoded = greedy_decode(model, examples)
    for example, ids, answer, answer_ids in zip(examples, slot_ids(model, examples), decoded.answers, decoded.position_ids):
        expected, expected_ids = reference_greedy(model, example, ids)
        assert answer == expected
        assert answer_ids[: len(expected_ids)] == expected_ids  # a row that never ends may carry its next slot's id too


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


def test_lengths_shorter_than_the_training_range_do_not_end_the_breakdown_walk() -> None:
    """Trained on 8..16: failing at 4 is not breaking down as inputs grow longer; the walk starts at 8."""
    points = [point(4, 0.1), point(8, 1.0), point(16, 0.95), point(32, 0.92), point(40, 0.3)]
    assert breakdown_length(points, 0.9) is None  # counted from the shortest tested length
    assert breakdown_length(points, 0.9, shortest_trained=8) == 32
    assert breakdown_length([point(4, 1.0)], 0.9, shortest_trained=8) is None  # nothing tested from 8 on


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


@pytest.mark.parametrize("scheme", POSITION_SCHEMES)
def test_cached_and_uncached_batched_decoding_agree(scheme: str) -> None:
    model = make_model(scheme)
    examples = [copy_example(symbols(*range(k, k + n))) for k, n in ((0, 2), (3, 7), (20, 4))]
    cached = greedy_decode(model, examples, use_cache=True)
    uncached = greedy_decode(model, examples, use_cache=False)
    assert cached.answers == uncached.answers
    assert cached.position_ids == uncached.position_ids


@pytest.mark.parametrize("attention", ["dense", "hsa-swa"])
@pytest.mark.parametrize("scheme", ["learned", "rope", "nope"])
def test_decoding_reports_the_output_after_every_prompt_token_as_one_full_forward_of_the_prompt_does(scheme: str, attention: str) -> None:
    """The left-padded batch's prompt predictions, cut to each example, are what the prompt alone gives."""
    model = make_model(scheme, attention=attention)
    examples = [copy_example(symbols(1, 2, 3)), copy_example(symbols(4, 5, 6, 7, 8, 9)), copy_example(symbols(10))]
    decoded = greedy_decode(model, examples)
    assert decoded.prompt_predictions is not None
    for example, ids, predicted in zip(examples, slot_ids(model, examples), decoded.prompt_predictions):
        prompt = len(example.prompt)
        with torch.no_grad():
            output = model(torch.tensor([example.prompt]), ids[:prompt].unsqueeze(0))
        assert predicted == output.logits[0].argmax(dim=-1).tolist()  # [P]


def test_member_prefix_scoring_needs_every_prefix_label_right_as_well_as_the_answer() -> None:
    """task.supervision = member_prefixes: Huang et al.'s exact match, over every position."""
    import random

    from lengen_core.data import ExampleSource

    source = ExampleSource(TaskConfig(name="tomita_3", train_length_min=1, train_length_max=8, supervision="member_prefixes"))
    assert source.member_prefixes
    examples = source.sample_many(random.Random(0), 6, 2)
    answers = [list(example.answer_without_eos) for example in examples]
    perfect = [[label or 0 for label in example.prefix_targets[: len(example.prompt)]] for example in examples]
    assert score(source.task, examples, answers, perfect) == (2, 1.0)
    wrong_prefix = [list(row) for row in perfect]
    labels = wrong_prefix[1]
    labels[3] = VOCAB.id("<no>") if labels[3] == VOCAB.id("<yes>") else VOCAB.id("<yes>")  # the label after w_3
    correct, token_accuracy = score(source.task, examples, answers, wrong_prefix)
    assert (correct, token_accuracy) == (1, 1.0)  # the answer is still right: the token accuracy is the answer's
    assert score(source.task, examples, answers) == (2, 1.0)  # the answer alone (answer, every_prefix)


def test_a_member_prefix_sweep_counts_an_example_only_when_its_answer_and_every_prefix_are_right() -> None:
    """evaluate_lengths against the oracle (step-by-step greedy answer, one full forward of the prompt), on a
    model trained on the answer alone: its answers are right, the outputs after the prompt's tokens untrained."""
    from lengen_core.config import RunConfig
    from lengen_core.data import ExampleSource, stream_rng
    from lengen_core.evaluation import evaluate_lengths, prefix_labels_right
    from lengen_core.training import train

    config = RunConfig().replace(**{
        "task.name": "tomita_1", "task.train_length_min": 1, "task.train_length_max": 8, "positions.scheme": "nope",
        "model.n_layers": 1, "model.d_model": 32, "model.d_ff": 64, "train.steps": 60, "train.batch_size": 32,
        "train.distractor_examples": 0,
    })  # fmt: skip
    answer_only = train(config, seed=0).model.eval()
    source = ExampleSource(dataclasses.replace(config.task, supervision="member_prefixes"))
    lengths = [3, 4, 5, 6, 7, 8]  # Tomita 1 (1*) has one prefix of a member per length: 1^n
    points = evaluate_lengths(answer_only, source, lengths, samples_per_length=5, eval_seed=0, batch_size=7)
    answer_points = evaluate_lengths(answer_only, ExampleSource(config.task), lengths, samples_per_length=24, eval_seed=0)
    answers_right = prefixes_right = 0
    for length, point in zip(lengths, points):
        [example] = {e.tokens: e for e in source.sample_many(stream_rng("eval", 0, "tomita_1", length), length, 5)}.values()
        [ids] = slot_ids(answer_only, [example])  # [P + A]
        answer, _ = reference_greedy(answer_only, example, ids)
        with torch.no_grad():
            prompt_prediction = answer_only(torch.tensor([example.prompt]), ids[: len(example.prompt)].unsqueeze(0)).logits[0].argmax(-1).tolist()
        answer_right, prefix_right = source.task.is_correct(example, answer), prefix_labels_right(example, prompt_prediction)
        answers_right += answer_right
        prefixes_right += prefix_right
        assert point.n == 1 and point.exact_match == float(answer_right and prefix_right)
    assert answers_right == len(lengths) and min(p.exact_match for p in answer_points) > 0.5
    assert prefixes_right < len(lengths)  # the case this scoring exists for: right answers, untrained prefix outputs
    member_trained = train(config.replace(**{"task.supervision": "member_prefixes"}), seed=0).model.eval()
    trained_points = evaluate_lengths(member_trained, source, lengths, samples_per_length=5, eval_seed=0)
    assert all(p.exact_match == 1.0 for p in trained_points) and sum(p.exact_match for p in points) < len(lengths)


def test_a_member_prefix_sweep_counts_each_distinct_string_once() -> None:
    """(aa)* has one prefix of a member at each length (a^n): 50 draws are one example, n = 1, its interval wide."""
    from lengen_core.data import ExampleSource
    from lengen_core.evaluation import evaluate_lengths

    model = make_model("nope")
    aa = ExampleSource(TaskConfig(name="aa_star", train_length_min=1, train_length_max=8, supervision="member_prefixes"))
    points = evaluate_lengths(model, aa, [3, 8], samples_per_length=50, eval_seed=0)
    assert [point.n for point in points] == [1, 1]
    assert all(point.exact_match_high - point.exact_match_low > 0.7 for point in points)
    tomita = ExampleSource(TaskConfig(name="tomita_3", train_length_min=1, train_length_max=8, supervision="member_prefixes"))
    [wide] = evaluate_lengths(model, tomita, [3], samples_per_length=50, eval_seed=0)
    assert wide.n == 7  # every prefix of a Tomita 3 member of length 3 (all strings but 101)
    [many] = evaluate_lengths(model, tomita, [30], samples_per_length=50, eval_seed=0)
    assert many.n == 50
    [answer_only] = evaluate_lengths(
        model, ExampleSource(TaskConfig(name="aa_star", train_length_max=8, supervision="every_prefix")), [3], samples_per_length=50, eval_seed=0
    )
    assert answer_only.n == 50  # other formats score every draw, as before
