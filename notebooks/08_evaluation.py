# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (freezelab)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 8 — Evaluating a fine-tuned model
#
# **Goal:** decide whether a model with frozen layers is actually good, using numbers that cannot fool
# you.
#
# By the end you can:
# - read training and validation curves and spot overfitting of a head trained on few labels;
# - read a confusion matrix and compute precision, recall and F1 by hand, then check with scikit-learn;
# - explain the accuracy paradox on imbalanced data (98% accuracy that catches almost no fraud);
# - show why choosing settings on the test set gives a score that is too good to be true.
#
# Sources: the scikit-learn user guide (*Model evaluation*: `confusion_matrix`,
# `precision_recall_fscore_support`, `classification_report`), and the d2l.ai chapters on model selection,
# underfitting and overfitting.

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score

from freezelab.data import loaders, target_task
from freezelab.device import describe_device, pick_device, seed_everything
from freezelab.evaluation import (
    confusion_counts,
    feature_task,
    fraud_data,
    fraud_models,
    labels_from_counts,
    leakage_study,
    overfit_head,
)
from freezelab.lessons.l08_evaluation import FRAUD_SEED, LEAKAGE, MORE_LABELS, OVERFIT, TASK
from freezelab.quiz import flashcards, show
from freezelab.training import evaluate, plot_confusion, plot_history

device = pick_device()
seed_everything(0)
print(describe_device())

# %% [markdown]
# ## 1. Watch validation, not training
#
# Every experiment below trains a new head on **frozen** features of the course backbone (pretrained on
# digits 0-4), for the target task "digits 5-9". Because the backbone is frozen, we compute its features
# once (the caching trick from lesson 7) and all the training in this lesson takes seconds.

# %%
features = feature_task(target_task(TASK), device=device)
print(features)

# %% [markdown]
# **Commit to your answer:** a linear head (64 x 5 weights + 5 biases = 325 numbers) is trained on only
# **2 labelled images per class**, for 40 epochs. What will its training accuracy be at the end? Its
# validation accuracy? Will the validation loss keep going down?

# %%
show(ids=["ev-predict-overfit"])

# %%
print("settings (freezelab.lessons.l08_evaluation):", OVERFIT)
head_2, history = overfit_head(features, **OVERFIT)
plot_history(history, title="head, 2 labels per class")
plt.show()
best = int(np.argmin(history.val_loss))
print(f"final train accuracy {history.train_acc[-1]:.2f}, final validation accuracy "
      f"{history.val_acc[-1]:.2f}")
print(f"validation loss was lowest after epoch {best + 1} and then rose from "
      f"{history.val_loss[best]:.2f} to {history.val_loss[-1]:.2f}")

# %% [markdown]
# The head memorised its ten training images (training accuracy 1.0) while validation accuracy stayed
# far lower, and the validation loss turned upwards after a few epochs: the head became *more confident*
# about wrong answers. That is overfitting, and the training curve alone would never show it.
#
# Good signs after freezing: validation loss falls and then flattens, validation accuracy climbs and
# stays. Bad signs: a growing gap between train and validation, validation loss rising. The cures for
# overfitting are more labels, augmentation, fewer epochs (early stopping) or regularisation. Whether to
# unfreeze more layers is a separate question: more trainable parameters memorise the training images
# faster, yet they can still generalise better, so compare validation accuracy with and without (lesson 4
# does, with few labels).
#
# With ten times more labels, the gap shrinks:

# %%
head_20, more = overfit_head(features, **MORE_LABELS)
gap_2 = history.train_acc[-1] - history.val_acc[-1]
gap_20 = more.train_acc[-1] - more.val_acc[-1]
print(f"train-minus-validation gap: {gap_2:.2f} with 2 labels per class, {gap_20:.2f} with 20")

# %% [markdown]
# ## 2. The confusion matrix
#
# Accuracy is one number; the confusion matrix shows *which* classes get confused. Rows are the true
# class, columns the prediction (scikit-learn's convention). Here is the head trained on 20 labels per
# class, evaluated on the validation split with `freezelab.training.evaluate`.

# %%
val_loader = loaders(features)["val"]
evaluation = evaluate(head_20, val_loader, class_names=features.classes, device="cpu")
plot_confusion(evaluation)
plt.show()
print(evaluation.report())

# %% [markdown]
# Each row of the report comes from one row and one column of the matrix. For class *c*:
# **precision** = (correct predictions of *c*) / (all predictions of *c*, a column);
# **recall** = (correct predictions of *c*) / (all true *c*, a row);
# **F1** = their harmonic mean, which is high only when both are.
#
# ## 3. Precision, recall and F1 by hand
#
# A binary example, of the kind interview questions use: after freezing some layers, a classifier is
# tested on 100 positive and 100 negative cases.
#
# |                 | predicted positive | predicted negative |
# |-----------------|-------------------:|-------------------:|
# | actual positive | TP = 85            | FN = 15            |
# | actual negative | FP = 10            | TN = 90            |
#
# **Commit to your answer:** compute precision, recall and F1 on paper first.

# %%
show(ids=["ev-predict-prf"])

# %% tags=["check-output"]
tp, fn, fp, tn = 85, 15, 10, 90
precision = tp / (tp + fp)   # of everything flagged positive, how much was right
recall = tp / (tp + fn)      # of all real positives, how many were found
f1 = 2 * precision * recall / (precision + recall)
print(f"precision = 85 / 95  = {precision:.3f}")
print(f"recall    = 85 / 100 = {recall:.3f}")
print(f"F1        = {f1:.3f}")
print(f"accuracy  = 175 / 200 = {(tp + tn) / (tp + fn + fp + tn):.3f}")

# %% [markdown]
# Now the same with scikit-learn. We rebuild 200 labels that produce exactly this matrix. Note the
# layout: scikit-learn orders labels 0, 1, so its matrix is `[[TN, FP], [FN, TP]]`, the mirror image of
# the table above. Always check which corner is which before reading a confusion matrix.

# %% tags=["check-output"]
y_true, y_pred = labels_from_counts(tp, fn, fp, tn)
print(confusion_matrix(y_true, y_pred))
by_sklearn = (precision_score(y_true, y_pred), recall_score(y_true, y_pred), f1_score(y_true, y_pred))
print("scikit-learn agrees:", np.allclose(by_sklearn, (precision, recall, f1)))
print("package helper agrees:", np.isclose(confusion_counts(tp, fn, fp, tn)["f1"], f1))

# %% [markdown]
# Two corrections to the way this example is often told:
#
# - The matrix says how good the model is, not *why*. Whether freezing "kept precision high" can only be
#   answered by comparing with a model that was not frozen, on the same data.
# - "Validation loss went down, so freezing helps" is the same mistake: it needs a baseline too.
#   Lesson 4 runs exactly that comparison.
#
# ## 4. The accuracy paradox
#
# A fraud-like task: 6,000 transactions, about 2% fraudulent, generated offline with
# `sklearn.datasets.make_classification(weights=[0.98, 0.02])`.
#
# **Commit to your answer:** a "model" that calls *every* transaction legitimate. What is its accuracy?

# %%
show(ids=["ev-predict-always-legit"])

# %% tags=["check-output"]
x_train, x_test, y_train, y_test = fraud_data(seed=0)
print(f"test transactions: {len(y_test)}, fraudulent: {int(y_test.sum())}")
print(f"accuracy of 'always legit': {np.mean(y_test == 0):.3f}")

# %%
scores = fraud_models(seed=FRAUD_SEED)
print(f"{'model':<19} accuracy  precision  recall    F1")
for name, s in scores.items():
    print(f"{name:<19} {s['accuracy']:8.3f} {s['precision']:10.3f} {s['recall']:7.3f} {s['f1']:6.3f}")

# %% [markdown]
# The do-nothing baseline scores about 98% and catches no fraud at all. A plain logistic regression is
# barely better on accuracy and still misses most fraud (look at its recall). Re-weighting the classes
# (`class_weight="balanced"`) finds most of the fraud, at the price of many false alarms, so its
# *accuracy drops*, even though it is the far more useful model.
#
# So the interview question "98% accuracy but 12% recall on fraud: ready for production?" has a short
# answer: **no**. On imbalanced data, accuracy mostly measures the majority class; report recall and
# precision (or F1, or precision-recall curves) for the rare class, and choose the threshold with the
# business cost of a missed fraud versus a false alarm in mind.
#
# ## 5. Leakage: tuning on the test set
#
# The test set is for the *final* number. If you compare settings on it and keep the best, the number
# you report was selected *because it was high*, partly by luck.
#
# The experiment: for each of 8 few-shot draws (3 labels per class), fit 20 candidate models on the
# frozen features (ridge classifiers with 4 regularisation strengths, each on 5 random halves of the
# features, standing in for "20 settings I tried"), then pick one either by **test** accuracy or by
# **validation** accuracy. The test split is cut: 100 images are "the test set", the other 258 stand in
# for fresh data from production that no one looked at.

# %%
leaks = leakage_study(features, **LEAKAGE)
optimism_test = np.mean([r.test_selected_reported - r.test_selected_fresh for r in leaks])
optimism_val = np.mean([r.val_selected_reported - r.val_selected_fresh for r in leaks])
print(f"picked on test: reported {np.mean([r.test_selected_reported for r in leaks]):.3f}, "
      f"fresh data {np.mean([r.test_selected_fresh for r in leaks]):.3f}, optimism {optimism_test:+.3f}")
print(f"picked on val:  reported {np.mean([r.val_selected_reported for r in leaks]):.3f}, "
      f"fresh data {np.mean([r.val_selected_fresh for r in leaks]):.3f}, optimism {optimism_val:+.3f}")

fig, ax = plt.subplots(figsize=(5, 2.6))
ax.bar([0, 1], [optimism_test, optimism_val], color=["tab:red", "tab:green"])
ax.set(xticks=[0, 1], xticklabels=["selected on test", "selected on validation"],
       ylabel="reported minus fresh accuracy", title="optimism of the reported score")
ax.axhline(0, color="black", linewidth=0.8)
plt.show()

# %% [markdown]
# Selecting on the test set reported a higher score than it delivered on fresh data, and it was more
# optimistic than selecting on validation (the numbers above). The fix is a discipline, not a formula:
# choose epochs, learning rates, which layers to freeze, everything, on the validation split; touch the
# test split once. With very little data, use cross-validation for the choices instead.
#
# Other common leaks: normalising with statistics computed on all data (our `freezelab.data` computes
# them on the source training split only), duplicates shared between splits, and pretraining on data that
# contains the test images.

# %% [markdown]
# ## Check yourself

# %%
show(topic="evaluation", difficulty="easy")

# %%
show(topic="evaluation", difficulty=["medium", "hard"])

# %% [markdown]
# ## Flashcards

# %%
flashcards(topic="evaluation")
