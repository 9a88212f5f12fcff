"""The HSA hybrid model: causal, chunk memory from complete chunks only, local mixers exact."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from lengen_core.config import ModelConfig, PositionConfig
from lengen_core.models import Transformer
from lengen_core.models.local_mixers import GatedRecurrence, SlidingWindowAttention, chunked_linear_scan, linear_scan_reference, sliding_window_reference
from lengen_core.positions import build_scheme


def hsa_model(landmark: str = "mean", local_mixer: str = "swa", n_layers: int = 2, kv_heads: int = 1) -> Transformer:
    torch.manual_seed(0)
    config = ModelConfig(
        n_layers=n_layers,
        n_heads=4,
        d_model=32,
        d_ff=64,
        attention="hsa",
        hsa={"chunk_size": 4, "top_k": 2, "window": 8, "landmark": landmark, "local_mixer": local_mixer, "kv_heads": kv_heads, "retrieval_dim": 8},
    )
    model = Transformer(config, build_scheme(PositionConfig(scheme="rope", max_position=64))).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return model


@pytest.mark.parametrize(("landmark", "local_mixer"), [("mean", "swa"), ("encoder", "recurrent"), ("encoder", "swa")])
def test_perturbing_future_tokens_leaves_past_outputs_unchanged(landmark: str, local_mixer: str) -> None:
    model = hsa_model(landmark, local_mixer)
    tokens = torch.randint(0, 200, (2, 23))
    position_ids = torch.arange(23).expand(2, 23)
    base = model(tokens, position_ids).logits
    for t in (5, 12, 20):
        changed = tokens.clone()
        changed[:, t:] = torch.randint(0, 200, changed[:, t:].shape)
        logits = model(changed, position_ids).logits
        torch.testing.assert_close(logits[:, :t], base[:, :t], atol=1e-5, rtol=1e-5)
        assert (logits[:, t:] - base[:, t:]).abs().max() > 1e-4


def test_selection_is_returned_and_respects_visibility() -> None:
    model = hsa_model(kv_heads=2)
    tokens = torch.randint(0, 200, (1, 21))
    output = model(tokens, torch.arange(21)[None], return_attention=True)
    assert set(output.layers[0]) == {"attention"}  # lower half: the local mixer (its window's map) only
    info = output.layers[1]
    indices, weights = info["hsa_indices"], info["hsa_weights"]
    assert indices.shape == (1, 21, 2, 2) and weights.shape == (1, 21, 2, 2)
    token = torch.arange(21)[None, :, None, None]
    filled = indices >= 0
    assert ((indices + 1) * 4 <= token)[filled].all()  # only complete past chunks
    assert not filled[:, :4].any()  # the first chunk sees nothing
    assert filled[:, 12:].all()  # two complete chunks visible from token 12 on
    assert (weights[~filled] == 0).all()
    assert (weights.sum(-1) <= 1 + 1e-5).all()  # stick-breaking leaves mass for "nothing"


def test_hsa_gradients_reach_landmarks_and_retrieval_queries() -> None:
    model = hsa_model().train()
    tokens = torch.randint(0, 200, (2, 24))
    model(tokens, torch.arange(24).expand(2, 24)).logits.sum().backward()
    branch = model.blocks[1].mixer.hsa
    assert branch.retrieval_query.weight.grad.abs().sum() > 0
    assert branch.memory.lmk_ln.weight.grad.abs().sum() > 0
    assert branch.memory.proj_k.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("local_mixer", ["swa", "recurrent"])
def test_hsa_decoder_re_runs_the_prefix_and_predicts_what_one_full_forward_predicts(local_mixer: str) -> None:
    """HSA layers keep no KV cache: the decoder asks for none and each step equals the full forward's row."""
    model = hsa_model(local_mixer=local_mixer)
    tokens = torch.randint(0, 200, (2, 14))
    position_ids = torch.arange(14).expand(2, 14)
    full = model(tokens, position_ids).logits  # [B, T, V]
    decoder = model.start_decoding(tokens[:, :5], position_ids)
    assert not model.supports_cache and decoder.caches is None
    for end in range(5, 15):  # crosses the chunk boundaries at 8 and 12
        torch.testing.assert_close(decoder.step().logits, full[:, end - 1], atol=1e-5, rtol=1e-5)
        if end < 14:
            decoder.append(tokens[:, end])
    with pytest.raises(ValueError, match="no KV cache"):
        model(tokens, position_ids, caches=model.new_caches())


def test_sliding_window_attention_equals_the_dense_reference() -> None:
    torch.manual_seed(1)
    attention = SlidingWindowAttention(32, 4, window=6)
    x = torch.randn(2, 29, 32)
    position_ids = torch.arange(29).expand(2, 29)
    q, k, v = attention.qkv(x).view(2, 29, 3, 4, 8).permute(2, 0, 3, 1, 4).unbind(0)
    expected = attention.out(sliding_window_reference(q, k, v, 6).transpose(1, 2).reshape(2, 29, 32))
    torch.testing.assert_close(attention(x, position_ids, None), expected, atol=1e-5, rtol=1e-5)
    wider = attention.out(sliding_window_reference(q, k, v, 29).transpose(1, 2).reshape(2, 29, 32))
    assert (wider - expected).abs().max() > 1e-3  # the window really limits what is seen


def test_chunked_scan_equals_step_by_step_recurrence() -> None:
    torch.manual_seed(2)
    log_a = torch.nn.functional.logsigmoid(3 * torch.randn(2, 70, 5))  # decays from ~0 to ~1
    u = torch.randn(2, 70, 5)
    torch.testing.assert_close(chunked_linear_scan(log_a, u, 16), linear_scan_reference(log_a, u), atol=1e-5, rtol=1e-5)
    recurrence = GatedRecurrence(16)
    assert recurrence(torch.randn(1, 33, 16)).shape == (1, 33, 16)


# --------------------------------------------------------------------------- inputs shorter than a chunk

FAMILY_TASKS = {  # one task of every family
    "arithmetic": "addition",
    "copying": "reverse",
    "counting": "majority",
    "formal_languages": "dyck_1",
    "retrieval": "associative_recall",
    "sparse": "sparse_parity",
    "auxiliary tasks": "sort_successor",
    "transfer": "reversed_addition",
    "custom": "expression",
}


def test_family_tasks_cover_every_family() -> None:
    from lengen_core.tasks.base import TASK_REGISTRY
    from lengen_core.tasks.plugins import PLUGIN_TASKS

    assert set(FAMILY_TASKS) == {task.family for name, task in TASK_REGISTRY.items() if name not in PLUGIN_TASKS}
    assert all(TASK_REGISTRY[name].family == family for family, name in FAMILY_TASKS.items())


def short_hsa_config(task: str, chunk_size: int, local_mixer: str = "swa") -> Any:
    from lengen_core.config import RunConfig
    from lengen_core.tasks.base import build_task

    built = build_task(task)
    lengths = [n for n in range(built.min_length, built.max_length + 1) if built.max_sequence_length(n) <= 3 * chunk_size]
    if not lengths:  # the task's shortest example is longer than 3 S: its shortest length then
        lengths = [built.min_length]
    # evaluation at the shortest length, one whose sequences end inside the first chunk if any, and the longest
    within_first = [n for n in lengths if built.max_sequence_length(n) < chunk_size]
    eval_lengths = sorted({lengths[0], lengths[-1], *(within_first[-1:])})
    return RunConfig().replace(
        **{
            "task.name": task,
            "task.train_length_min": lengths[0],
            "task.train_length_max": lengths[-1],
            "positions.scheme": "nope",
            "model.attention": "hsa",
            "model.n_layers": 1,
            "model.n_heads": 2,
            "model.d_model": 16,
            "model.d_ff": 32,
            "model.hsa": {"chunk_size": chunk_size, "top_k": 2, "window": max(chunk_size, 8), "local_mixer": local_mixer, "retrieval_dim": 8},
            "train.steps": 2,
            "train.batch_size": 4,
            "train.device": "cpu",
            "eval.lengths": eval_lengths,
            "eval.samples_per_length": 3,
        }
    )


@pytest.mark.parametrize("chunk_size", [2, 16, 64])
@pytest.mark.parametrize("family", sorted(FAMILY_TASKS))
def test_hsa_trains_and_decodes_from_length_one_to_three_chunks(family: str, chunk_size: int) -> None:
    """The issue's failure: evaluation starts at length 1, shorter than one chunk. Every family trains and
    decodes greedily with S = 2, 16, 64; examples shorter than a chunk get no HSA term at all."""
    from lengen_core.runs.evaluate import evaluate_model
    from lengen_core.training import train

    config = short_hsa_config(FAMILY_TASKS[family], chunk_size)
    result = train(config, seed=0)
    assert result.status == "done" and result.steps_done == 2
    evaluation = evaluate_model(result.model, config)
    assert [point.length for point in evaluation.result.points] == list(config.eval.lengths)
    assert all(point.n == 3 for point in evaluation.result.points) and evaluation.stopped is None


@pytest.mark.parametrize(("chunk_size", "local_mixer"), [(2, "swa"), (16, "swa"), (64, "swa"), (16, "recurrent")])
def test_forward_and_backward_at_every_length_up_to_three_chunks(chunk_size: int, local_mixer: str) -> None:
    from lengen_core.models import build_model

    config = short_hsa_config("reverse", chunk_size, local_mixer)
    torch.manual_seed(0)
    model = build_model(config.model, build_scheme(config.positions))
    lengths = range(1, 3 * chunk_size + 1) if chunk_size <= 16 else sorted({1, 2, 31, 63, 64, 65, 100, 127, 128, 129, 150, 192})
    for length in lengths:
        tokens = torch.randint(5, 60, (2, length))
        output = model(tokens, torch.arange(length).expand(2, length), return_attention=True)
        output.logits.sum().backward()
        info = output.layers[0]
        assert (info["hsa_indices"][:, : min(length, chunk_size)] == -1).all()
        assert (info["hsa_weights"][:, : min(length, chunk_size)] == 0).all()
        assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
        model.zero_grad()


def test_the_window_s_attention_map_is_what_the_window_attends_to_and_every_layer_returns_it() -> None:
    torch.manual_seed(2)
    attention = SlidingWindowAttention(32, 4, window=6)
    x = torch.randn(1, 20, 32)
    position_ids = torch.arange(20)[None]
    probabilities = attention.attention_map(x, position_ids, 10000.0)  # [1, H, T, T]
    assert probabilities.shape == (1, 4, 20, 20)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(1, 4, 20))
    query, key = torch.arange(20)[:, None], torch.arange(20)[None, :]
    assert float(probabilities[0, :, ~((key <= query) & (key > query - 6))].abs().max()) == 0.0  # nothing outside the window
    _, _, v = attention._qkv(x, position_ids, 10000.0)
    expected = attention.out((probabilities @ v).transpose(1, 2).reshape(1, 20, 32))
    torch.testing.assert_close(attention(x, position_ids, 10000.0), expected, atol=1e-5, rtol=1e-5)  # the map is the forward's
    model = hsa_model()
    output = model(torch.randint(5, 20, (1, 12)), torch.arange(12)[None], return_attention=True)
    assert all(layer is not None and layer["attention"].shape == (1, 4, 12, 12) for layer in output.layers)
    assert "hsa_indices" in output.layers[-1] and "hsa_indices" not in output.layers[0]
