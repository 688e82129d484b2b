"""Pre-training is deterministic and the shipped checkpoint is a good source model."""

import torch

from freezelab.backbones import checkpoint_info, load_pretrained, save_checkpoint
from freezelab.data import loaders, source_task
from freezelab.pretrain import main, pretrain
from freezelab.training import loss_and_accuracy


def test_pretraining_twice_gives_bit_identical_weights():
    first, meta = pretrain(epochs=1, progress=False)
    second, _ = pretrain(epochs=1, progress=False)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert meta["epochs"] == 1 and 0.0 <= meta["source_val_accuracy"] <= 1.0


def test_cli_writes_a_checkpoint_that_load_pretrained_reads(tmp_path, capsys):
    out = tmp_path / "ckpt.pt"
    assert main(["--epochs", "1", "--out", str(out)]) == 0
    assert "source val accuracy" in capsys.readouterr().out
    model = load_pretrained(path=out)
    assert out.with_suffix(".sha256").exists() and model.fc.out_features == 5
    assert checkpoint_info(out)["epochs"] == 1


def test_shipped_checkpoint_classifies_the_source_task_well():
    model = load_pretrained()
    _, accuracy = loss_and_accuracy(model, loaders(source_task())["val"], "cpu")
    assert accuracy >= 0.95
    assert checkpoint_info()["source_val_accuracy"] >= 0.95


def test_save_checkpoint_round_trip_keeps_batchnorm_statistics(tmp_path):
    model = load_pretrained()
    save_checkpoint(model, tmp_path / "copy.pt", {"note": "copy"})
    again = load_pretrained(path=tmp_path / "copy.pt")
    assert torch.equal(again.bn1.running_var, model.bn1.running_var)
