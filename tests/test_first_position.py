"""The last layer computed for position 0 only (modeling/first_position.py): for heads that read position 0, the
logits, the loss and every parameter's gradient equal those of the full computation, on BERT and XLM-R, with the
SDPA, eager and CPU-dropout attention functions; the last layer really runs on one position; other heads, and
encoders it does not apply to, run unchanged; the layer's forwards are restored after each call."""

from __future__ import annotations

import pytest
import torch

from xstilts.modeling import first_position
from xstilts.modeling.first_position import first_position_only, last_layer
from xstilts.modeling.model import HeadSpec, MultiTaskModel, load_encoder
from xstilts.training import cpu_dropout
from xstilts.training.cpu_dropout import install_cpu_dropout

PAIRS = [
    ("a short one", "yes"),
    ("a somewhat longer sentence with more words in it", "and a second segment too"),
    ("middle length text here", "no"),
]


def _model(path, family: str = "classification", labels=("a", "b", "c")):
    torch.manual_seed(0)
    enc, tok = load_encoder(str(path))
    head = HeadSpec("t", family, list(labels) if labels else None)
    return MultiTaskModel(enc, {"t": head}), tok


def _batch(tok):
    batch = dict(tok([a for a, _ in PAIRS], [b for _, b in PAIRS], padding=True, return_tensors="pt"))
    batch["labels"] = torch.tensor([0, 2, 1])
    return batch


def _loss_and_grads(model, batch, enabled: bool, monkeypatch):
    monkeypatch.setattr(first_position, "ENABLED", enabled)
    model.zero_grad(set_to_none=True)
    out = model("t", batch)
    out["loss"].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out["logits"].detach(), out["loss"].detach(), grads


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
@pytest.mark.parametrize("impl", ["sdpa", "eager", "cpu_dropout"])
def test_same_logits_loss_and_gradients(kind, impl, tiny_models, monkeypatch):
    model, tok = _model(tiny_models[kind])
    if impl == "eager":
        model.encoder.config._attn_implementation_internal = "eager"
    model.eval()  # no dropout (the heads' p is 0.1); gradients flow all the same
    undo = None
    if impl == "cpu_dropout":  # the training loop's attention function, with p > 0 and a mask that keeps everything
        model.train()
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.1
        monkeypatch.setattr(
            cpu_dropout, "dropout_scale_mask", lambda s, p, dtype, device: torch.ones(s, dtype=dtype, device=device)
        )
        undo = install_cpu_dropout(model)
    batch = _batch(tok)
    assert last_layer(model.encoder) is not None
    full = _loss_and_grads(model, batch, False, monkeypatch)
    first = _loss_and_grads(model, batch, True, monkeypatch)
    if undo:
        undo()
    torch.testing.assert_close(first[0], full[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(first[1], full[1], rtol=1e-5, atol=1e-6)
    assert first[2].keys() == full[2].keys()
    assert len(full[2]) == sum(1 for p in model.parameters() if p.requires_grad)  # every weight trains
    for name, g in full[2].items():
        torch.testing.assert_close(first[2][name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_last_layer_runs_on_one_position_and_is_restored(tiny_models):
    model, tok = _model(tiny_models["bert"])
    batch = _batch(tok)
    layer = model.encoder.encoder.layer[-1]
    seen = []
    hook = layer.intermediate.register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape)))
    with torch.no_grad():
        model("t", batch)
    hook.remove()
    assert seen == [(3, 1, model.hidden_size)]
    for m in (layer.attention.self, layer.attention.output):
        assert "forward" not in vars(m)  # the classes' forwards again
    full = model.encode(batch).last_hidden_state  # a direct encoder call is the full computation
    assert full.shape[1] == batch["input_ids"].shape[1]


def test_multiple_choice_rows(tiny_models, monkeypatch):
    model, tok = _model(tiny_models["xlmr"], family="multiple_choice", labels=None)
    enc = tok([a for a, _ in PAIRS] * 2, [b for _, b in PAIRS] * 2, padding=True, return_tensors="pt")
    batch = {k: v.view(3, 2, -1) for k, v in enc.items()}
    batch["labels"] = torch.tensor([0, 1, 1])
    model.eval()
    full = _loss_and_grads(model, batch, False, monkeypatch)
    first = _loss_and_grads(model, batch, True, monkeypatch)
    torch.testing.assert_close(first[0], full[0], rtol=1e-5, atol=1e-6)
    for name, g in full[2].items():
        torch.testing.assert_close(first[2][name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_other_heads_and_unsupported_encoders_run_in_full(tiny_models):
    model, tok = _model(tiny_models["bert"], family="tagging", labels=("O", "X"))
    assert not model.reads_pooled("t")
    enc = model.encoder
    with first_position_only(enc, wanted=False) as applied:
        assert not applied
    on, off = (
        ("activation_checkpointing_enable", "activation_checkpointing_disable")
        if hasattr(enc, "activation_checkpointing_enable")
        else ("gradient_checkpointing_enable", "gradient_checkpointing_disable")
    )
    getattr(enc, on)()
    assert last_layer(enc) is None  # checkpointing re-runs the layer's forward outside the context
    getattr(enc, off)()
    assert last_layer(enc) is not None
    enc.compile()  # wraps the call only; nothing is compiled until the model runs
    assert last_layer(enc) is None  # a compiled encoder keeps its traced forwards
    enc._compiled_call_impl = None
    assert last_layer(enc) is not None
    enc.config.is_decoder = True
    assert last_layer(enc) is None
