"""Shared-prefix batching gives the plain step's loss and gradients, and runs inside TRL."""

from __future__ import annotations

import json

import pytest

from tests.test_sft import _data, tiny_model  # noqa: F401  (pytest fixture)
from trainers import sft
from trainers.prefix import MIN_PREFIX, shared_prefix_length, split_inputs

torch = pytest.importorskip("torch")


def _batch(prefix: list[int], tails: list[list[int]], answer: int = 3, pad: int = 0):
    """Right-padded rows of prefix + tail, whose last ``answer`` tokens carry labels."""
    width = len(prefix) + max(len(t) for t in tails)
    ids = torch.full((len(tails), width), pad)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, tail in enumerate(tails):
        tokens = prefix + tail
        ids[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
        labels[row, len(tokens) - answer : len(tokens)] = torch.tensor(tokens[-answer:])
    return ids, mask, labels


PREFIX = list(range(10, 30))  # 20 shared tokens


def test_the_prefix_stops_one_short_of_the_first_difference():
    ids, mask, labels = _batch(PREFIX, [[5, 6, 7, 8, 9], [5, 6, 40, 41, 42, 43, 44]])
    # 22 positions agree (the prefix and 5, 6); one stays out so position 21 is predicted
    # from inside the rows' own part.
    assert shared_prefix_length(ids, mask, labels) == 21


def test_labels_and_padding_end_the_prefix():
    ids, mask, labels = _batch(PREFIX, [[1, 2, 3], [1, 2, 3]], answer=3)
    # Identical rows: the labelled answer (positions 20-22) ends the run at 20.
    assert shared_prefix_length(ids, mask, labels) == 19
    ids, mask, labels = _batch(PREFIX[:4], [[1], [1, 2, 3, 4, 5, 6]], answer=1)
    assert shared_prefix_length(ids, mask, labels) == 0  # shorter than MIN_PREFIX
    assert MIN_PREFIX > 4


def test_one_row_or_nothing_shared_means_no_split():
    ids, mask, labels = _batch(PREFIX, [[1, 2, 3, 4]])
    assert shared_prefix_length(ids, mask, labels) == 0
    ids, mask, labels = _batch([], [[1, 2, 3, 4], [2, 2, 3, 4]])
    assert shared_prefix_length(ids, mask, labels) == 0


def _lora_model(folder):
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    base = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    config = peft.LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        init_lora_weights=False,  # non-zero B, so the LoRA path carries gradient both ways
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(base, config)


def _grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])


def test_loss_and_gradients_equal_the_plain_step(tiny_model):  # noqa: F811
    torch.manual_seed(0)
    model = _lora_model(tiny_model)
    ids, mask, labels = _batch(
        PREFIX, [[5, 6, 7, 8, 9], [5, 60, 61, 62, 63, 64, 65, 66], [70, 71, 72, 73]]
    )
    plain = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    plain.backward()
    want = _grads(model).clone()
    model.zero_grad()

    length = shared_prefix_length(ids, mask, labels)
    assert length == len(PREFIX) - 1
    rest = split_inputs(model, {"input_ids": ids, "attention_mask": mask, "labels": labels}, length)
    assert rest["input_ids"].shape == (3, ids.size(1) - length)
    assert rest["position_ids"][0, 0].item() == length
    shared = model(**rest).loss
    shared.backward()
    got = _grads(model)

    assert torch.isclose(shared, plain, rtol=1e-5, atol=1e-6)
    assert want.abs().sum() > 0
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)


def test_training_with_and_without_sharing_logs_the_same_losses(tiny_model, tmp_path):  # noqa: F811
    data = _data(tmp_path / "rows.jsonl")
    records = {}
    for share in ("true", "false"):
        out = tmp_path / f"share-{share}"
        argv = (
            f"--base-model {tiny_model} --data {data} --output-dir {out} --max-steps 3 "
            "--batch-size 4 --grad-accum 1 --lr 1e-2 --lora-dropout 0 --logging-steps 1 "
            f"--progress false --threads 1 --seed 5 --share-prefix {share}"
        ).split()
        assert sft.main(argv) == 0
        records[share] = json.loads((out / "training.json").read_text())
    assert records["true"]["shared_prefix_batches"] == {"shared": 3, "plain": 0}
    assert records["false"]["shared_prefix_batches"] is None
    on = [e["loss"] for e in records["true"]["loss_history"]]
    off = [e["loss"] for e in records["false"]["loss_history"]]
    assert len(on) == len(off) == 3
    assert on == pytest.approx(off, rel=1e-4)
    assert on[-1] < on[0]
