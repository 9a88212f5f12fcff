"""The transformer: backends agree, the KV cache is exact, ids drive every positional effect."""

from __future__ import annotations

import pytest
import torch

from lengen_core.config import POSITION_SCHEMES, ModelConfig, PositionConfig
from lengen_core.models import Transformer
from lengen_core.positions import build_scheme
from lengen_core.vocab import SINGLE_TASK_VOCAB_SIZE as VOCAB_SIZE

SCHEMES = ["nope", "learned", "sinusoidal", "rope", "alibi", "fire", "coupled", "predictive_coupled", "abacus"]


def make_model(scheme: str, n_layers: int = 2, seed: int = 0, length_scaling: str = "none") -> Transformer:
    torch.manual_seed(seed)
    model = Transformer(
        ModelConfig(n_layers=n_layers, n_heads=4, d_model=32, d_ff=64, length_scaling=length_scaling),
        build_scheme(PositionConfig(scheme=scheme, max_position=64)),
    )
    # random-looking weights everywhere (zero-initialised biases hide bugs)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model.eval()


def random_inputs(batch: int = 3, length: int = 11, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB_SIZE, (batch, length), generator=generator)
    position_ids = torch.randint(0, 40, (batch, length), generator=generator).sort(dim=1).values
    return tokens, position_ids


@pytest.mark.parametrize("length_scaling", ["none", "log"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_sdpa_and_explicit_backends_agree(scheme: str, length_scaling: str) -> None:
    model = make_model(scheme, length_scaling=length_scaling)
    tokens, position_ids = random_inputs()
    fast = model(tokens, position_ids, backend="sdpa").logits
    explicit = model(tokens, position_ids, return_attention=True)
    torch.testing.assert_close(fast, explicit.logits, atol=1e-4, rtol=1e-4)
    probs = explicit.layers[0]["attention"]
    assert probs.shape == (3, 4, 11, 11)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 4, 11))
    assert probs.triu(diagonal=1).abs().max() == 0  # causal


@pytest.mark.parametrize("length_scaling", ["none", "log"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_incremental_decoding_with_cache_equals_full_forward(scheme: str, length_scaling: str) -> None:
    model = make_model(scheme, length_scaling=length_scaling)
    tokens, position_ids = random_inputs(length=12)
    full = model(tokens, position_ids).logits  # [B, T, V]
    caches = model.new_caches()
    bias = model.terms.attention_bias(position_ids)
    pieces = []
    for start, end in [(0, 7), (7, 8), (8, 9), (9, 12)]:
        step_bias = None if bias is None else bias[:, :, start:end, :end]
        output = model(tokens[:, start:end], position_ids[:, start:end], caches=caches, attention_bias=step_bias)
        pieces.append(output.logits)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("use_cache", "padded"), [(True, False), (True, True), (False, True)])
@pytest.mark.parametrize("length_scaling", ["none", "log"])
@pytest.mark.parametrize("scheme", POSITION_SCHEMES)
def test_decoder_steps_predict_what_one_full_forward_predicts(scheme: str, length_scaling: str, use_cache: bool, padded: bool) -> None:
    """The model's decoder (KV caches, its own bias rows and padding mask, fed-back ids) against one forward pass.

    The tokens are appended one by one; for predictive coupling the planned ids of
    the generated slots are placeholders (0), so the appended ids must be the ones used.
    """
    model = make_model(scheme, length_scaling=length_scaling)
    tokens, position_ids = random_inputs(length=12)
    mask = None
    if padded:
        mask = torch.ones(3, 12, dtype=torch.bool)
        mask[0, :3] = False
        mask[2, :1] = False
    full = model(tokens, position_ids, key_padding_mask=mask)
    predicts = model.scheme.predicts_positions
    planned = position_ids.clone()
    if predicts:
        planned[:, 7:] = 0
    decoder = model.start_decoding(tokens[:, :7], planned, key_padding_mask=None if mask is None else mask[:, :7], use_cache=use_cache)
    assert (decoder.caches is not None) == use_cache
    for end in range(7, 13):  # predict slot `end` from tokens [0, end)
        step = decoder.step()
        torch.testing.assert_close(step.logits, full.logits[:, end - 1], atol=1e-4, rtol=1e-4)
        if predicts:
            torch.testing.assert_close(step.position_logits, full.position_logits[:, end - 1], atol=1e-4, rtol=1e-4)
        else:
            assert step.position_logits is None
        if end < 12:
            decoder.append(tokens[:, end], position_ids[:, end] if predicts else None)
    assert torch.equal(decoder.tokens, tokens) and torch.equal(decoder.position_ids, position_ids)


def test_decoder_refuses_steps_without_a_new_token_and_slots_it_does_not_have() -> None:
    model = make_model("rope")
    tokens, position_ids = random_inputs(length=9)
    decoder = model.start_decoding(tokens[:, :8], position_ids)
    decoder.step()
    with pytest.raises(RuntimeError, match="append"):
        decoder.step()
    with pytest.raises(ValueError, match="only predictive coupling"):
        decoder.append(tokens[:, 8], position_ids[:, 8])
    decoder.append(tokens[:, 8])
    with pytest.raises(ValueError, match="all 9 slots are filled"):
        decoder.append(tokens[:, 8])


@pytest.mark.parametrize("scheme", ["nope", "rope", "alibi"])
def test_relative_schemes_are_invariant_to_shifting_all_ids(scheme: str) -> None:
    model = make_model(scheme)
    tokens, position_ids = random_inputs()
    torch.testing.assert_close(model(tokens, position_ids).logits, model(tokens, position_ids + 17).logits, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("scheme", ["learned", "sinusoidal", "rope", "alibi", "fire"])
def test_position_ids_change_the_output(scheme: str) -> None:
    """Guards against a scheme silently ignoring its ids (the opposite of the invariance test)."""
    model = make_model(scheme)
    tokens, position_ids = random_inputs()
    scrambled = position_ids.clone()
    scrambled[:, 5] += 9  # one token's id moves relative to the others
    difference = (model(tokens, position_ids).logits - model(tokens, scrambled).logits).abs().max()
    assert difference > 1e-3


@pytest.mark.parametrize("length_scaling", ["none", "log"])
def test_key_padding_mask_makes_left_padding_invisible(length_scaling: str) -> None:
    model = make_model("rope", length_scaling=length_scaling)
    tokens, position_ids = random_inputs(batch=1, length=9)
    padded_tokens = torch.cat([torch.zeros(1, 4, dtype=torch.long), tokens], dim=1)
    padded_ids = torch.cat([torch.zeros(1, 4, dtype=torch.long), position_ids], dim=1)
    mask = torch.cat([torch.zeros(1, 4, dtype=torch.bool), torch.ones(1, 9, dtype=torch.bool)], dim=1)
    plain = model(tokens, position_ids).logits
    padded = model(padded_tokens, padded_ids, key_padding_mask=mask).logits[:, 4:]
    torch.testing.assert_close(padded, plain, atol=1e-4, rtol=1e-4)
    assert torch.isfinite(model(padded_tokens, padded_ids, key_padding_mask=mask).logits).all()


def test_predictive_coupling_has_a_position_head_over_the_table() -> None:
    model = make_model("predictive_coupled")
    tokens, position_ids = random_inputs()
    output = model(tokens, position_ids)
    assert output.position_logits is not None and output.position_logits.shape == (3, 11, 64)
    assert make_model("coupled")(tokens, position_ids).position_logits is None


def test_learned_table_refuses_ids_beyond_it() -> None:
    model = make_model("learned")
    tokens, position_ids = random_inputs()
    with pytest.raises(ValueError, match="max_position=64"):
        model(tokens, position_ids + 60)


@pytest.mark.parametrize("scheme", ["nope", "alibi"])
def test_log_length_scaling_multiplies_each_querys_logits_by_log_of_its_key_count(scheme: str) -> None:
    """Attention probabilities with ``length_scaling="log"`` are softmax(log(i + 1) * logits_i), computed by hand here."""
    plain, scaled = make_model(scheme, n_layers=1), make_model(scheme, n_layers=1, length_scaling="log")
    tokens, position_ids = random_inputs(batch=2, length=9)
    attention = plain.blocks[0].mixer
    x = plain.blocks[0].norm1(plain.token_embedding(tokens))  # [B, T, d]; nope/alibi add no embedding
    q, k, _ = attention.qkv(x).view(2, 9, 3, 4, 8).permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, T, D]
    logits = q @ k.transpose(-1, -2) / 8**0.5  # [B, H, T, T]
    bias = plain.terms.attention_bias(position_ids)
    if bias is not None:
        logits = logits + bias
    log_keys = torch.arange(1, 10, dtype=torch.float32).log()[:, None]  # [T, 1]: query i sees i + 1 keys
    causal = torch.ones(9, 9, dtype=torch.bool).tril()
    expected = (logits * log_keys).masked_fill(~causal, float("-inf")).softmax(-1)
    with torch.no_grad():
        got = scaled(tokens, position_ids, return_attention=True).layers[0]["attention"]
        unscaled = plain(tokens, position_ids, return_attention=True).layers[0]["attention"]
    torch.testing.assert_close(got, expected.detach(), atol=1e-5, rtol=1e-4)
    assert (got - unscaled).abs().max() > 1e-3  # the option changes what the model attends to


def test_length_scaling_is_for_dense_attention_only() -> None:
    from lengen_core.errors import ConfigError

    with pytest.raises(ConfigError, match="model.length_scaling"):
        ModelConfig(attention="hsa", length_scaling="log")
    with pytest.raises(ConfigError, match="model.length_scaling"):
        ModelConfig(length_scaling="sqrt")
