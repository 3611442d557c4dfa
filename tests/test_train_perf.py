"""The training loop's speed devices change nothing in the math: the CPU embedding-gradient buffer, the exact clip skip,
the prefetching thread; and a NaN loss stops training with an error naming the step and the task."""

from __future__ import annotations

import pytest
import torch

from xstilts.data.load import load_examples
from xstilts.defaults import phase_defaults
from xstilts.families.featurize import Collator
from xstilts.families.table import featurize
from xstilts.modeling.model import HeadSpec, MultiTaskModel, load_encoder
from xstilts.tasks import get_task
from xstilts.training.loop import TrainingDiverged, TrainTask, _clip_exact, build_optimizer, grad_into_buffer, train

FAST = {
    "learning_rate": 3e-3,
    "batch_size": 8,
    "grad_accumulation": 2,
    "max_seq_length": 48,
    "warmup_ratio": 0.1,
    "num_epochs": 1,
    "eval_every_steps": 10_000,
    "weight_decay": 0.01,
}


def _setup(tiny_models, kind="bert", task_name="toy_pair"):
    task = get_task(task_name)
    torch.manual_seed(0)
    enc, tok = load_encoder(str(tiny_models[kind]))
    model = MultiTaskModel(enc, {task_name: HeadSpec(task_name, task.family, task.labels)})
    settings = {**phase_defaults("intermediate"), **FAST}
    feats = featurize(task.family, load_examples(task, "train", "en")[:48], tok, task.labels, settings, train=True)
    return model, tok, feats, settings


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_embedding_grad_buffer_is_bit_identical(kind, tiny_models, toy_tasks):
    model, tok, feats, _ = _setup(tiny_models, kind)
    collate = Collator(pad_id=tok.pad_token_id)
    batches = [collate(feats[:8]), collate(feats[8:20])]  # two micro-batches accumulate, with padding
    emb = model.encoder.get_input_embeddings()
    assert emb.padding_idx is not None
    model.eval()  # no dropout: both passes compute the same function

    def grads():
        model.zero_grad(set_to_none=True)
        for b in batches:
            model("toy_pair", dict(b.items()))["loss"].backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain = grads()
    undo = grad_into_buffer(emb)
    try:
        buffered = grads()
        buffered_again = grads()  # the second step reuses (and re-zeroes) the buffer
    finally:
        undo()
    assert "forward" not in emb.__dict__  # restored
    assert plain.keys() == buffered.keys()
    for n in plain:
        assert torch.equal(plain[n], buffered[n]), n
        assert torch.equal(plain[n], buffered_again[n]), n
    assert float(plain["encoder.embeddings.word_embeddings.weight"][tok.pad_token_id].abs().sum()) == 0.0


@pytest.mark.parametrize("max_norm", [1e-3, 1e3])  # clipping, and a factor of 1 (the multiply skipped)
def test_clip_exact_equals_torch(max_norm):
    torch.manual_seed(0)
    a = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(7))]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    for p, q in zip(a, b, strict=False):
        p.grad = torch.randn_like(p)
        q.grad = p.grad.clone()
    torch.nn.utils.clip_grad_norm_(a, max_norm)
    _clip_exact(b, max_norm)
    for p, q in zip(a, b, strict=False):
        assert torch.equal(p.grad, q.grad)


def test_fused_optimizer_on_cpu(tiny_models, toy_tasks):
    model, _, _, settings = _setup(tiny_models)
    opt = build_optimizer(model, settings)
    assert opt.defaults.get("fused") is True
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == settings["weight_decay"] and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim < 2 for p in no_decay["params"])


def test_prefetch_gives_the_same_training(tiny_models, toy_tasks):
    """Same seed, prefetching thread on or off: the same batches in the same order, so the same losses and weights."""
    runs = []
    for depth in (0, 3):
        model, tok, feats, settings = _setup(tiny_models, "xlmr", "toy_tag")
        settings["prefetch_batches"] = depth
        res = train(
            model, [TrainTask("toy_tag", feats)], Collator(pad_id=tok.pad_token_id), settings, seed=3, progress=False
        )
        runs.append((res, {k: v.clone() for k, v in model.state_dict().items()}))
    (r0, w0), (r1, w1) = runs
    assert r0.losses == r1.losses and len(r0.losses) == r0.micro_batches == 6
    assert r0.learning_rates == r1.learning_rates and len(r0.learning_rates) == r0.optimizer_steps == 3
    assert r0.examples == 48 and r0.tokens == sum(len(f["input_ids"]) for f in feats)
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k


def test_nan_loss_stops_with_step_and_task(tiny_models, toy_tasks):
    task = get_task("toy_reg")
    enc, tok = load_encoder(str(tiny_models["bert"]))
    model = MultiTaskModel(enc, {"toy_reg": HeadSpec("toy_reg", "regression")})
    settings = {**phase_defaults("intermediate"), **FAST, "grad_accumulation": 1}
    feats = featurize(task.family, load_examples(task, "train", "en")[:40], tok, None, settings, train=True)
    for f in feats:  # a NaN target: the first step's loss is NaN
        f["labels"] = float("nan")
    with pytest.raises(TrainingDiverged) as err:
        train(model, [TrainTask("toy_reg", feats)], Collator(pad_id=tok.pad_token_id), settings, seed=0, progress=False)
    assert err.value.step == 1 and err.value.task == "toy_reg"
    assert "step 1" in str(err.value) and "toy_reg" in str(err.value)
    assert isinstance(err.value, RuntimeError)


def test_token_budget_batches_cover_everything_once():
    from xstilts.evaluation.predict import _batches

    feats = [
        {"input_ids": [1] * n, "attention_mask": [1] * n, "meta": {"example": i}}
        for i, n in enumerate([5, 50, 3, 17, 17, 2, 64, 9, 30, 1])
    ]
    choices = [
        {"input_ids": [[1] * n] * c, "attention_mask": [[1] * n] * c, "meta": {"example": i}}
        for i, (n, c) in enumerate([(6, 2), (8, 4), (3, 4), (20, 3)])
    ]
    for group in (feats, choices):
        seen = []
        for idx, batch in _batches(group, Collator(pad_id=0), max_tokens=64):
            seen += idx
            ids = batch["input_ids"]
            sequences = ids.shape[0] * (ids.shape[1] if ids.dim() == 3 else 1)
            assert sequences * ids.shape[-1] <= 64 or len(idx) == 1
        assert sorted(seen) == list(range(len(group)))


@pytest.mark.parametrize("task_name", ["toy_pair", "toy_tag", "toy_span"])
def test_token_budget_predictions_in_input_order(task_name, tiny_models, toy_tasks):
    from xstilts.evaluation.predict import run_head
    from xstilts.evaluation.task_eval import predict_examples

    task = get_task(task_name)
    enc, tok = load_encoder(str(tiny_models["xlmr"]))
    model = MultiTaskModel(enc, {task_name: HeadSpec(task_name, task.family, task.labels)})
    settings = {**phase_defaults("intermediate"), "max_seq_length": 48, "doc_stride": 16}
    examples = load_examples(task, "test", "en")[:30]
    feats = featurize(task.family, examples, tok, task.labels, settings, train=False)
    collate = Collator(pad_id=tok.pad_token_id)
    one_by_one = run_head(model, task_name, feats, collate, torch.device("cpu"), batch_size=1)
    budget = run_head(model, task_name, feats, collate, torch.device("cpu"), max_tokens=200)
    for a, b in zip(
        one_by_one, budget, strict=False
    ):  # a feature's own positions agree; padding only lengthens per-token rows
        for k in a:
            x, y = a[k], b[k]
            if task.family != "classification":
                y = y[: x.shape[0]]
            torch.testing.assert_close(torch.from_numpy(y), torch.from_numpy(x), rtol=1e-4, atol=1e-4)
    p1 = predict_examples(model, tok, task, examples, {**settings, "eval_max_tokens": 100}, "cpu")
    p2 = predict_examples(model, tok, task, examples, {**settings, "eval_max_tokens": 100_000}, "cpu", feats=feats)
    assert p1 == p2 and len(p1) == len(examples)


@pytest.mark.parametrize(("kind", "max_norm"), [("bert", 1.0), ("xlmr", 0.05)])  # 0.05: every step clips
def test_lazy_embedding_rows_train_as_dense_adamw(kind, max_norm, tiny_models, toy_tasks, monkeypatch):
    """The word embeddings' lazy AdamW (only rows ever used are stepped; the others' weight decay is applied when read)
    gives dense AdamW's weights, losses and dev-time weights, with accumulation, clipping and weight decay, up to float
    rounding; and a row a late batch uses for the first time is read with the decay it would have had."""
    from xstilts.training import loop

    runs = []
    for lazy in (False, True):
        monkeypatch.setattr(loop, "LAZY_EMBEDDING_ROWS", lazy)
        model, tok, feats, settings = _setup(tiny_models, kind)
        settings.update(max_grad_norm=max_norm, weight_decay=0.1, eval_every_steps=1, early_stopping_patience=100)
        emb = model.encoder.get_input_embeddings()
        seen: list[torch.Tensor] = []

        def evaluate(emb=emb, seen=seen):  # what a dev evaluation reads: every row, pending decay included
            seen.append(emb.weight.detach().clone())
            return {"accuracy": float(len(seen))}  # rising: each evaluation is the best, nothing is restored

        res = train(
            model,
            [TrainTask("toy_pair", feats, evaluate)],
            Collator(pad_id=tok.pad_token_id),
            settings,
            seed=5,
            progress=False,
        )
        runs.append((res, seen, {k: v.clone() for k, v in model.state_dict().items()}, emb))
    (dense, dense_seen, w_dense, _), (lazy_res, lazy_seen, w_lazy, emb) = runs
    assert "forward" not in emb.__dict__  # the lookup is restored
    assert dense.optimizer_steps == lazy_res.optimizer_steps == 3
    assert dense.learning_rates == lazy_res.learning_rates
    assert dense.losses == pytest.approx(lazy_res.losses, rel=1e-5)
    assert len(dense_seen) == len(lazy_seen) == 3
    # atol 1e-6 (a missing decay step, lr x wd x |w| = 3e-4 x |w|, is 6e-6 for a weight of the init's scale): a gradient
    # that is a near-cancelling sum (e.g. an embedding element whose token's contributions cancel) is rounded
    # differently by the lazy backward's row sum and the dense one, and Adam's first step, g / (|g| + eps), carries that
    # relative difference into the update (1.5e-7 on one element of xlmr's 2,656 here, constant after the first step);
    # likewise the attention key biases have an analytically zero gradient (softmax ignores a shift), so Adam's steps on
    # them follow rounding noise (within 4e-7 of each other here)
    for a, b in zip(dense_seen, lazy_seen, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for k in w_dense:
        torch.testing.assert_close(w_dense[k], w_lazy[k], rtol=1e-5, atol=1e-6, msg=k)
    word = "encoder.embeddings.word_embeddings.weight"
    assert not torch.equal(w_dense[word], _setup(tiny_models, kind)[0].state_dict()[word])  # the embeddings trained


def test_lazy_rows_off_where_the_weight_is_tied(tiny_models, toy_tasks):
    """A masked-LM head reads the word-embedding matrix whole: the lazy optimizer does not apply there."""
    from xstilts.training.lazy_rows import lazy_rows_apply

    model, *_ = _setup(tiny_models)
    emb = model.encoder.get_input_embeddings()
    assert lazy_rows_apply(model, emb)
    tied = MultiTaskModel(model.encoder, {"mlm": HeadSpec("mlm", "mlm", None)})
    assert not lazy_rows_apply(tied, emb)
