"""Tests for freezelab.training: fit, hooks, evaluation metrics and plots."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, precision_score, recall_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from freezelab.backbones import TinyResNet
from freezelab.data import few_shot, loaders, source_task
from freezelab.training import (
    History,
    evaluate,
    fit,
    loss_and_accuracy,
    plot_confusion,
    plot_history,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def tiny_task():
    return loaders(few_shot(source_task(), k=8, seed=0), batch_size=20, seed=0)


def test_fit_reduces_loss_and_records_history(tiny_task):
    torch.manual_seed(0)
    model = TinyResNet()
    history = fit(model, tiny_task["train"], torch.optim.Adam(model.parameters(), lr=1e-2), epochs=6,
                  val_loader=tiny_task["val"], device="cpu", progress=False)
    assert len(history.train_loss) == len(history.train_acc) == len(history.val_loss) == 6
    assert history.epochs == 6 and len(history.as_rows()) == 6
    assert history.train_loss[-1] < 0.7 * history.train_loss[0]
    assert history.train_acc[-1] > history.train_acc[0]
    assert all(0.0 <= acc <= 1.0 for acc in history.val_acc)


def test_before_epoch_runs_after_model_train(tiny_task):
    torch.manual_seed(0)
    model = TinyResNet()
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    stats_before = model.bn1.running_mean.clone()
    seen = []

    def keep_frozen_bn_in_eval(m, epoch):
        seen.append((epoch, m.training))
        for module in m.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()

    fit(model, tiny_task["train"], torch.optim.SGD(model.fc.parameters(), lr=0.1), epochs=2, device="cpu",
        before_epoch=keep_frozen_bn_in_eval, progress=False)
    assert seen == [(0, True), (1, True)]  # the hook sees a model already in train mode
    assert torch.equal(model.bn1.running_mean, stats_before)  # so eval() there sticks for the epoch


class OneHotIdentity(nn.Module):
    """A 'model' whose prediction is given by its input, to evaluate known confusions."""

    def forward(self, x):
        return x * 10.0


def known_predictions():
    # Seed 001's example: TP 85, FN 15, FP 10, TN 90 (class 1 = positive).
    y_true = np.array([1] * 100 + [0] * 100)
    y_pred = np.array([1] * 85 + [0] * 15 + [1] * 10 + [0] * 90)
    x = torch.nn.functional.one_hot(torch.tensor(y_pred), 2).float()
    return y_true, y_pred, DataLoader(TensorDataset(x, torch.tensor(y_true)), batch_size=64)


def test_evaluate_matches_hand_and_sklearn():
    y_true, y_pred, loader = known_predictions()
    ev = evaluate(OneHotIdentity(), loader, class_names=["neg", "pos"], device="cpu")
    assert ev.confusion.tolist() == [[90, 10], [15, 85]]
    assert ev.accuracy == pytest.approx(175 / 200)
    assert ev.precision[1] == pytest.approx(85 / 95) and ev.recall[1] == pytest.approx(0.85)
    assert ev.f1[1] == pytest.approx(2 * (85 / 95) * 0.85 / (85 / 95 + 0.85))
    assert ev.macro["f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert ev.weighted["precision"] == pytest.approx(precision_score(y_true, y_pred, average="weighted"))
    assert ev.macro["recall"] == pytest.approx(recall_score(y_true, y_pred, average="macro"))
    assert ev.support.tolist() == [100, 100]
    report = ev.report()
    assert "pos" in report and "0.850" in report and "accuracy 0.875" in report


def test_loss_and_accuracy_restores_train_mode():
    _, _, loader = known_predictions()
    model = OneHotIdentity().train()
    _, accuracy = loss_and_accuracy(model, loader, "cpu")
    assert accuracy == pytest.approx(0.875) and model.training


def test_plots_return_figures():
    history = History(train_loss=[1.0, 0.5], train_acc=[0.4, 0.8], val_loss=[1.1, 0.7], val_acc=[0.3, 0.7])
    fig = plot_history(history, title="demo")
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 2
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    _, _, loader = known_predictions()
    ax = plot_confusion(evaluate(OneHotIdentity(), loader, ["neg", "pos"], "cpu"))
    assert sorted(t.get_text() for t in ax.texts) == ["10", "15", "85", "90"]
    plt.close("all")
