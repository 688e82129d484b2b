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
# # Start here — freezing layers in PyTorch
#
# Welcome. This course teaches one idea in depth: **freezing** parts of a neural network so that
# training changes only the parts you choose — what PyTorch actually does when you freeze, how to count
# what trains, which layers to freeze for which task, and the mistakes that make a "frozen" model move
# anyway.
#
# Everything runs here, in JupyterLab, offline: the data are scikit-learn's bundled handwritten digits
# and the pretrained network is a small ResNet shipped with the course. Each lesson runs top to bottom
# in well under a minute on a laptop CPU, and uses your GPU (CUDA or Apple MPS) when there is one.
#
# Run each cell with **Shift+Enter**. Start with the one below: it checks your set-up.

# %%
import torch

from freezelab.device import describe_device, pick_device, seed_everything

device = pick_device()
seed_everything(0)
print(describe_device())

# %% [markdown]
# ## Your device
#
# The line above says which device the lessons will use. `pick_device()` prefers CUDA, then Apple's MPS,
# then the CPU. To force one (say, to compare speeds in lesson 7), set the environment variable
# `FREEZELAB_DEVICE=cpu` (or `cuda`, `mps`) before starting JupyterLab. In a terminal,
# `freezelab doctor` checks the whole installation.

# %%
print("PyTorch", torch.__version__)
print("CUDA available:", torch.cuda.is_available())
print("MPS available: ", bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()))
print("CPU threads:   ", torch.get_num_threads())

# %% [markdown]
# ## The lessons
#
# | # | lesson | you will be able to |
# |---|---|---|
# | 0 | [Start here](00_start_here.ipynb) | find your way around, check your device |
# | 1 | [Parameters and `requires_grad`](01_requires_grad.ipynb) | freeze in one line; say what autograd does for a frozen tensor |
# | 2 | [Counting parameters](02_counting.ipynb) | count tensors vs elements, trainable / total, tied and lazy weights |
# | 3 | [Freezing strategies](03_strategies.ipynb) | freeze by name, partially, unfreeze, replace heads, build the optimizer |
# | 4 | [Transfer learning, measured](04_transfer.ipynb) | compare scratch, linear probe, one tuned block, full fine-tuning and LP-FT, fairly |
# | 5 | [Fine-tuning recipes](05_workflows.ipynb) | two-phase training, gradual unfreezing, layer-wise learning rates |
# | 6 | [Pitfalls](06_pitfalls.ipynb) | recognise and fix BatchNorm drift, stale optimizers, zero-grad drift |
# | 7 | [Speed and memory](07_speed.ipynb) | measure what freezing saves; cache a frozen backbone's features |
# | 8 | [Evaluating a fine-tuned model](08_evaluation.ipynb) | read curves, confusion matrices, precision / recall / F1 |
# | 9 | [Beyond freezing](09_peft.ipynb) | train only biases (BitFit) or a LoRA adapter |
# | 10 | [Cheat sheet and interview questions](10_cheat_sheet.ipynb) | revise everything; mixed quiz; full flashcard deck |
# | 11 | [Freezing in real training code](11_real_training.ipynb) | optimizer state, checkpoints, DDP, `torch.compile`, mixed precision, PEFT; `freezelab.audit` |
#
# Lessons 1–3 are the foundation; after them, 4–9 and 11 can be read in any order. Lesson 10 is for
# revision.

# %% [markdown]
# ## How to learn with these notebooks
#
# | mode | where | how to use it |
# |---|---|---|
# | **Commit to your answer** | every lesson, before a reveal | pick or write your prediction in the widget and lock it in; only then does it show the answer, and the next cell checks it. Being wrong first is what makes it stick |
# | **Quizzes** | "Check yourself" sections | easy / medium / hard; every option, right or wrong, explains *why* |
# | **What does this print?** | inside the quizzes | read the code, predict the output; the answers are verified by running the code |
# | **Explain in your own words** | free-response quiz items | write a few sentences, then compare with the checklist of concepts |
# | **Flashcards** | end of each lesson; the full deck in lesson 10 | recall the answer, then flip |
# | **Cheat sheet** | lesson 10 | one page of snippets and tables for quick revision |
# | **Assignments** | from your instructor (nbgrader) | graded exercises; run `freezelab check ASSIGNMENT.ipynb` in a terminal before you submit — it runs the public tests and says what passes |
#
# Your quiz answers are saved on this machine, so `progress_overview()` below fills up as you go.

# %% [markdown]
# ## The data and the pretrained network
#
# The course backbone was pre-trained on handwritten digits **0–4**, drawn as light strokes on a dark
# background. The lessons then transfer it to three *target* tasks with only a handful of labels each:
#
# - `new_digits` — digits 5–9: new classes, the same kind of images;
# - `inverted` — unseen digits 0–4 with ink and paper swapped: dark strokes on a light background;
# - `noisy` — unseen digits 0–4, blurred and covered in pixel noise.

# %% tags=["check-output"]
from freezelab.backbones import checkpoint_info, load_pretrained
from freezelab.data import TARGET_TASKS, source_task, target_task

print(source_task())
for name in TARGET_TASKS:
    print(target_task(name))
print("backbone pre-trained on:", checkpoint_info()["source_task"])
print("backbone parameters:", sum(p.numel() for p in load_pretrained().parameters()))

# %%
import matplotlib.pyplot as plt

tasks = [source_task()] + [target_task(name) for name in TARGET_TASKS]
fig, axes = plt.subplots(len(tasks), 8, figsize=(8, 4.4))
for row, task in zip(axes, tasks, strict=True):
    for i, ax in enumerate(row):
        ax.imshow(task.x_train[i, 0], cmap="gray")
        ax.set_title(task.classes[int(task.y_train[i])], fontsize=8)
        ax.axis("off")
    row[0].text(-4, 8, task.name, ha="right", va="center", fontsize=9)
fig.suptitle("8 training images from each task (16x16 pixels)", fontsize=10)
plt.show()

# %% [markdown]
# **Commit to your answer:** a network that knows digits 0–4 well is adapted to each target task with 10
# labels per class. On which task will it end up *least* accurate? Lock in your answer below, then read
# what the course's runs measured (lesson 4 shows how such comparisons are run).

# %%
from freezelab.quiz import show

show(ids=["course-predict-hardest-task"])

# %% [markdown]
# ## Your progress
#
# Run this cell any time to see how many quiz items you have answered per topic.

# %%
from freezelab.quiz import flashcards, progress_overview

progress_overview()

# %% [markdown]
# ## A first quiz
#
# Try one now, to see how quizzes work: pick an answer, read the explanation, retry if you like.

# %%
show(topic="course")

# %% [markdown]
# ## Flashcards
#
# Flip a card when you have your answer ready. Decks come back at the end of every lesson.

# %%
flashcards(topic="course")

# %% [markdown]
# Ready? Open **[lesson 1: parameters and `requires_grad`](01_requires_grad.ipynb)**.
