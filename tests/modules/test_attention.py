from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rl4py.modules.attention import AttentionPooling, PointerNetwork, TargetAttention, TransformerEncoder
from rl4py.modules.distributions import Categorical, MaskedCategorical

B, N, D = 6, 9, 16


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _mask(batch: int = B, n: int = N) -> torch.Tensor:
    mask = torch.rand(batch, n) < 0.6
    mask[:, 0] = True  # at least one valid entity per row
    return mask


def _perturb_masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x`` with new random features at every masked entity."""
    return torch.where(mask.unsqueeze(-1), x, torch.randn_like(x) * 10)


# ----------------------------------------------------------------------------- TransformerEncoder


def test_transformer_is_permutation_equivariant():
    encoder = TransformerEncoder(D, n_heads=4, n_layers=2, dim_feedforward=32)
    x, mask = torch.randn(B, N, D), _mask()
    perm = torch.randperm(N)
    out = encoder(x, mask)
    torch.testing.assert_close(encoder(x[:, perm], mask[:, perm]), out[:, perm], atol=1e-5, rtol=1e-5)
    out = encoder(x)
    torch.testing.assert_close(encoder(x[:, perm]), out[:, perm], atol=1e-5, rtol=1e-5)


def test_transformer_mixes_entities():
    # not a per-entity MLP: changing one valid entity changes the other valid entities' outputs
    encoder = TransformerEncoder(D, n_heads=4, n_layers=1, dim_feedforward=32)
    x = torch.randn(B, N, D)
    y = x.clone()
    y[:, 1] += torch.randn(D)  # (a constant shift would vanish in the pre-norm LayerNorm)
    diff = (encoder(x) - encoder(y)).abs().sum(-1)
    assert bool((diff[:, 0] > 1e-4).all())


@pytest.mark.parametrize("mode", ["train", "eval_no_grad"])
def test_transformer_masked_entities_have_no_influence(mode):
    encoder = TransformerEncoder(D, n_heads=4, n_layers=2, dim_feedforward=32)
    x, mask = torch.randn(B, N, D), _mask()
    if mode == "eval_no_grad":  # the collector's path: nn.TransformerEncoderLayer's fused fast path
        encoder.eval()
        ctx = torch.inference_mode()
    else:
        ctx = torch.enable_grad()
    with ctx:
        out, out2 = encoder(x, mask), encoder(_perturb_masked(x, mask), mask)
    torch.testing.assert_close(out2, out, atol=1e-6, rtol=0)
    assert bool((out[~mask] == 0).all())
    assert bool((out[mask].abs().sum(-1) > 0).all())


def test_transformer_matches_torch_transformer_encoder_with_the_same_weights():
    ours = TransformerEncoder(D, n_heads=4, n_layers=2, dim_feedforward=32)
    layer = nn.TransformerEncoderLayer(D, 4, 32, 0.0, batch_first=True, norm_first=True)
    ref = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D), enable_nested_tensor=False)
    ref.load_state_dict(ours.state_dict())
    x, mask = torch.randn(B, N, D), _mask()
    torch.testing.assert_close(ours(x), ref(x))
    torch.testing.assert_close(ours(x, mask)[mask], ref(x, src_key_padding_mask=~mask)[mask])


def test_transformer_layers_are_initialised_independently():
    encoder = TransformerEncoder(D, n_heads=2, n_layers=2, dim_feedforward=32)
    w0, w1 = (layer.self_attn.in_proj_weight for layer in encoder.layers)
    assert not torch.equal(w0, w1)


def test_transformer_fully_masked_row_gives_zeros_and_finite_gradients():
    encoder = TransformerEncoder(D, n_heads=4, n_layers=2, dim_feedforward=32)
    x, mask = torch.randn(B, N, D, requires_grad=True), _mask()
    mask[2] = False
    out = encoder(x, mask)
    assert bool((out[2] == 0).all())
    torch.testing.assert_close(out[:2], encoder(x[:2], mask[:2]))  # other rows unaffected
    out.sum().backward()
    assert bool(torch.isfinite(x.grad).all())
    assert bool((x.grad[~mask] == 0).all())
    assert all(bool(torch.isfinite(p.grad).all()) for p in encoder.parameters())


def test_transformer_accepts_extra_leading_dims():
    encoder = TransformerEncoder(D, n_heads=4, n_layers=1, dim_feedforward=32)
    x, mask = torch.randn(2, 3, N, D), _mask(6).reshape(2, 3, N)
    out = encoder(x, mask)
    assert out.shape == (2, 3, N, D)
    torch.testing.assert_close(out.reshape(6, N, D), encoder(x.reshape(6, N, D), mask.reshape(6, N)))


def test_transformer_errors_name_argument_expected_and_received():
    encoder = TransformerEncoder(D, n_heads=4, n_layers=1, dim_feedforward=32)
    with pytest.raises(ValueError, match=r"x must have shape \[\*B, N, 16\], got \(6, 9, 8\)"):
        encoder(torch.randn(B, N, 8))
    with pytest.raises(ValueError, match=r"x must have shape .* got \(9, 16\)"):
        encoder(torch.randn(N, D))
    with pytest.raises(ValueError, match=r"mask must have shape \[\*B, N\] = \(6, 9\), got \(6, 8\)"):
        encoder(torch.randn(B, N, D), torch.ones(B, 8, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be a bool tensor.*torch.float32"):
        encoder(torch.randn(B, N, D), torch.ones(B, N))
    with pytest.raises(ValueError, match="n_heads must divide d_model, got d_model=16, n_heads=3"):
        TransformerEncoder(16, 3, 1, 32)


# ----------------------------------------------------------------------------- TargetAttention / PointerNetwork


def _target_reference(attn: TargetAttention, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    qh, kh = attn.query_proj(q), attn.key_proj(k)
    return (kh * qh.unsqueeze(1)).sum(-1) / math.sqrt(attn.hidden_dim)


def _pointer_reference(ptr: PointerNetwork, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    w1q = q @ ptr.query_proj.weight.T + ptr.query_proj.bias  # [B, H]
    w2k = k @ ptr.key_proj.weight.T  # [B, N, H]
    return (torch.tanh(w1q.unsqueeze(1) + w2k) @ ptr.v.weight.squeeze(0)).squeeze(-1)


SCORERS = {
    "target": (lambda: TargetAttention(12, D, hidden_dim=8), _target_reference),
    "pointer": (lambda: PointerNetwork(12, D, hidden_dim=8), _pointer_reference),
}


@pytest.mark.parametrize("name", SCORERS)
def test_scorer_logits_match_the_formula(name):
    make, reference = SCORERS[name]
    scorer = make()
    q, k = torch.randn(B, 12), torch.randn(B, N, D)
    torch.testing.assert_close(scorer(q, k), reference(scorer, q, k), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", SCORERS)
def test_scorer_probabilities_sum_to_one_over_valid_and_are_zero_elsewhere(name):
    scorer = SCORERS[name][0]()
    q, k, mask = torch.randn(B, 12), torch.randn(B, N, D) * 5, _mask()
    probs = scorer.probs(q, k, mask)
    assert bool((probs[~mask] == 0).all())
    assert bool((probs[mask] > 0).all())
    torch.testing.assert_close(probs.sum(-1), torch.ones(B))
    # on the valid entities: the softmax of the unmasked logits restricted to them
    logits = scorer(q, k)
    for row in range(B):
        torch.testing.assert_close(probs[row, mask[row]], logits[row, mask[row]].softmax(-1))


@pytest.mark.parametrize("name", SCORERS)
def test_scorer_masked_entities_have_no_influence(name):
    scorer = SCORERS[name][0]()
    q, mask = torch.randn(B, 12), _mask()
    k = torch.randn(B, N, D, requires_grad=True)
    logits = scorer(q, k, mask)
    torch.testing.assert_close(scorer(q, _perturb_masked(k, mask), mask), logits, atol=0, rtol=0)
    torch.testing.assert_close(
        scorer.probs(q, _perturb_masked(k, mask), mask), scorer.probs(q, k, mask), atol=0, rtol=0
    )
    scorer.probs(q, k, mask).mul(torch.randn(B, N)).sum().backward()
    assert bool((k.grad[~mask] == 0).all()) and bool((k.grad[mask] != 0).any())


@pytest.mark.parametrize("name", SCORERS)
def test_scorer_distribution_never_selects_masked_entities(name):
    scorer = SCORERS[name][0]()
    q, k, mask = torch.randn(B, 12), torch.randn(B, N, D), _mask()
    dist = scorer.dist(q, k, mask)
    assert isinstance(dist, MaskedCategorical)
    samples = dist.sample((500,))
    assert bool(mask.gather(-1, samples.T).all())
    torch.testing.assert_close(dist.probs, scorer.probs(q, k, mask))
    assert isinstance(scorer.dist(q, k), Categorical)


@pytest.mark.parametrize("name", SCORERS)
def test_scorer_row_without_valid_entity(name):
    scorer = SCORERS[name][0]()
    q, k, mask = torch.randn(B, 12), torch.randn(B, N, D), _mask()
    mask[1] = False
    probs = scorer.probs(q, k, mask)
    assert bool((probs[1] == 0).all()) and bool(torch.isfinite(probs).all())
    with pytest.raises(ValueError, match="allows no action"):
        scorer.dist(q, k, mask)


@pytest.mark.parametrize("name", SCORERS)
def test_scorer_accepts_extra_leading_dims(name):
    scorer = SCORERS[name][0]()
    q, k, mask = torch.randn(2, 3, 12), torch.randn(2, 3, N, D), _mask(6).reshape(2, 3, N)
    logits = scorer(q, k, mask)
    assert logits.shape == (2, 3, N)
    torch.testing.assert_close(logits.reshape(6, N), scorer(q.reshape(6, 12), k.reshape(6, N, D), mask.reshape(6, N)))


@pytest.mark.parametrize("name", SCORERS)
def test_scorer_errors(name):
    scorer = SCORERS[name][0]()
    cls = type(scorer).__name__
    q, k = torch.randn(B, 12), torch.randn(B, N, D)
    with pytest.raises(ValueError, match=rf"{cls}: query must have shape \[\*B, 12\], got \(6, 11\)"):
        scorer(torch.randn(B, 11), k)
    with pytest.raises(ValueError, match=rf"{cls}: keys must have shape \[\*B, N, 16\], got \(6, 9, 3\)"):
        scorer(q, torch.randn(B, N, 3))
    with pytest.raises(ValueError, match=r"keys must have shape .* batch dims \(6,\), got \(5, 9, 16\)"):
        scorer(q, torch.randn(5, N, D))
    with pytest.raises(ValueError, match=r"mask must have shape \[\*B, N\] = \(6, 9\), got \(6, 10\)"):
        scorer(q, k, torch.ones(B, 10, dtype=torch.bool))


# ----------------------------------------------------------------------------- AttentionPooling


def test_pooling_matches_multihead_attention_with_the_learned_queries():
    pool = AttentionPooling(D, n_queries=3, n_heads=2)
    x, mask = torch.randn(B, N, D), _mask()
    q = pool.queries.unsqueeze(0).expand(B, -1, -1)
    ref, _ = pool.attention(q, x, x, key_padding_mask=~mask)
    out = pool(x, mask)
    assert out.shape == (B, 3 * D)
    torch.testing.assert_close(out, ref.reshape(B, 3 * D))


def test_pooling_is_permutation_invariant_and_ignores_masked_entities():
    pool = AttentionPooling(D, n_queries=4, n_heads=2)
    x, mask = torch.randn(B, N, D), _mask()
    out = pool(x, mask)
    perm = torch.randperm(N)
    torch.testing.assert_close(pool(x[:, perm], mask[:, perm]), out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pool(_perturb_masked(x, mask), mask), out, atol=1e-6, rtol=0)
    # the outputs depend on the valid entities
    y = x.clone()
    y[:, 0] += torch.randn(D)
    assert bool(((pool(y, mask) - out).abs().sum(-1) > 1e-4).all())


def test_pooling_row_without_valid_entity_is_zero():
    pool = AttentionPooling(D, n_queries=2, n_heads=4)
    x, mask = torch.randn(B, N, D, requires_grad=True), _mask()
    mask[3] = False
    out = pool(x, mask)
    assert bool((out[3] == 0).all())
    torch.testing.assert_close(out[:3], pool(x[:3], mask[:3]))
    out.sum().backward()
    assert bool(torch.isfinite(x.grad).all()) and bool((x.grad[~mask] == 0).all())


def test_pooling_extra_leading_dims_and_errors():
    pool = AttentionPooling(D, n_queries=2, n_heads=2)
    x = torch.randn(2, 3, N, D)
    torch.testing.assert_close(pool(x).reshape(6, -1), pool(x.reshape(6, N, D)))
    with pytest.raises(ValueError, match=r"AttentionPooling: x must have shape \[\*B, N, 16\], got \(6, 9, 4\)"):
        pool(torch.randn(B, N, 4))
    with pytest.raises(ValueError, match="n_queries must be >= 1, got 0"):
        AttentionPooling(D, 0, 2)
