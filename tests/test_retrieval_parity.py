"""Retrieval as the official XTREME code does it.

BUCC: `mine_one_to_one` / `bucc_candidates` against a plain numpy re-statement of google-research/xtreme
`third_party/utils_retrieve.py` (mine_bitext with retrieval='max', margin='ratio', threshold 0; text_load_unify and
unique_embeddings; read_sent2id and read_candidate2score; bucc_optimize), pair for pair. Tatoeba: on the official
layout (non-English file as is, English file sorted), the run's predictions equal a direct computation with the model:
English queries against a cosine index of the non-English vectors, same layer and pooling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xstilts.evaluation.retrieval import bucc_candidates, distinct, knn, mine_one_to_one
from xstilts.families import metrics as M

OFFICIAL = Path(__file__).parent / "fixtures" / "xtreme" / "official"


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models run one sentence at a time here; on a shared 2-core machine torch's second thread only spins."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- a direct re-statement of the official algorithm (loops, as written there) --------------------------------------


def official_knn(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = x @ y.T
    ind = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, ind, axis=1), ind


def official_mine_max(x: np.ndarray, y: np.ndarray, k: int = 4, threshold: float = 0.0) -> list[tuple[int, int, float]]:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    x2y_sim, x2y_ind = official_knn(x, y, min(len(y), k))
    y2x_sim, y2x_ind = official_knn(y, x, min(len(x), k))
    x2y_mean, y2x_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)

    def score_candidates(a, b, inds, fwd_mean, bwd_mean):
        scores = np.zeros(inds.shape)
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                c = inds[i, j]
                scores[i, j] = a[i].dot(b[c]) / ((fwd_mean[i] + bwd_mean[c]) / 2)
        return scores

    fwd_scores = score_candidates(x, y, x2y_ind, x2y_mean, y2x_mean)
    bwd_scores = score_candidates(y, x, y2x_ind, y2x_mean, x2y_mean)
    fwd_best = x2y_ind[np.arange(len(x)), fwd_scores.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(len(y)), bwd_scores.argmax(axis=1)]
    indices = np.stack(
        (np.concatenate((np.arange(len(x)), bwd_best)), np.concatenate((fwd_best, np.arange(len(y))))), axis=1
    )
    scores = np.concatenate((fwd_scores.max(axis=1), bwd_scores.max(axis=1)))
    seen_src, seen_trg, out = set(), set(), []
    for i in np.argsort(-scores):
        s, t = indices[i]
        if s not in seen_src and t not in seen_trg:
            seen_src.add(s)
            seen_trg.add(t)
            if scores[i] > threshold:
                out.append((int(s), int(t), float(scores[i])))
    return out


def official_pipeline(
    src: list[tuple[str, str]], tgt: list[tuple[str, str]], vec: dict[str, np.ndarray], k: int = 4
) -> dict[tuple[str, str], float]:
    """(id, text) lines of both sides -> the official candidate2score: embeddings per line, unified
    (text_load_unify + unique_embeddings), mined, then mapped to ids through read_sent2id."""

    def unify(lines):
        sent2ind, inds, sents = {}, [], []
        for _, text in lines:
            new = len(sent2ind)
            inds.append(sent2ind.setdefault(text, new))
            if inds[-1] == new:
                sents.append(text)
        emb = np.stack([vec[t] for _, t in lines])
        aux = {j: i for i, j in enumerate(inds)}
        return sents, emb[[aux[i] for i in range(len(aux))]]

    def sent2id(lines):
        repeated, table = set(), {}
        for i, text in lines:
            if text in table:
                repeated.add(text)
            else:
                table[text] = i
        return {t: i for t, i in table.items() if t not in repeated}

    src_sents, x = unify(src)
    tgt_sents, y = unify(tgt)
    s2id, t2id = sent2id(src), sent2id(tgt)
    cand: dict[tuple[str, str], float] = {}
    for i, j, score in official_mine_max(x, y, k):
        s, t = src_sents[i], tgt_sents[j]
        if s in s2id and t in t2id:
            key = (s2id[s], t2id[t])
            cand[key] = max(score, cand.get(key, score))
    return cand


def official_bucc_optimize(cand: dict[tuple[str, str], float], gold: set[str]) -> float:
    items = sorted(cand.items(), key=lambda x: -x[1])
    nextract = ncorrect = 0
    threshold = best_f1 = 0.0
    for i in range(len(items)):
        nextract += 1
        ncorrect += "\t".join(items[i][0]) in gold
        if ncorrect > 0:
            p, r = ncorrect / nextract, ncorrect / len(gold)
            f1 = 2 * p * r / (p + r)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (items[i][1] + items[i + 1][1]) / 2
    return threshold


def planted(n_src: int, n_tgt: int, n_pairs: int, dim: int = 32, noise: float = 0.6, seed: int = 0):
    """Random vectors with n_pairs planted translations (source i ~ target perm[i]) among distractors."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_src, dim)).astype(np.float32)
    y = rng.standard_normal((n_tgt, dim)).astype(np.float32)
    perm = rng.permutation(n_tgt)[:n_pairs]
    y[perm] = x[:n_pairs] + noise * rng.standard_normal((n_pairs, dim)).astype(np.float32)
    return x, y, {(i, int(perm[i])) for i in range(n_pairs)}


# --- BUCC mining ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(200, 270, 120), (300, 150, 100), (3, 2, 2)])
def test_mining_equals_the_official_max_retrieval_pair_for_pair(shape):
    x, y, _ = planted(*shape)
    ours = mine_one_to_one(x, y, k=4)
    theirs = official_mine_max(x, y, k=4)
    assert [(i, j) for i, j, _ in ours] == [(i, j) for i, j, _ in theirs]
    assert np.allclose([s for *_, s in ours], [s for *_, s in theirs], rtol=1e-5, atol=0)


def test_mining_is_one_to_one_where_the_pooled_candidates_are_not():
    x, y, gold = planted(200, 270, 120, noise=1.0)
    ours = mine_one_to_one(x, y, k=4)
    assert len({i for i, _, _ in ours}) == len(ours) and len({j for _, j, _ in ours}) == len(ours)
    assert [s for *_, s in ours] == sorted((s for *_, s in ours), reverse=True) and all(s > 0 for *_, s in ours)
    # the pooled forward/backward bests do pair sources with several targets here: the one-to-one pass matters
    fwd = knn(x, y, 1)[1][:, 0]
    bwd = knn(y, x, 1)[1][:, 0]
    pooled = {(i, int(j)) for i, j in enumerate(fwd)} | {(int(i), j) for j, i in enumerate(bwd)}
    assert len({i for i, _ in pooled}) < len(pooled)
    assert len({(i, j) for i, j, _ in ours} & gold) > 60


def test_bucc_candidates_as_the_official_pipeline_with_repeated_sentences():
    """Distinct texts embedded once; a sentence under two ids (either side) is never predicted (read_sent2id)."""
    x, y, _ = planted(60, 80, 40, noise=0.4, seed=3)
    src = [(f"de-{i:03d}", f"s{i}") for i in range(60)]
    tgt = [(f"en-{j:03d}", f"t{j}") for j in range(80)]
    src += [("de-100", "s5"), ("de-101", "s7")]  # repeated source sentences
    tgt += [("en-100", "t3")]  # a repeated English sentence
    vec = {f"s{i}": x[i] for i in range(60)} | {f"t{j}": y[j] for j in range(80)}
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.stack([vec[t] for t in texts])

    ours = bucc_candidates([i for i, _ in src], [t for _, t in src], [i for i, _ in tgt], [t for _, t in tgt], embed)
    assert [len(c) for c in calls] == [60, 80] and all(len(set(c)) == len(c) for c in calls)
    theirs = official_pipeline(src, tgt, vec)
    assert [(s, t) for s, t, _ in ours] == list(theirs)
    assert np.allclose([v for *_, v in ours], list(theirs.values()), rtol=1e-5, atol=0)
    named = {s for s, _, _ in ours} | {t for _, t, _ in ours}
    assert not named & {"de-005", "de-007", "de-100", "de-101", "en-003", "en-100"}
    assert len(ours) > 20


def test_threshold_from_dev_applied_to_test_as_the_official_bucc_eval():
    dev_x, dev_y, dev_gold = planted(150, 200, 90, noise=0.9, seed=5)
    test_x, test_y, test_gold = planted(150, 200, 90, noise=0.9, seed=6)

    def named(x, y):
        return [(f"s{i}", f"t{j}", s) for i, j, s in mine_one_to_one(x, y)]

    def gold_lines(g):
        return {f"s{i}\tt{j}" for i, j in g}

    dev = named(dev_x, dev_y)
    th = M.bucc_best_threshold(dev, sorted(gold_lines(dev_gold)))
    assert th == pytest.approx(official_bucc_optimize({(s, t): v for s, t, v in dev}, gold_lines(dev_gold)), abs=1e-12)
    test = named(test_x, test_y)
    extracted = M.bucc_extract(test, th)
    assert extracted == [(s, t) for s, t, v in test if v >= th]  # the official bucc_extract: score >= threshold
    assert 0 < len(extracted) < len(test)


def test_distinct_keeps_first_occurrence_order():
    texts, inverse = distinct(["b", "a", "b", "c", "a"])
    assert texts == ["b", "a", "c"] and inverse.tolist() == [0, 1, 0, 2, 1]


def test_knn_in_chunks_equals_one_search():
    x, y, _ = planted(50, 70, 20)
    whole = knn(x, y, 4)
    chunked = knn(x, y, 4, chunk=7)
    assert np.array_equal(whole[1], chunked[1]) and np.allclose(whole[0], chunked[0])
    assert knn(x, y[:2], 4)[1].shape == (50, 2)


# --- the production path on the official layout, against the model computed directly ------------------------------


def direct_vectors(model_dir: Path, texts: list[str], layer: int, pooling: str, max_len: int) -> np.ndarray:
    """Sentence vectors straight from transformers: hidden_states[layer] pooled as XTREME's evaluate_retrieval."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    out = []
    with torch.no_grad():
        for t in texts:  # one at a time: no padding at all
            enc = tok(t, truncation=True, max_length=max_len, return_tensors="pt", return_special_tokens_mask=True)
            special = enc.pop("special_tokens_mask")
            h = model(**enc, output_hidden_states=True).hidden_states[layer][0]
            if pooling == "cls":
                out.append(h[0])
            else:
                mask = enc["attention_mask"][0] if pooling == "mean_all" else 1 - special[0]
                out.append((h * mask[:, None]).sum(0) / mask.sum())
    return torch.stack(out).numpy()


def toy_sentences(n: int, seed: int) -> list[str]:
    import random

    from tests.conftest import WORDS

    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(n)]


def write_official_tatoeba(root: Path, n: int = 40) -> tuple[list[str], list[str]]:
    """`tatoeba/de-en.de` (as is) and `de-en.en` (sorted), as utils_preprocess.tatoeba_preprocess writes them;
    the "German" line i is English line i with one word dropped, so retrieval is not at chance."""
    english = toy_sentences(n, seed=11)
    german = [" ".join(e.split()[1:]) or e for e in english]
    d = root / "tatoeba"
    d.mkdir(parents=True)
    (d / "de-en.de").write_text("".join(f"{g}\n" for g in german), encoding="utf-8")
    (d / "de-en.en").write_text("".join(f"{e}\n" for e in sorted(english)), encoding="utf-8")
    return german, sorted(english)


def write_official_bucc(root: Path) -> None:
    """`bucc2018/de-en.dev.{de,en,gold}`: 25 gold pairs (the source is the English sentence with a word dropped),
    15 distractors per side, and sentences repeated under a second id on both sides."""
    english = toy_sentences(55, seed=21)
    de = [(f"de-{i:06d}", " ".join(english[i].split()[1:]) or english[i]) for i in range(25)]
    de += [(f"de-{100 + i:06d}", s) for i, s in enumerate(toy_sentences(15, seed=22))]
    de += [("de-000900", de[3][1]), ("de-000901", de[30][1])]
    en = [(f"en-{i:06d}", english[i]) for i in range(55)] + [("en-000900", english[7])]
    d = root / "bucc2018"
    d.mkdir(parents=True)
    (d / "de-en.dev.de").write_text("".join(f"{i}\t{t}\n" for i, t in de), encoding="utf-8")
    (d / "de-en.dev.en").write_text("".join(f"{i}\t{t}\n" for i, t in en), encoding="utf-8")
    (d / "de-en.dev.gold").write_text("".join(f"de-{i:06d}\ten-{i:06d}\n" for i in range(25)), encoding="utf-8")


def faiss_cosine_nn(queries: np.ndarray, keys: np.ndarray) -> list[int]:
    import faiss

    q, k = queries.copy(), keys.copy()
    faiss.normalize_L2(q)
    faiss.normalize_L2(k)
    index = faiss.IndexFlatIP(k.shape[1])
    index.add(k)
    return index.search(q, 1)[1][:, 0].tolist()


@pytest.mark.parametrize("pooling", ["mean_all", "mean_content", "cls"])
def test_tatoeba_official_layout_equals_a_direct_computation(tiny_models, tmp_path, pooling):
    from xstilts.defaults import phase_defaults
    from xstilts.evaluation.zero_shot import evaluate_target
    from xstilts.families import submission as S
    from xstilts.tasks.registry import get_task

    model_dir = tiny_models["xlmr"]
    xx, en = write_official_tatoeba(tmp_path / "data")
    rows = evaluate_target(
        str(model_dir),
        get_task("tatoeba"),
        ["de"],
        ["test"],
        tmp_path / "run",
        data_dir=str(tmp_path / "data"),
        layer=1,
        progress=False,
        pooling=pooling,
    )
    assert rows == []  # the official files carry no gold
    max_len = int(phase_defaults("target", "tatoeba")["max_seq_length"])
    expected = faiss_cosine_nn(
        direct_vectors(model_dir, en, 1, pooling, max_len), direct_vectors(model_dir, xx, 1, pooling, max_len)
    )
    got = [int(x) for x in S.read_labels(tmp_path / "run" / "predictions" / "tatoeba" / "test-de.tsv")]
    assert len(got) == len(en) and got == expected
    assert len(set(expected)) > 5  # not one sentence for every query


def test_tatoeba_directions_and_recorded_settings(tiny_models, tmp_path):
    """Aligned pairs: en_to_xx labels name the non-English line each sorted English line translates; xx_to_en names
    sorted English lines; both settings are in every row and in metrics.json."""
    import json

    from xstilts.data.xtreme import tatoeba_official_order
    from xstilts.evaluation.zero_shot import evaluate_target
    from xstilts.families import submission as S
    from xstilts.families.examples import BitextExample
    from xstilts.tasks.registry import get_task

    english = ["the red cat", "a dog runs", "big house", "the sun is happy", "apple tree"]
    pairs = [BitextExample(f"de-{i}", f"en-{i}", f"{e} {i}", e) for i, e in enumerate(english)]
    line = tatoeba_official_order(english)
    order = sorted(range(len(english)), key=lambda i: english[i])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("xstilts.evaluation.zero_shot.load_examples", lambda *a, **k: list(pairs))
        for direction in ("en_to_xx", "xx_to_en"):
            out = tmp_path / direction
            rows = evaluate_target(
                str(tiny_models["xlmr"]),
                get_task("tatoeba"),
                ["de"],
                ["test"],
                out,
                layer=1,
                progress=False,
                direction=direction,
                pooling="mean_content",
            )
            gold = [int(g) for g in S.read_labels(out / "labels" / "tatoeba" / "test-de.tsv")]
            pred = [int(p) for p in S.read_labels(out / "predictions" / "tatoeba" / "test-de.tsv")]
            assert gold == (order if direction == "en_to_xx" else line)
            acc = next(r["value"] for r in rows if r["metric"] == "accuracy")
            assert acc == pytest.approx(100 * sum(p == g for p, g in zip(pred, gold, strict=False)) / len(gold))
            assert all(r["retrieval_direction"] == direction and r["pooling"] == "mean_content" for r in rows)
            assert json.loads((out / "metrics.json").read_text(encoding="utf-8")) == rows


def test_unknown_direction_or_pooling_is_a_user_error(tiny_models, tmp_path):
    from xstilts.errors import UserError
    from xstilts.evaluation.zero_shot import evaluate_target
    from xstilts.tasks.registry import get_task

    with pytest.raises(UserError, match="retrieval direction 'both'"):
        evaluate_target(
            str(tiny_models["xlmr"]),
            get_task("tatoeba"),
            ["de"],
            ["test"],
            tmp_path,
            data_dir=str(OFFICIAL),
            progress=False,
            direction="both",
        )
    with pytest.raises(UserError, match="pooling 'max'"):
        evaluate_target(
            str(tiny_models["xlmr"]),
            get_task("tatoeba"),
            ["de"],
            ["test"],
            tmp_path,
            data_dir=str(OFFICIAL),
            progress=False,
            pooling="max",
        )


def test_bucc_official_layout_run_equals_the_official_pipeline(tiny_models, tmp_path):
    """Dev threshold and predictions of a run on the official BUCC layout: the official pipeline on vectors
    computed directly from the model gives the same candidates, threshold and mined pairs; one-to-one."""
    from xstilts.defaults import phase_defaults
    from xstilts.evaluation.zero_shot import evaluate_target
    from xstilts.families import submission as S
    from xstilts.tasks.registry import get_task

    model_dir = tiny_models["xlmr"]
    write_official_bucc(tmp_path / "data")
    rows = evaluate_target(
        str(model_dir),
        get_task("bucc2018"),
        ["de"],
        ["dev"],
        tmp_path / "run",
        data_dir=str(tmp_path / "data"),
        layer=1,
        progress=False,
    )
    d = tmp_path / "data" / "bucc2018"

    def lines(name):
        return [tuple(x.split("\t")) for x in (d / name).read_text(encoding="utf-8").splitlines() if x.strip()]

    src, tgt = [(i, t.strip()) for i, t in lines("de-en.dev.de")], [(i, t.strip()) for i, t in lines("de-en.dev.en")]
    texts = sorted({t for _, t in src} | {t for _, t in tgt})
    max_len = int(phase_defaults("target", "bucc2018")["max_seq_length"])
    vec = dict(zip(texts, direct_vectors(model_dir, texts, 1, "mean_all", max_len), strict=False))
    cand = official_pipeline(src, tgt, vec)
    gold = {"\t".join(p) for p in lines("de-en.dev.gold")}
    th = official_bucc_optimize(cand, gold)
    expected = [p for p, s in cand.items() if s >= th]
    got = S.read_bucc(tmp_path / "run" / "predictions" / "bucc2018" / "dev-de.tsv")
    assert [tuple(p) for p in got] == expected and len(got) >= 5
    assert not {s for s, _ in got} & {"de-000003", "de-000030", "de-000900", "de-000901"}
    assert "en-000007" not in {t for _, t in got} and "en-000900" not in {t for _, t in got}
    assert len({s for s, _ in got}) == len(got) and len({t for _, t in got}) == len(got)
    assert next(r["value"] for r in rows if r["metric"] == "threshold") == pytest.approx(th, rel=1e-5)
    assert all(r["retrieval_direction"] == "both" and r["pooling"] == "mean_all" for r in rows)


def test_knn_moves_the_index_to_the_gpus_when_faiss_has_any(monkeypatch):
    import faiss

    moved = []

    def to_gpus(index):
        moved.append(index)
        return index  # stands in for the GPU copy: same search results

    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1)
    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", to_gpus, raising=False)
    x, y, _ = planted(30, 40, 10)
    sims, idx = knn(x, y, 4)
    assert len(moved) == 1 and idx.shape == (30, 4)
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 0)
    assert np.array_equal(knn(x, y, 4)[1], idx) and len(moved) == 1


def test_a_plan_job_passes_its_retrieval_protocol_through(tiny_models, tmp_path):
    """evaluate_job runs the job's direction and pooling (spec `retrieval:`), and the rows record them."""
    from xstilts.evaluation.zero_shot import evaluate_job
    from xstilts.families.examples import BitextExample

    pairs = [BitextExample(f"de-{i}", f"en-{i}", f"{e} x", e) for i, e in enumerate(["red cat", "a dog", "big sun"])]
    job = {
        "target": "tatoeba",
        "languages": ["de"],
        "splits": {"de": ["test"]},
        "hparams": {},
        "data_dir": None,
        "trust_remote_code": False,
        "retrieval": {"layer": 1, "direction": "xx_to_en", "pooling": "cls"},
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("xstilts.evaluation.zero_shot.load_examples", lambda *a, **k: list(pairs))
        rows = evaluate_job(str(tiny_models["xlmr"]), job, tmp_path, progress=False)
    assert rows and all(r["retrieval_direction"] == "xx_to_en" and r["pooling"] == "cls" for r in rows)
