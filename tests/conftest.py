"""Shared fixtures: tiny random BERT (WordPiece) and XLM-R (Unigram) models with tokenizers trained at test time, and a
scratch task directory registered with the task registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "the a good bad movie film red blue green cat dog runs jumps is was very not and or it this that what who where "
    "color animal one two three four five six seven eight nine ten apple banana house tree river city paris london "
    "berlin question answer sky sun moon big small happy sad"
).split()


def toy_corpus(n: int = 400) -> list[str]:
    import random

    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(n)] + WORDS


def make_tokenizer(kind: str):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = toy_corpus()
    if kind == "bert":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
        )
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                       sep_token="[SEP]", mask_token="[MASK]", model_input_names=["input_ids",
                                       "token_type_ids", "attention_mask"])
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(corpus, trainers.UnigramTrainer(vocab_size=200, special_tokens=specials, unk_token="<unk>"))
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>",
                                   model_input_names=["input_ids", "attention_mask"])


def make_model_dir(kind: str, root: Path) -> Path:
    """A tiny random model folder (config + safetensors + tokenizer) of the BERT or the XLM-R path."""
    import torch
    from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(0)
    tok = make_tokenizer(kind)
    common = dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    if kind == "bert":
        model = BertModel(BertConfig(max_position_embeddings=256, pad_token_id=tok.pad_token_id, **common),
                          add_pooling_layer=False)
    else:
        model = XLMRobertaModel(XLMRobertaConfig(max_position_embeddings=258, type_vocab_size=1,
                                                 pad_token_id=tok.pad_token_id, **common), add_pooling_layer=False)
    out = root / f"tiny-{kind}"
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {kind: make_model_dir(kind, root) for kind in ("bert", "xlmr")}


@pytest.fixture(scope="session")
def toy_tasks(tmp_path_factory) -> Path:
    """Learnable toy tasks of every family, written as task YAML + uniform JSONL, registered with the registry."""
    from tests.toy_tasks import write_toy_tasks
    from xstilts.tasks import register_task_dir

    root = tmp_path_factory.mktemp("toy_tasks")
    write_toy_tasks(root)
    register_task_dir(root)
    return root
