"""The CPU dropout of the training loop (training/cpu_dropout.py): its masks keep 1 - p of the elements and scale them
as nn.Dropout does, reproducibly under a seed; installed on a model, the attention it substitutes computes what the
model's own attention does (checked with a mask that keeps everything), and uninstalling restores the model."""

from __future__ import annotations

import pytest
import torch

from xstilts.modeling.model import load_encoder
from xstilts.training import cpu_dropout
from xstilts.training.cpu_dropout import dropout, install_cpu_dropout, keep_fraction, scale_mask_from_bits


def _load_with_dropout(path, p: float = 0.1):
    """The tiny test models have dropout 0; the attention passes its nn.Dropout's p as the probability dropout."""
    enc, tok = load_encoder(str(path))
    for m in enc.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = p
    return enc, tok


def test_mask_keeps_one_minus_p_and_scales():
    torch.manual_seed(0)
    x = torch.ones(400_000)
    for p in (0.1, 0.5):
        y = dropout(x, p)
        kept = y != 0
        frac = kept.float().mean().item()
        # 400k Bernoulli draws: the standard error of the kept fraction is below 0.0008
        assert abs(frac - (1 - p)) < 0.004, (p, frac)
        assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
    assert keep_fraction(0.1) == 7549747 / 2**23  # float32(1.9) = 1 + 7549747 * 2^-23
    assert abs(keep_fraction(0.1) - 0.9) < 2**-24
    assert torch.equal(dropout(x, 0.1, training=False), x)
    assert torch.equal(dropout(x, 0.0), x)
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))


def test_mask_threshold_from_bits():
    """The low 23 bits decide, whatever the high bits: k < 7549747 keeps (p = 0.1), k >= 7549747 drops."""
    k = torch.tensor([0, 7549746, 7549747, 2**23 - 1], dtype=torch.int64)
    high = torch.tensor([0, -(2**31) >> 8, 0x7F800000, -1], dtype=torch.int64) & ~0x7FFFFF  # junk above bit 23
    bits = ((k | high) & 0xFFFFFFFF).to(torch.int64)
    bits = torch.where(bits >= 2**31, bits - 2**32, bits).to(torch.int32)
    mask = scale_mask_from_bits(bits, 0.1)
    assert mask.dtype == torch.float32
    assert torch.equal(mask != 0, torch.tensor([True, True, False, False]))
    assert torch.equal(mask[:2], torch.full((2,), 1 / 0.9, dtype=torch.float32))


def test_masks_are_reproducible_and_backward_uses_the_same_mask():
    x = torch.randn(63, 47, requires_grad=True)  # an odd element count: half of the last 64-bit draw is unused
    torch.manual_seed(3)
    a = dropout(x, 0.2)
    a.sum().backward()
    torch.manual_seed(3)
    b = dropout(x, 0.2)
    assert torch.equal(a, b)
    assert x.grad is not None
    assert torch.equal(x.grad, (a != 0).float() / 0.8)  # d(sum)/dx: the same mask, the same scale


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_installed_model_computes_the_same_function(kind, tiny_models, monkeypatch):
    """A mask that keeps everything (scale 1): the training forward through the substituted attention and dropouts must
    equal the model's own forward without dropout, on a padded batch."""
    enc, tok = _load_with_dropout(tiny_models[kind])
    batch = tok(["a short one", "a somewhat longer sentence with more words in it"], padding=True, return_tensors="pt")
    enc.eval()
    with torch.no_grad():
        want = enc(**batch).last_hidden_state
    impl = enc.config._attn_implementation
    forwards = {id(m): m.forward for m in enc.modules()}
    monkeypatch.setattr(
        cpu_dropout, "dropout_scale_mask", lambda shape, p, dtype, device: torch.ones(shape, dtype=dtype, device=device)
    )
    calls = []
    plain = cpu_dropout._MaskedScale.apply
    monkeypatch.setattr(cpu_dropout._MaskedScale, "apply", lambda x, p: calls.append(x.dim()) or plain(x, p))
    undo = install_cpu_dropout(enc)
    assert enc.config._attn_implementation != impl
    enc.train()
    with torch.no_grad():
        got = enc(**batch).last_hidden_state
    mask = batch["attention_mask"].bool()
    torch.testing.assert_close(got[mask], want[mask], rtol=1e-5, atol=1e-5)
    layers = enc.config.num_hidden_layers
    assert calls.count(4) == layers  # the attention probabilities (batch, heads, query, key), one per layer
    assert calls.count(3) == 2 * layers + 1  # the hidden states: two per layer and the embeddings
    undo()
    assert enc.config._attn_implementation == impl
    assert all("forward" not in m.__dict__ for m in enc.modules())
    assert all(m.forward == forwards[id(m)] for m in enc.modules())  # the class's own forwards again


def test_training_draws_different_masks_than_evaluation_uses_none(tiny_models):
    enc, tok = _load_with_dropout(tiny_models["bert"])
    batch = tok(["one two three four"], return_tensors="pt")
    undo = install_cpu_dropout(enc)
    enc.train()
    with torch.no_grad():
        torch.manual_seed(0)
        a = enc(**batch).last_hidden_state
        b = enc(**batch).last_hidden_state
        enc.eval()
        c = enc(**batch).last_hidden_state
        d = enc(**batch).last_hidden_state
    undo()
    assert not torch.equal(a, b)  # dropout is active in training
    assert torch.equal(c, d)  # and absent in evaluation
