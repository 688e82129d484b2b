"""How learners get a3_finetuning_workflow wrong (frozen BatchNorm, unfreezing, schedules, the two-phase run):
one `Mistake` per misconception."""

from ..records import Mistake

MISTAKES = [
    # BatchNorm, unfreezing, schedules, the two-phase run
    Mistake(id="a3-bn-model-eval", name="set_frozen_bn_eval",
            misconception="model.eval() is the way to protect frozen BatchNorm (it also switches off dropout and trainable BN)",
            code="""
        def set_frozen_bn_eval(model):
            return model.eval()
    """),
    Mistake(id="a3-bn-freeze-params", name="set_frozen_bn_eval",
            misconception="requires_grad=False also stops BatchNorm statistics (running mean/var are buffers and keep updating)",
            code="""
        def set_frozen_bn_eval(model):
            for m in model.modules():
                if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    m.requires_grad_(False)
            return model
    """),
    Mistake(id="a3-bn-all-eval", name="set_frozen_bn_eval",
            misconception="every BatchNorm should be in eval mode during fine-tuning (trainable ones then never adapt)",
            code="""
        def set_frozen_bn_eval(model):
            for m in model.modules():
                if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                    m.eval()
            return model
    """),
    Mistake(id="a3-bn-2d-only", name="set_frozen_bn_eval",
            misconception="BatchNorm means BatchNorm2d (BatchNorm1d layers in MLP heads are missed)",
            code="""
        def set_frozen_bn_eval(model):
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters()):
                    m.eval()
            return model
    """),
    Mistake(id="a3-bn-weight-only", name="set_frozen_bn_eval",
            misconception="a BatchNorm is frozen when its weight is (its bias may still be training)",
            code="""
        def set_frozen_bn_eval(model):
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.weight.requires_grad:
                    m.eval()
            return model
    """),
    Mistake(id="a3-eval-every-frozen-module", name="set_frozen_bn_eval",
            misconception="any module without trainable parameters can go to eval mode (dropout has none and is switched off)",
            code="""
        def set_frozen_bn_eval(model):
            for m in model.modules():
                if not any(p.requires_grad for p in m.parameters()):
                    m.eval()
            return model
    """),
    Mistake(id="a3-unfreeze-only", name="unfreeze_and_add",
            misconception="setting requires_grad=True is enough (an optimizer built earlier never sees the new parameters)",
            code="""
        def unfreeze_and_add(model, optimizer, name, lr):
            model.get_submodule(name).requires_grad_(True)
    """),
    Mistake(id="a3-new-optimizer", name="unfreeze_and_add",
            misconception="rebuilding the optimizer inside the function updates the caller's one (it is a new local object)",
            code="""
        def unfreeze_and_add(model, optimizer, name, lr):
            model.get_submodule(name).requires_grad_(True)
            optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    """),
    Mistake(id="a3-add-all-params", name="unfreeze_and_add",
            misconception="adding model.parameters() as the new group is simplest (parameters already held end up twice)",
            code="""
        def unfreeze_and_add(model, optimizer, name, lr):
            model.get_submodule(name).requires_grad_(True)
            optimizer.add_param_group({"params": [p for p in model.parameters() if p.requires_grad], "lr": lr})
    """),
    Mistake(id="a3-group-without-lr", name="unfreeze_and_add",
            misconception="a new param group picks the right learning rate by itself (it takes the optimizer's default)",
            code="""
        def unfreeze_and_add(model, optimizer, name, lr):
            module = model.get_submodule(name)
            held = {id(p) for g in optimizer.param_groups for p in g["params"]}
            module.requires_grad_(True)
            new = [p for p in module.parameters() if id(p) not in held]
            if new:
                optimizer.add_param_group({"params": new})
    """),
    Mistake(id="a3-append-group-dict", name="unfreeze_and_add",
            misconception="a param group is just a dict to append to optimizer.param_groups (it lacks the optimizer's defaults)",
            code="""
        def unfreeze_and_add(model, optimizer, name, lr):
            module = model.get_submodule(name)
            module.requires_grad_(True)
            held = {id(p) for g in optimizer.param_groups for p in g["params"]}
            new = [p for p in module.parameters() if id(p) not in held]
            if new:
                optimizer.param_groups.append({"params": new, "lr": lr})
    """),
    Mistake(id="a3-add-without-unfreezing", name="unfreeze_and_add",
            misconception="adding parameters to the optimizer unfreezes them (they still get no gradient)",
            code="""
        def unfreeze_and_add(model, optimizer, name, lr):
            params = list(model.get_submodule(name).parameters())
            held = {id(p) for g in optimizer.param_groups for p in g["params"]}
            new = [p for p in params if id(p) not in held]
            if new:
                optimizer.add_param_group({"params": new, "lr": lr})
    """),
    Mistake(id="a3-schedule-bn-once", name="gradual_unfreezer",
            misconception="frozen BatchNorm set to eval once stays in eval (model.train() at every epoch resets it)",
            code="""
        def gradual_unfreezer(optimizer, schedule, lr):
            def before_epoch(model, epoch):
                if epoch in schedule:
                    unfreeze_and_add(model, optimizer, schedule[epoch], lr)
                if epoch == 0:
                    set_frozen_bn_eval(model)
            return before_epoch
    """),
    Mistake(id="a3-schedule-from-epoch", name="gradual_unfreezer",
            misconception="the schedule's epochs are counted from 1 (off by one: every block unfreezes an epoch late)",
            code="""
        def gradual_unfreezer(optimizer, schedule, lr):
            def before_epoch(model, epoch):
                if epoch - 1 in schedule:
                    unfreeze_and_add(model, optimizer, schedule[epoch - 1], lr)
                set_frozen_bn_eval(model)
            return before_epoch
    """),
    Mistake(id="a3-schedule-all-at-once", name="gradual_unfreezer",
            misconception="gradual unfreezing can unfreeze every scheduled block at the start (that is plain fine-tuning)",
            code="""
        def gradual_unfreezer(optimizer, schedule, lr):
            def before_epoch(model, epoch):
                if epoch == 0:
                    for name in schedule.values():
                        unfreeze_and_add(model, optimizer, name, lr)
                set_frozen_bn_eval(model)
            return before_epoch
    """),
    Mistake(id="a3-two-phase-bn-train", name="two_phase_finetune",
            misconception="frozen layers stay identical in train mode (their BatchNorm statistics drift)",
            code="""
        def two_phase_finetune(model, train_loader, head_epochs=3, finetune_epochs=3, head_lr=0.05,
                               finetune_lr=0.01):
            model.requires_grad_(False)
            model.fc.requires_grad_(True)
            optimizer = torch.optim.SGD(model.fc.parameters(), lr=head_lr, momentum=0.9)
            for epoch in range(head_epochs + finetune_epochs):
                if epoch == head_epochs:
                    unfreeze_and_add(model, optimizer, "layer3", finetune_lr)
                model.train()
                for x, y in train_loader:
                    optimizer.zero_grad()
                    nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
            return model.eval()
    """),
    Mistake(id="a3-two-phase-optimizer-too-early", name="two_phase_finetune",
            misconception="unfreezing layer3 is enough for phase 2 (the optimizer built in phase 1 never updates it)",
            code="""
        def two_phase_finetune(model, train_loader, head_epochs=3, finetune_epochs=3, head_lr=0.05,
                               finetune_lr=0.01):
            model.requires_grad_(False)
            model.fc.requires_grad_(True)
            optimizer = torch.optim.SGD(model.fc.parameters(), lr=head_lr, momentum=0.9)
            for epoch in range(head_epochs + finetune_epochs):
                if epoch == head_epochs:
                    model.layer3.requires_grad_(True)
                model.train()
                set_frozen_bn_eval(model)
                for x, y in train_loader:
                    optimizer.zero_grad()
                    nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
            return model.eval()
    """),
    Mistake(id="a3-two-phase-new-optimizer", name="two_phase_finetune",
            misconception="phase 2 needs a new optimizer over the head and layer3 (the head's momentum is thrown away)",
            code="""
        def two_phase_finetune(model, train_loader, head_epochs=3, finetune_epochs=3, head_lr=0.05,
                               finetune_lr=0.01):
            model.requires_grad_(False)
            model.fc.requires_grad_(True)
            optimizer = torch.optim.SGD(model.fc.parameters(), lr=head_lr, momentum=0.9)
            for epoch in range(head_epochs + finetune_epochs):
                if epoch == head_epochs:
                    model.layer3.requires_grad_(True)
                    optimizer = torch.optim.SGD([
                        {"params": model.fc.parameters()},
                        {"params": model.layer3.parameters(), "lr": finetune_lr}], lr=head_lr, momentum=0.9)
                model.train()
                set_frozen_bn_eval(model)
                for x, y in train_loader:
                    optimizer.zero_grad()
                    nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
            return model.eval()
    """),
    Mistake(id="a3-two-phase-layer3-head-lr", name="two_phase_finetune",
            misconception="the unfrozen block learns at the head's rate (pretrained layers need the smaller finetune_lr)",
            code="""
        def two_phase_finetune(model, train_loader, head_epochs=3, finetune_epochs=3, head_lr=0.05,
                               finetune_lr=0.01):
            model.requires_grad_(False)
            model.fc.requires_grad_(True)
            optimizer = torch.optim.SGD(model.fc.parameters(), lr=head_lr, momentum=0.9)
            for epoch in range(head_epochs + finetune_epochs):
                if epoch == head_epochs:
                    unfreeze_and_add(model, optimizer, "layer3", head_lr)
                model.train()
                set_frozen_bn_eval(model)
                for x, y in train_loader:
                    optimizer.zero_grad()
                    nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
            return model.eval()
    """),
    Mistake(id="a3-two-phase-unfreeze-all", name="two_phase_finetune",
            misconception="phase 2 means unfreezing the whole network (the early layers were meant to stay frozen)",
            code="""
        def two_phase_finetune(model, train_loader, head_epochs=3, finetune_epochs=3, head_lr=0.05,
                               finetune_lr=0.01):
            model.requires_grad_(False)
            model.fc.requires_grad_(True)
            optimizer = torch.optim.SGD(model.fc.parameters(), lr=head_lr, momentum=0.9)
            for epoch in range(head_epochs + finetune_epochs):
                if epoch == head_epochs:
                    for name in ("conv1", "bn1", "layer1", "layer2", "layer3"):
                        unfreeze_and_add(model, optimizer, name, finetune_lr)
                model.train()
                set_frozen_bn_eval(model)
                for x, y in train_loader:
                    optimizer.zero_grad()
                    nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
            return model.eval()
    """),
    Mistake(id="a3-two-phase-no-freezing", name="two_phase_finetune",
            misconception="a small learning rate alone protects the pretrained layers (without freezing they all drift)",
            code="""
        def two_phase_finetune(model, train_loader, head_epochs=3, finetune_epochs=3, head_lr=0.05,
                               finetune_lr=0.01):
            optimizer = torch.optim.SGD(model.parameters(), lr=finetune_lr, momentum=0.9)
            for epoch in range(head_epochs + finetune_epochs):
                model.train()
                for x, y in train_loader:
                    optimizer.zero_grad()
                    nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
            return model.eval()
    """),
    Mistake(id="a3-two-phase-stale-momentum", name="two_phase_finetune",
            misconception="freezing a layer that already has momentum stops it (zero grads + momentum keep moving it)",
            code="""
        def two_phase_finetune(model, train_loader, head_epochs=3, finetune_epochs=3, head_lr=0.05,
                               finetune_lr=0.01):
            optimizer = torch.optim.SGD(model.parameters(), lr=head_lr, momentum=0.9)
            model.train()
            for x, y in train_loader:  # a warm-up step with everything trainable
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
                break
            model.requires_grad_(False)
            model.fc.requires_grad_(True)
            model.layer3.requires_grad_(True)
            for epoch in range(head_epochs + finetune_epochs):
                model.train()
                set_frozen_bn_eval(model)
                for x, y in train_loader:
                    optimizer.zero_grad(set_to_none=False)
                    nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
            return model.eval()
    """),
]
