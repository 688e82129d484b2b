"""The wrong implementations behind `catalogue.MISTAKES`: (id, assignment, grade_id, misconception, code).

Each code string replaces one whole answer cell of the released notebook, exactly as a learner would write it.
"""

from __future__ import annotations

from textwrap import dedent

A1, A2, A3 = "a1_freezing_basics", "a2_transfer_setup", "a3_finetuning_workflow"


def _code(text: str) -> str:
    return dedent(text).strip("\n")


MISTAKE_CODE: list[tuple[str, str, str, str, str]] = [
    # ----------------------------------------------------------------------------------------------------
    # a1: freeze / unfreeze
    # ----------------------------------------------------------------------------------------------------
    ("a1-module-attribute", A1, "freeze_module",
     "setting requires_grad on the Module freezes it (it only adds a plain attribute)", _code("""
        def freeze_module(module):
            module.requires_grad = False
            return module
     """)),
    ("a1-grad-none", A1, "freeze_module",
     "clearing .grad freezes a parameter (the next backward fills it again)", _code("""
        def freeze_module(module):
            for p in module.parameters():
                p.grad = None
            return module
     """)),
    ("a1-no-grad-context", A1, "freeze_module",
     "torch.no_grad() freezes a module (it only disables graph building inside the block)", _code("""
        def freeze_module(module):
            with torch.no_grad():
                for p in module.parameters():
                    p.detach()
            return module
     """)),
    ("a1-eval-is-freezing", A1, "freeze_module",
     "model.eval() freezes the weights (it only switches dropout and BatchNorm behaviour)", _code("""
        def freeze_module(module):
            module.eval()
            return module
     """)),
    ("a1-freeze-also-eval", A1, "freeze_module",
     "a frozen module must also be put in eval mode (that silently switches off dropout)", _code("""
        def freeze_module(module):
            for p in module.parameters():
                p.requires_grad = False
            module.eval()
            return module
     """)),
    ("a1-weights-only", A1, "freeze_module",
     "only weights need freezing, biases do not matter", _code("""
        def freeze_module(module):
            for name, p in module.named_parameters():
                if name.endswith("weight"):
                    p.requires_grad = False
            return module
     """)),
    ("a1-direct-children-only", A1, "freeze_module",
     "looping over children() reaches every layer (nested blocks and the module's own parameters are missed)",
     _code("""
        def freeze_module(module):
            for child in module.children():
                for p in child.parameters(recurse=False):
                    p.requires_grad = False
            return module
     """)),
    ("a1-children-params-only", A1, "freeze_module",
     "freezing every child freezes the module (parameters the module holds itself are missed)", _code("""
        def freeze_module(module):
            for child in module.children():
                for p in child.parameters():
                    p.requires_grad = False
            return module
     """)),
    ("a1-unfreeze-with-train", A1, "unfreeze_module",
     "model.train() unfreezes a model (it only switches the mode back)", _code("""
        def unfreeze_module(module):
            module.train()
            return module
     """)),
    ("a1-unfreeze-no-return", A1, "unfreeze_module",
     "an in-place change needs no return value (callers that write `model = unfreeze_module(model)` get None)",
     _code("""
        def unfreeze_module(module):
            for p in module.parameters():
                p.requires_grad = True
     """)),
    ("a1-unfreeze-trainable-filter", A1, "unfreeze_module",
     "model.parameters() only yields trainable tensors, so filter on requires_grad (frozen ones are skipped)",
     _code("""
        def unfreeze_module(module):
            for p in filter(lambda p: p.requires_grad, module.parameters()):
                p.requires_grad = True
            return module
     """)),
    # ----------------------------------------------------------------------------------------------------
    # a1: counting
    # ----------------------------------------------------------------------------------------------------
    ("a1-count-tensors", A1, "count_parameters",
     "counting parameter tensors is counting parameters (a weight matrix holds many numbers)", _code("""
        def count_parameters(model, trainable_only=False):
            return sum(1 for p in model.parameters() if p.requires_grad or not trainable_only)
     """)),
    ("a1-count-shared-twice", A1, "count_parameters",
     "each layer's own parameters can be summed layer by layer (a tied weight is then counted twice)", _code("""
        def count_parameters(model, trainable_only=False):
            total = 0
            for m in model.modules():
                for p in m.parameters(recurse=False):
                    if p.requires_grad or not trainable_only:
                        total += p.numel()
            return total
     """)),
    ("a1-count-state-dict", A1, "count_parameters",
     "the state_dict lists the parameters (it also holds BatchNorm buffers and tied weights under two keys)",
     _code("""
        def count_parameters(model, trainable_only=False):
            if trainable_only:
                return sum(p.numel() for p in model.parameters() if p.requires_grad)
            return sum(t.numel() for t in model.state_dict().values())
     """)),
    ("a1-count-ignores-flag", A1, "count_parameters",
     "all parameters are trainable, so trainable_only changes nothing", _code("""
        def count_parameters(model, trainable_only=False):
            return sum(p.numel() for p in model.parameters())
     """)),
    ("a1-count-inverted-flag", A1, "count_parameters",
     "requires_grad=True marks a frozen parameter (it is the other way round)", _code("""
        def count_parameters(model, trainable_only=False):
            return sum(p.numel() for p in model.parameters() if not (trainable_only and p.requires_grad))
     """)),
    ("a1-count-first-dim", A1, "count_parameters",
     "a parameter's size is its first dimension (len(p)), not the product of its shape", _code("""
        def count_parameters(model, trainable_only=False):
            return sum(len(p) for p in model.parameters() if p.requires_grad or not trainable_only)
     """)),
    ("a1-count-tensor-result", A1, "count_parameters",
     "returning a tensor is as good as a number (it breaks formatting and comparisons downstream)", _code("""
        def count_parameters(model, trainable_only=False):
            sizes = [torch.tensor(p.numel()) for p in model.parameters() if p.requires_grad or not trainable_only]
            return torch.stack(sizes).sum()
     """)),
    # ----------------------------------------------------------------------------------------------------
    # a1: freezing by name
    # ----------------------------------------------------------------------------------------------------
    ("a1-name-prefix", A1, "freeze_by_name",
     "matching parameter names with startswith is safe ('layer1' also matches 'layer10'; typos are ignored)",
     _code("""
        def freeze_by_name(model, names):
            for n, p in model.named_parameters():
                if any(n.startswith(name) for name in names):
                    p.requires_grad = False
            return model
     """)),
    ("a1-name-silent", A1, "freeze_by_name",
     "an unknown name can be skipped silently (a typo then leaves layers training)", _code("""
        def freeze_by_name(model, names):
            modules = dict(model.named_modules())
            params = dict(model.named_parameters())
            for name in names:
                if name in modules:
                    modules[name].requires_grad_(False)
                elif name in params:
                    params[name].requires_grad_(False)
            return model
     """)),
    ("a1-name-half-frozen", A1, "freeze_by_name",
     "raising on the first unknown name is enough (the names before it are already frozen)", _code("""
        def freeze_by_name(model, names):
            modules = dict(model.named_modules())
            params = dict(model.named_parameters())
            for name in names:
                if name in modules:
                    modules[name].requires_grad_(False)
                elif name in params:
                    params[name].requires_grad_(False)
                else:
                    raise ValueError(f"unknown name {name}")
            return model
     """)),
    ("a1-name-getattr", A1, "freeze_by_name",
     "getattr(model, name) reaches any layer (it fails on dotted names such as 'block2.linear0')", _code("""
        def freeze_by_name(model, names):
            for name in names:
                if not hasattr(model, name):
                    raise ValueError(f"unknown name {name}")
            for name in names:
                target = getattr(model, name)
                if isinstance(target, nn.Parameter):
                    target.requires_grad = False
                else:
                    target.requires_grad_(False)
            return model
     """)),
    ("a1-name-modules-only", A1, "freeze_by_name",
     "only modules have names (parameter names such as 'fc.bias' are rejected)", _code("""
        def freeze_by_name(model, names):
            modules = dict(model.named_modules())
            for name in names:
                if name not in modules:
                    raise ValueError(f"unknown module {name}")
            for name in names:
                modules[name].requires_grad_(False)
            return model
     """)),
    # ----------------------------------------------------------------------------------------------------
    # a1: multiple choice
    # ----------------------------------------------------------------------------------------------------
    ("a1-q1-module-flag", A1, "ANSWER_Q1",
     "module.requires_grad = False freezes the module's parameters", 'ANSWER_Q1 = "a"'),
    ("a1-q2-tensor-count", A1, "ANSWER_Q2",
     "the trainable count is the number of trainable tensors", 'ANSWER_Q2 = "a"'),
    ("a1-q3-eval", A1, "ANSWER_Q3",
     "model.eval() keeps weights from changing", 'ANSWER_Q3 = "a"'),
    # ----------------------------------------------------------------------------------------------------
    # a2: heads and feature extractors
    # ----------------------------------------------------------------------------------------------------
    ("a2-replace-whole-classifier", A2, "replace_head",
     "the head of MobileNet/EfficientNet is `classifier` (it is classifier[-1]; the dropout before it is lost)",
     _code("""
        def replace_head(model, num_classes):
            if hasattr(model, "fc"):
                model.fc = nn.Linear(model.fc.in_features, num_classes)
            elif isinstance(model.classifier, nn.Linear):
                model.classifier = nn.Linear(model.classifier.in_features, num_classes)
            else:
                model.classifier = nn.Linear(model.classifier[-1].in_features, num_classes)
            return model
     """)),
    ("a2-fc-only", A2, "replace_head",
     "every torchvision model calls its head `fc` (only ResNet-like families do)", _code("""
        def replace_head(model, num_classes):
            model.fc = nn.Linear(model.fc.in_features, num_classes)
            return model
     """)),
    ("a2-head-no-bias", A2, "replace_head",
     "a classification head needs no bias (the old head had one; the new one silently drops it)", _code("""
        def replace_head(model, num_classes):
            head = getattr(model, "fc", None)
            classifier = getattr(model, "classifier", None)
            if isinstance(head, nn.Linear):
                model.fc = nn.Linear(head.in_features, num_classes, bias=False)
            elif isinstance(classifier, nn.Linear):
                model.classifier = nn.Linear(classifier.in_features, num_classes, bias=False)
            else:
                classifier[-1] = nn.Linear(classifier[-1].in_features, num_classes, bias=False)
            return model
     """)),
    ("a2-hardcoded-in-features", A2, "replace_head",
     "the feature size is always 512 (true for ResNet-18 only)", _code("""
        def replace_head(model, num_classes):
            if hasattr(model, "fc"):
                model.fc = nn.Linear(512, num_classes)
            elif isinstance(model.classifier, nn.Linear):
                model.classifier = nn.Linear(model.classifier.in_features, num_classes)
            else:
                model.classifier[-1] = nn.Linear(model.classifier[-1].in_features, num_classes)
            return model
     """)),
    ("a2-set-out-features", A2, "replace_head",
     "changing out_features resizes a layer (it only edits an attribute; the weight keeps its shape)", _code("""
        def replace_head(model, num_classes):
            if hasattr(model, "fc"):
                model.fc.out_features = num_classes
            elif isinstance(model.classifier, nn.Linear):
                model.classifier.out_features = num_classes
            else:
                model.classifier[-1].out_features = num_classes
            return model
     """)),
    ("a2-stack-on-old-head", A2, "replace_head",
     "a new head goes on top of the old 1000-class layer (the old layer should be replaced)", _code("""
        def replace_head(model, num_classes):
            if hasattr(model, "fc"):
                model.fc = nn.Sequential(model.fc, nn.Linear(model.fc.out_features, num_classes))
            elif isinstance(model.classifier, nn.Linear):
                old = model.classifier
                model.classifier = nn.Sequential(old, nn.Linear(old.out_features, num_classes))
            else:
                model.classifier.append(nn.Linear(model.classifier[-1].out_features, num_classes))
            return model
     """)),
    ("a2-freeze-after-new-head", A2, "feature_extractor",
     "freezing the whole model after attaching the head is fine (the new head is frozen too)", _code("""
        def feature_extractor(model, num_classes):
            model = replace_head(model, num_classes)
            for p in model.parameters():
                p.requires_grad = False
            return model
     """)),
    ("a2-backbone-is-features", A2, "feature_extractor",
     "every backbone is called `features` (ResNets have no such attribute; their layers stay trainable)",
     _code("""
        def feature_extractor(model, num_classes):
            if hasattr(model, "features"):
                model.features.requires_grad_(False)
            return replace_head(model, num_classes)
     """)),
    ("a2-eval-feature-extractor", A2, "feature_extractor",
     "model.eval() turns a network into a fixed feature extractor (the backbone still trains)", _code("""
        def feature_extractor(model, num_classes):
            model.eval()
            return replace_head(model, num_classes)
     """)),
    ("a2-freeze-by-weight-name", A2, "feature_extractor",
     "freezing parameters whose name contains 'weight' is enough (biases and BatchNorm shifts still train)",
     _code("""
        def feature_extractor(model, num_classes):
            for name, p in model.named_parameters():
                if "weight" in name:
                    p.requires_grad = False
            return replace_head(model, num_classes)
     """)),
    # ----------------------------------------------------------------------------------------------------
    # a2: optimizers and param groups
    # ----------------------------------------------------------------------------------------------------
    ("a2-optimizer-all-params", A2, "trainable_optimizer",
     "the optimizer can take model.parameters(): frozen ones are skipped anyway (not with stale grads or decay)",
     _code("""
        def trainable_optimizer(model, lr):
            return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
     """)),
    ("a2-optimizer-grad-filter", A2, "trainable_optimizer",
     "trainable parameters are the ones with a .grad (before the first backward none has one)", _code("""
        def trainable_optimizer(model, lr):
            params = [p for p in model.parameters() if p.grad is not None]
            return torch.optim.SGD(params or list(model.parameters()), lr=lr, momentum=0.9)
     """)),
    ("a2-optimizer-fixed-lr", A2, "trainable_optimizer",
     "one standard learning rate fits every fine-tuning run", _code("""
        def trainable_optimizer(model, lr):
            params = [p for p in model.parameters() if p.requires_grad]
            return torch.optim.SGD(params, lr=0.01, momentum=0.9)
     """)),
    ("a2-groups-reversed", A2, "layerwise_param_groups",
     "early layers need the largest learning rate (it is the other way round: they hold general features)",
     _code("""
        def layerwise_param_groups(model, base_lr, decay=2.6):
            groups = []
            for child in model.children():
                params = [p for p in child.parameters() if p.requires_grad]
                if params:
                    groups.append({"params": params, "lr": base_lr / decay ** len(groups)})
            return groups
     """)),
    ("a2-groups-multiply", A2, "layerwise_param_groups",
     "layer-wise decay multiplies the rate for earlier layers (it divides it)", _code("""
        def layerwise_param_groups(model, base_lr, decay=2.6):
            groups = []
            for child in model.children():
                params = [p for p in child.parameters() if p.requires_grad]
                if params:
                    groups.append({"params": params})
            for depth, group in enumerate(reversed(groups)):
                group["lr"] = base_lr * decay ** depth
            return groups
     """)),
    ("a2-groups-include-frozen", A2, "layerwise_param_groups",
     "param groups should list every parameter; requires_grad takes care of the rest", _code("""
        def layerwise_param_groups(model, base_lr, decay=2.6):
            groups = [{"params": list(c.parameters())} for c in model.children() if list(c.parameters())]
            for depth, group in enumerate(reversed(groups)):
                group["lr"] = base_lr / decay ** depth
            return groups
     """)),
    ("a2-groups-per-tensor", A2, "layerwise_param_groups",
     "a 'layer' is one parameter tensor (weight and bias of one layer then get different rates)", _code("""
        def layerwise_param_groups(model, base_lr, decay=2.6):
            params = [p for p in model.parameters() if p.requires_grad]
            n = len(params)
            return [{"params": [p], "lr": base_lr / decay ** (n - 1 - i)} for i, p in enumerate(params)]
     """)),
    ("a2-groups-shared-twice", A2, "layerwise_param_groups",
     "each child's parameters() are its own (a tied weight then sits in two groups and SGD refuses it)",
     _code("""
        def layerwise_param_groups(model, base_lr, decay=2.6):
            groups = []
            for child in model.children():
                params = [p for p in child.parameters() if p.requires_grad]
                if params:
                    groups.append({"params": params})
            for depth, group in enumerate(reversed(groups)):
                group["lr"] = base_lr / decay ** depth
            return groups
     """)),
    ("a2-q1-whole-classifier", A2, "ANSWER_Q1",
     "MobileNet's head is the whole classifier Sequential", 'ANSWER_Q1 = "b"'),
    ("a2-q2-all-params", A2, "ANSWER_Q2",
     "a frozen backbone still counts as trainable parameters", 'ANSWER_Q2 = "d"'),
    # ----------------------------------------------------------------------------------------------------
    # a3: BatchNorm, unfreezing, schedules, the two-phase run
    # ----------------------------------------------------------------------------------------------------
    ("a3-bn-model-eval", A3, "set_frozen_bn_eval",
     "model.eval() is the way to protect frozen BatchNorm (it also switches off dropout and trainable BN)",
     _code("""
        def set_frozen_bn_eval(model):
            return model.eval()
     """)),
    ("a3-bn-freeze-params", A3, "set_frozen_bn_eval",
     "requires_grad=False also stops BatchNorm statistics (running mean/var are buffers and keep updating)",
     _code("""
        def set_frozen_bn_eval(model):
            for m in model.modules():
                if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    m.requires_grad_(False)
            return model
     """)),
    ("a3-bn-all-eval", A3, "set_frozen_bn_eval",
     "every BatchNorm should be in eval mode during fine-tuning (trainable ones then never adapt)", _code("""
        def set_frozen_bn_eval(model):
            for m in model.modules():
                if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                    m.eval()
            return model
     """)),
    ("a3-bn-2d-only", A3, "set_frozen_bn_eval",
     "BatchNorm means BatchNorm2d (BatchNorm1d layers in MLP heads are missed)", _code("""
        def set_frozen_bn_eval(model):
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters()):
                    m.eval()
            return model
     """)),
    ("a3-bn-weight-only", A3, "set_frozen_bn_eval",
     "a BatchNorm is frozen when its weight is (its bias may still be training)", _code("""
        def set_frozen_bn_eval(model):
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.weight.requires_grad:
                    m.eval()
            return model
     """)),
    ("a3-eval-every-frozen-module", A3, "set_frozen_bn_eval",
     "any module without trainable parameters can go to eval mode (dropout has none and is switched off)",
     _code("""
        def set_frozen_bn_eval(model):
            for m in model.modules():
                if not any(p.requires_grad for p in m.parameters()):
                    m.eval()
            return model
     """)),
    ("a3-unfreeze-only", A3, "unfreeze_and_add",
     "setting requires_grad=True is enough (an optimizer built earlier never sees the new parameters)", _code("""
        def unfreeze_and_add(model, optimizer, name, lr):
            model.get_submodule(name).requires_grad_(True)
     """)),
    ("a3-new-optimizer", A3, "unfreeze_and_add",
     "rebuilding the optimizer inside the function updates the caller's one (it is a new local object)",
     _code("""
        def unfreeze_and_add(model, optimizer, name, lr):
            model.get_submodule(name).requires_grad_(True)
            optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9)
     """)),
    ("a3-add-all-params", A3, "unfreeze_and_add",
     "adding model.parameters() as the new group is simplest (parameters already held end up twice)",
     _code("""
        def unfreeze_and_add(model, optimizer, name, lr):
            model.get_submodule(name).requires_grad_(True)
            optimizer.add_param_group({"params": [p for p in model.parameters() if p.requires_grad], "lr": lr})
     """)),
    ("a3-group-without-lr", A3, "unfreeze_and_add",
     "a new param group picks the right learning rate by itself (it takes the optimizer's default)", _code("""
        def unfreeze_and_add(model, optimizer, name, lr):
            module = model.get_submodule(name)
            held = {id(p) for g in optimizer.param_groups for p in g["params"]}
            module.requires_grad_(True)
            new = [p for p in module.parameters() if id(p) not in held]
            if new:
                optimizer.add_param_group({"params": new})
     """)),
    ("a3-append-group-dict", A3, "unfreeze_and_add",
     "a param group is just a dict to append to optimizer.param_groups (it lacks the optimizer's defaults)",
     _code("""
        def unfreeze_and_add(model, optimizer, name, lr):
            module = model.get_submodule(name)
            module.requires_grad_(True)
            held = {id(p) for g in optimizer.param_groups for p in g["params"]}
            new = [p for p in module.parameters() if id(p) not in held]
            if new:
                optimizer.param_groups.append({"params": new, "lr": lr})
     """)),
    ("a3-add-without-unfreezing", A3, "unfreeze_and_add",
     "adding parameters to the optimizer unfreezes them (they still get no gradient)", _code("""
        def unfreeze_and_add(model, optimizer, name, lr):
            params = list(model.get_submodule(name).parameters())
            held = {id(p) for g in optimizer.param_groups for p in g["params"]}
            new = [p for p in params if id(p) not in held]
            if new:
                optimizer.add_param_group({"params": new, "lr": lr})
     """)),
    ("a3-schedule-bn-once", A3, "gradual_unfreezer",
     "frozen BatchNorm set to eval once stays in eval (model.train() at every epoch resets it)", _code("""
        def gradual_unfreezer(optimizer, schedule, lr):
            def before_epoch(model, epoch):
                if epoch in schedule:
                    unfreeze_and_add(model, optimizer, schedule[epoch], lr)
                if epoch == 0:
                    set_frozen_bn_eval(model)
            return before_epoch
     """)),
    ("a3-schedule-from-epoch", A3, "gradual_unfreezer",
     "the schedule's epochs are counted from 1 (off by one: every block unfreezes an epoch late)", _code("""
        def gradual_unfreezer(optimizer, schedule, lr):
            def before_epoch(model, epoch):
                if epoch - 1 in schedule:
                    unfreeze_and_add(model, optimizer, schedule[epoch - 1], lr)
                set_frozen_bn_eval(model)
            return before_epoch
     """)),
    ("a3-schedule-all-at-once", A3, "gradual_unfreezer",
     "gradual unfreezing can unfreeze every scheduled block at the start (that is plain fine-tuning)", _code("""
        def gradual_unfreezer(optimizer, schedule, lr):
            def before_epoch(model, epoch):
                if epoch == 0:
                    for name in schedule.values():
                        unfreeze_and_add(model, optimizer, name, lr)
                set_frozen_bn_eval(model)
            return before_epoch
     """)),
    ("a3-two-phase-bn-train", A3, "two_phase_finetune",
     "frozen layers stay identical in train mode (their BatchNorm statistics drift)", _code("""
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
     """)),
    ("a3-two-phase-optimizer-too-early", A3, "two_phase_finetune",
     "unfreezing layer3 is enough for phase 2 (the optimizer built in phase 1 never updates it)", _code("""
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
     """)),
    ("a3-two-phase-new-optimizer", A3, "two_phase_finetune",
     "phase 2 needs a new optimizer over the head and layer3 (the head's momentum is thrown away)", _code("""
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
     """)),
    ("a3-two-phase-layer3-head-lr", A3, "two_phase_finetune",
     "the unfrozen block learns at the head's rate (pretrained layers need the smaller finetune_lr)", _code("""
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
     """)),
    ("a3-two-phase-unfreeze-all", A3, "two_phase_finetune",
     "phase 2 means unfreezing the whole network (the early layers were meant to stay frozen)", _code("""
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
     """)),
    ("a3-two-phase-no-freezing", A3, "two_phase_finetune",
     "a small learning rate alone protects the pretrained layers (without freezing they all drift)", _code("""
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
     """)),
    ("a3-two-phase-stale-momentum", A3, "two_phase_finetune",
     "freezing a layer that already has momentum stops it (zero grads + momentum keep moving it)", _code("""
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
     """)),
    ("a3-q1-bn-frozen", A3, "ANSWER_Q1",
     "requires_grad=False freezes everything in a BatchNorm layer, running statistics included", 'ANSWER_Q1 = "a"'),
    ("a3-q2-optimizer-sees-all", A3, "ANSWER_Q2",
     "an optimizer picks up newly unfrozen parameters by itself", 'ANSWER_Q2 = "a"'),
    ("a3-q3-zero-grad", A3, "ANSWER_Q3",
     "requires_grad=False alone keeps a parameter fixed, whatever the optimizer holds", 'ANSWER_Q3 = "b"'),
]
