"""Tiny random encoders of the two tokenizer paths (BERT WordPiece with token types, XLM-R SentencePiece Unigram), with
tokenizers trained on a given corpus: what the tests and `xstilts rehearse` stand in for real models with."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

KINDS = ("bert", "xlmr")


def model_kind(path: str) -> str:
    """The tokenizer/architecture path a model takes: 'xlmr' (SentencePiece Unigram: XLM-R, e5, the embedded encoder)
    or 'bert' (WordPiece: BERT, mBERT, MiniLM). A local folder is read from its config; a hub id by its name."""
    import json

    cfg = Path(path) / "config.json"
    if cfg.is_file():
        model_type = json.loads(cfg.read_text(encoding="utf-8")).get("model_type", "")
        return "xlmr" if model_type in ("xlm-roberta", "roberta", "camembert") else "bert"
    name = path.lower()
    if name == "embedded" or any(k in name for k in ("xlm", "roberta", "e5", "camembert", "rembert", "mt5")):
        return "xlmr"
    return "bert"


def make_tokenizer(kind: str, corpus: Iterable[str], vocab_size: int = 200):
    """A fast tokenizer of the BERT (WordPiece, lower-cased, token types) or XLM-R (Unigram, Metaspace) kind."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = list(corpus)
    if kind == "bert":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            unk_token="[UNK]",
            pad_token="[PAD]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            mask_token="[MASK]",
            model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        )
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(
        corpus, trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>")
    )
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_input_names=["input_ids", "attention_mask"],
    )


def make_model_dir(
    kind: str, root: Path, corpus: Iterable[str], name: str | None = None, vocab_size: int = 200
) -> Path:
    """A tiny random model folder (config + safetensors + tokenizer) of the BERT or the XLM-R path: 2 layers, width 32."""
    import torch
    from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(0)
    tok = make_tokenizer(kind, corpus, vocab_size)
    common: dict[str, Any] = {
        "vocab_size": len(tok),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    }
    model: BertModel | XLMRobertaModel
    if kind == "bert":
        # with a pooler, as mBERT's checkpoint has one (the XLM-R path has none: heads read the first token there)
        model = BertModel(BertConfig(max_position_embeddings=256, pad_token_id=tok.pad_token_id, **common))
    else:
        model = XLMRobertaModel(
            XLMRobertaConfig(max_position_embeddings=258, type_vocab_size=1, pad_token_id=tok.pad_token_id, **common),
            add_pooling_layer=False,
        )
    out = Path(root) / (name or f"tiny-{kind}")
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out
