"""MLM co-training starts from the checkpoint's pretrained LM head (with the config's LayerNorm eps) where it has one."""

from __future__ import annotations

import torch

from xstilts.modeling.model import MultiTaskModel, load_encoder
from xstilts.training.mlm import MLM_TASK, mlm_train_task
from xstilts.training.phase import PhaseConfig


def _cfg(start, tmp_path) -> PhaseConfig:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the good movie\nthe red cat runs\n", encoding="utf-8")
    return PhaseConfig("intermediate", ["x"], str(start), mlm_corpus=str(corpus))


def test_mlm_head_loads_pretrained_weights(tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    from tests.conftest import make_tokenizer

    torch.manual_seed(0)
    tok = make_tokenizer("bert")
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        pad_token_id=tok.pad_token_id,
        layer_norm_eps=1e-5,
    )
    lm = BertForMaskedLM(config)
    with torch.no_grad():  # make the head weights distinguishable from any fresh initialization
        for p in lm.cls.predictions.parameters():
            p.add_(torch.randn_like(p))
    start = tmp_path / "tiny-mlm"
    lm.save_pretrained(start, safe_serialization=True)
    tok.save_pretrained(start)
    saved = lm.cls.predictions

    enc, tok2 = load_encoder(str(start))
    model = MultiTaskModel(enc)
    task = mlm_train_task(model, tok2, _cfg(start, tmp_path))
    head = model.heads[MLM_TASK]
    assert task.info["head_init"] == "pretrained"
    assert torch.equal(head.dense.weight, saved.transform.dense.weight)
    assert torch.equal(head.dense.bias, saved.transform.dense.bias)
    assert torch.equal(head.norm.weight, saved.transform.LayerNorm.weight)
    assert torch.equal(head.norm.bias, saved.transform.LayerNorm.bias)
    assert torch.equal(head.bias, saved.bias)
    assert head.norm.eps == 1e-5
    # the decoder is tied to the encoder's word embeddings, which are the checkpoint's
    assert torch.equal(head._embeddings[0].weight, lm.get_input_embeddings().weight)
    batch = {"labels": torch.tensor([[5, -100]])}
    out = head(torch.randn(1, 2, 32), batch)
    assert torch.isfinite(out["loss"])


def test_mlm_head_random_without_pretrained_head(tiny_models, tmp_path):
    enc, tok = load_encoder(str(tiny_models["xlmr"]))  # saved as a bare encoder: no LM head to load
    model = MultiTaskModel(enc)
    task = mlm_train_task(model, tok, _cfg(tiny_models["xlmr"], tmp_path))
    assert task.info["head_init"] == "random"
    assert "no LM head" in task.info["head_random_reason"]
    assert model.heads[MLM_TASK].norm.eps == enc.config.layer_norm_eps
