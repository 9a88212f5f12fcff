"""The HSA hybrid model: causal, chunk memory from complete chunks only, local mixers exact."""

from __future__ import annotations

import pytest
import torch

from lengen_core.config import ModelConfig, PositionConfig
from lengen_core.models import Transformer
from lengen_core.models.local_mixers import (
    GatedRecurrence,
    SlidingWindowAttention,
    chunked_linear_scan,
    linear_scan_reference,
    sliding_window_reference,
)
from lengen_core.positions import build_scheme


def hsa_model(landmark: str = "mean", local_mixer: str = "swa", n_layers: int = 2, kv_heads: int = 1) -> Transformer:
    torch.manual_seed(0)
    config = ModelConfig(
        n_layers=n_layers, n_heads=4, d_model=32, d_ff=64, attention="hsa",
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
    assert output.layers[0] is None  # lower half: local mixer only
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
