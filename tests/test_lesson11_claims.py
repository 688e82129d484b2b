"""The claims of lesson 11 (freezing in real training code), re-checked beyond the lesson's one example.

The lesson's goldens pin its own cells; these tests check that each rule it teaches holds on other seeds,
other models and other optimizers too. If one fails, the lesson's prose is no longer true: change the
text, never just the test.
"""

from __future__ import annotations

import os
import warnings

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from freezelab import audit, ddp_freeze
from freezelab.backbones import TinyResNet, load_pretrained
from freezelab.peft import LoRALinear

pytestmark = pytest.mark.usefixtures("one_thread")


def loss_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).pow(2).mean()


# --- section 1: optimizer state --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rebuilt_adam_moves_every_weight_by_lr_add_param_group_does_not(seed):
    x = torch.randn(32, 1, 16, 16, generator=torch.Generator().manual_seed(seed))
    moved_by_lr = {}
    for rebuild in (False, True):
        model = load_pretrained().eval().requires_grad_(False)
        model.fc.requires_grad_(True)
        optimizer = torch.optim.Adam(model.fc.parameters(), lr=1e-3)
        for _ in range(3):
            optimizer.zero_grad()
            loss_of(model, x).backward()
            optimizer.step()
        model.layer3.requires_grad_(True)
        if rebuild:
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        else:
            optimizer.add_param_group({"params": model.layer3.parameters()})
        assert audit(model, optimizer).ok
        before = model.fc.weight.detach().clone()
        optimizer.zero_grad()
        loss_of(model, x).backward()
        optimizer.step()
        delta = (model.fc.weight - before).abs()
        # |update| = lr * |g| / (|g| + eps): within 5% of lr unless a gradient is below ~2e-7
        moved_by_lr[rebuild] = torch.allclose(delta, torch.full_like(delta, 1e-3), rtol=0.05)
        assert int(optimizer.state[model.fc.weight]["step"]) == (1 if rebuild else 4)
    assert moved_by_lr == {False: False, True: True}


def test_a_scheduler_keeps_the_optimizer_it_was_built_with():
    layer = nn.Linear(2, 1)
    old = torch.optim.SGD(layer.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(old, step_size=1, gamma=0.5)
    new = torch.optim.SGD(layer.parameters(), lr=1.0)
    new.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler.step()
    assert scheduler.optimizer is old and new.param_groups[0]["lr"] == 1.0 and old.param_groups[0]["lr"] == 0.5


# --- section 2: saving what changed ----------------------------------------------------------------------

@pytest.mark.parametrize("task_seed", [0, 1])
def test_bitfit_changes_bn_buffers_and_only_the_full_difference_reproduces_it(task_seed):
    x = torch.randn(16, 1, 16, 16, generator=torch.Generator().manual_seed(task_seed)) + 1.0
    model = load_pretrained().train()
    for name, p in model.named_parameters():
        p.requires_grad_(name.endswith("bias"))
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    for _ in range(2):
        optimizer.zero_grad()
        loss_of(model, x).backward()
        optimizer.step()
    model.eval()
    reference = load_pretrained().state_dict()
    changed = {k: v for k, v in model.state_dict().items() if not torch.equal(v, reference[k])}
    buffers = {k for k in changed if "running_" in k or "num_batches" in k}
    assert buffers and set(changed) - buffers == {n for n, p in model.named_parameters() if p.requires_grad}
    only_trainable = load_pretrained().eval()
    only_trainable.load_state_dict({k: changed[k] for k in set(changed) - buffers}, strict=False)
    everything = load_pretrained().eval()
    keys = everything.load_state_dict(changed, strict=False)
    assert not keys.unexpected_keys
    with torch.no_grad():
        assert not torch.allclose(only_trainable(x), model(x))
        assert torch.equal(everything(x), model(x))


# --- section 3: checkpointing after a frozen prefix ------------------------------------------------------

@pytest.mark.parametrize("use_reentrant, block_trains", [(True, False), (False, True)])
def test_reentrant_checkpoint_after_a_frozen_prefix_drops_the_block(use_reentrant, block_trains):
    torch.manual_seed(0)
    prefix, block, head = (nn.Sequential(nn.Linear(6, 6), nn.Tanh()).requires_grad_(False),
                           nn.Sequential(nn.Linear(6, 6), nn.GELU()), nn.Linear(6, 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        head(checkpoint(block, prefix(torch.randn(5, 6)), use_reentrant=use_reentrant)).sum().backward()
    assert (block[0].weight.grad is not None) is block_trains
    assert head.weight.grad is not None  # the loss still trains the rest: nothing looks broken
    assert bool(caught) is not block_trains


def test_reentrant_checkpoint_trains_when_the_input_requires_grad():
    block = nn.Linear(3, 3)
    x = torch.randn(2, 3).requires_grad_(True)  # what enable_input_require_grads does
    checkpoint(block, x, use_reentrant=True).sum().backward()
    assert block.weight.grad is not None


# --- section 4: DDP and FSDP, two real processes ----------------------------------------------------------

@pytest.mark.slow
def test_ddp_and_fsdp_freeze_order_on_two_processes():
    r = ddp_freeze.run()
    before = r["freeze before wrapping"]
    assert before["error"] is None and not before["layer0 moved"] and before["head in sync"]
    assert before["audit"] == []
    after = r["freeze after wrapping"]
    assert after["steps"] == 1 and "find_unused_parameters" in after["error"]
    unfrozen = r["unfreeze after wrapping"]
    assert unfrozen["error"] is None and unfrozen["layer0 moved"]
    assert not unfrozen["layer0 in sync"] and unfrozen["head in sync"]
    found = r["freeze after wrapping, find_unused"]
    assert found["error"] is None and not found["layer0 moved"] and found["head in sync"]
    assert found["audit"] == []  # frozen after wrapping is handled when DDP looks for unused parameters
    assert after["audit"] == unfrozen["audit"] == ["ddp-changed-after-wrap"]
    gradual = r["wrap all, freeze, unfreeze, find_unused"]
    assert gradual["error"] is None and gradual["steps"] == 2 * ddp_freeze.STEPS
    assert gradual["layer0 kept while frozen"] and gradual["layer0 moved"] and gradual["layer0 in sync"]
    assert r["FSDP one unit, mixed"]["steps"] == 0 and "requires_grad" in r["FSDP one unit, mixed"]["error"]
    assert r["FSDP frozen part in its own unit"] == {"steps": ddp_freeze.STEPS, "error": None}
    fsdp2 = r["FSDP2 fully_shard, mixed"]
    assert fsdp2["error"] is None and not fsdp2["layer0 moved"] and fsdp2["head in sync"]


# --- section 5: prefixes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("wrap, prefix", [(nn.DataParallel, "module."),
                                          (lambda m: torch.compile(m, backend="eager"), "_orig_mod.")])
def test_name_based_freezing_through_a_wrapper_freezes_everything(wrap, prefix):
    wrapped = wrap(TinyResNet())
    for name, p in wrapped.named_parameters():
        p.requires_grad_(name.startswith("fc"))
    assert sum(p.requires_grad for p in wrapped.parameters()) == 0
    state = wrapped.state_dict()
    assert all(k.startswith(prefix) for k in state)
    keys = TinyResNet().load_state_dict(state, strict=False)
    assert len(keys.unexpected_keys) == len(state)  # nothing loaded, no error


# --- section 6: torch.compile -------------------------------------------------------------------------------

def test_compile_recompiles_once_per_new_freeze_state():
    from torch._dynamo.testing import CompileCounter

    torch._dynamo.reset()
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    counter = CompileCounter()
    compiled = torch.compile(model, backend=counter)
    x = torch.randn(4, 5)
    counts = []
    for frozen in ([], [0], [0, 2], [0], []):  # gradual freezing, then back
        for i in (0, 2, 4):
            model[i].requires_grad_(i not in frozen)
        compiled(x).sum().backward()
        counts.append(counter.frame_count)
    torch._dynamo.reset()
    assert counts == [1, 2, 3, 3, 3]


# --- section 7: memory -------------------------------------------------------------------------------------

def weight_bytes(model: nn.Module, use_autocast: bool) -> int:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_autocast):
        loss = model(torch.randn(4, 64)).float().pow(2).mean()
    loss.backward()
    optimizer.step()
    tensors = list(model.parameters()) + [p.grad for p in model.parameters() if p.grad is not None]
    tensors += [v for s in optimizer.state.values() for v in s.values() if v.dim() > 0]
    return sum(t.numel() * t.element_size() for t in tensors)


def test_weight_memory_is_16_bytes_per_trainable_and_the_storage_size_per_frozen_number():
    def base(dtype=torch.float32):
        return nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 64)).to(dtype)

    n_base = 2 * (64 * 64 + 64)
    n_lora = 2 * 8 * (64 + 64)
    full = weight_bytes(base(), False)
    assert full == weight_bytes(base(), True) == 16 * n_base  # autocast changes no stored bytes
    lora32 = weight_bytes(nn.Sequential(*[LoRALinear(m, r=8) for m in base()]), False)
    lora16 = weight_bytes(nn.Sequential(*[LoRALinear(m, r=8) for m in base(torch.bfloat16)]), True)
    assert lora32 == 4 * n_base + 16 * n_lora and lora16 == 2 * n_base + 16 * n_lora


def test_bfloat16_rounds_away_a_small_update_float32_keeps_it():
    assert torch.tensor(1.0, dtype=torch.bfloat16) + 1e-3 == 1.0
    assert torch.tensor(1.0) + 1e-3 != 1.0


# --- section 8: PEFT ----------------------------------------------------------------------------------------

def test_peft_conventions_on_a_tiny_gpt2(tmp_path):
    peft = pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    config = transformers.GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2,
                                     num_labels=2, pad_token_id=0)

    def base():
        torch.manual_seed(0)
        return transformers.GPT2ForSequenceClassification(config).eval()

    tokens = torch.randint(1, 50, (3, 8), generator=torch.Generator().manual_seed(0))
    model = peft.get_peft_model(base(), peft.LoraConfig(r=2, lora_alpha=4, target_modules=["c_attn"],
                                                        modules_to_save=["score"], fan_in_fan_out=True))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n or ".modules_to_save." in n for n in trainable)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        optimizer.zero_grad()
        model(input_ids=tokens).logits.pow(2).mean().backward()
        optimizer.step()
    assert audit(model, optimizer).ok
    model.eval()
    with torch.no_grad():
        tuned = model(input_ids=tokens).logits
    model.save_pretrained(tmp_path)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(os.listdir(tmp_path))
    restored = peft.PeftModel.from_pretrained(base(), tmp_path).eval()
    merged = model.merge_and_unload()
    with torch.no_grad():
        assert torch.allclose(restored(input_ids=tokens).logits, tuned)
        assert torch.allclose(merged(input_ids=tokens).logits, tuned, atol=1e-5)
    assert not any("lora" in n for n, _ in merged.named_parameters())
