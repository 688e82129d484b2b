"""How learners get a1_freezing_basics wrong (freeze, unfreeze, count, freeze by name):
one `Mistake` per misconception."""

from ..records import Mistake

MISTAKES = [
    # freeze / unfreeze
    Mistake(id="a1-module-attribute", name="freeze_module",
            misconception="setting requires_grad on the Module freezes it (it only adds a plain attribute)",
            code="""
        def freeze_module(module):
            module.requires_grad = False
            return module
    """),
    Mistake(id="a1-grad-none", name="freeze_module",
            misconception="clearing .grad freezes a parameter (the next backward fills it again)",
            code="""
        def freeze_module(module):
            for p in module.parameters():
                p.grad = None
            return module
    """),
    Mistake(id="a1-no-grad-context", name="freeze_module",
            misconception="torch.no_grad() freezes a module (it only disables graph building inside the block)",
            code="""
        def freeze_module(module):
            with torch.no_grad():
                for p in module.parameters():
                    p.detach()
            return module
    """),
    Mistake(id="a1-eval-is-freezing", name="freeze_module",
            misconception="model.eval() freezes the weights (it only switches dropout and BatchNorm behaviour)",
            code="""
        def freeze_module(module):
            module.eval()
            return module
    """),
    Mistake(id="a1-freeze-also-eval", name="freeze_module",
            misconception="a frozen module must also be put in eval mode (that silently switches off dropout)",
            code="""
        def freeze_module(module):
            for p in module.parameters():
                p.requires_grad = False
            module.eval()
            return module
    """),
    Mistake(id="a1-weights-only", name="freeze_module",
            misconception="only weights need freezing, biases do not matter",
            code="""
        def freeze_module(module):
            for name, p in module.named_parameters():
                if name.endswith("weight"):
                    p.requires_grad = False
            return module
    """),
    Mistake(id="a1-direct-children-only", name="freeze_module",
            misconception="looping over children() reaches every layer (nested blocks and the module's own parameters are missed)",
            code="""
        def freeze_module(module):
            for child in module.children():
                for p in child.parameters(recurse=False):
                    p.requires_grad = False
            return module
    """),
    Mistake(id="a1-children-params-only", name="freeze_module",
            misconception="freezing every child freezes the module (parameters the module holds itself are missed)",
            code="""
        def freeze_module(module):
            for child in module.children():
                for p in child.parameters():
                    p.requires_grad = False
            return module
    """),
    Mistake(id="a1-unfreeze-with-train", name="unfreeze_module",
            misconception="model.train() unfreezes a model (it only switches the mode back)",
            code="""
        def unfreeze_module(module):
            module.train()
            return module
    """),
    Mistake(id="a1-unfreeze-no-return", name="unfreeze_module",
            misconception="an in-place change needs no return value (callers that write `model = unfreeze_module(model)` get None)",
            code="""
        def unfreeze_module(module):
            for p in module.parameters():
                p.requires_grad = True
    """),
    Mistake(id="a1-unfreeze-trainable-filter", name="unfreeze_module",
            misconception="model.parameters() only yields trainable tensors, so filter on requires_grad (frozen ones are skipped)",
            code="""
        def unfreeze_module(module):
            for p in filter(lambda p: p.requires_grad, module.parameters()):
                p.requires_grad = True
            return module
    """),
    # counting
    Mistake(id="a1-count-tensors", name="count_parameters",
            misconception="counting parameter tensors is counting parameters (a weight matrix holds many numbers)",
            code="""
        def count_parameters(model, trainable_only=False):
            return sum(1 for p in model.parameters() if p.requires_grad or not trainable_only)
    """),
    Mistake(id="a1-count-shared-twice", name="count_parameters",
            misconception="each layer's own parameters can be summed layer by layer (a tied weight is then counted twice)",
            code="""
        def count_parameters(model, trainable_only=False):
            total = 0
            for m in model.modules():
                for p in m.parameters(recurse=False):
                    if p.requires_grad or not trainable_only:
                        total += p.numel()
            return total
    """),
    Mistake(id="a1-count-state-dict", name="count_parameters",
            misconception="the state_dict lists the parameters (it also holds BatchNorm buffers and tied weights under two keys)",
            code="""
        def count_parameters(model, trainable_only=False):
            if trainable_only:
                return sum(p.numel() for p in model.parameters() if p.requires_grad)
            return sum(t.numel() for t in model.state_dict().values())
    """),
    Mistake(id="a1-count-ignores-flag", name="count_parameters",
            misconception="all parameters are trainable, so trainable_only changes nothing",
            code="""
        def count_parameters(model, trainable_only=False):
            return sum(p.numel() for p in model.parameters())
    """),
    Mistake(id="a1-count-inverted-flag", name="count_parameters",
            misconception="requires_grad=True marks a frozen parameter (it is the other way round)",
            code="""
        def count_parameters(model, trainable_only=False):
            return sum(p.numel() for p in model.parameters() if not (trainable_only and p.requires_grad))
    """),
    Mistake(id="a1-count-first-dim", name="count_parameters",
            misconception="a parameter's size is its first dimension (len(p)), not the product of its shape",
            code="""
        def count_parameters(model, trainable_only=False):
            return sum(len(p) for p in model.parameters() if p.requires_grad or not trainable_only)
    """),
    Mistake(id="a1-count-tensor-result", name="count_parameters",
            misconception="returning a tensor is as good as a number (it breaks formatting and comparisons downstream)",
            code="""
        def count_parameters(model, trainable_only=False):
            sizes = [torch.tensor(p.numel()) for p in model.parameters() if p.requires_grad or not trainable_only]
            return torch.stack(sizes).sum()
    """),
    # freezing by name
    Mistake(id="a1-name-prefix", name="freeze_by_name",
            misconception="matching parameter names with startswith is safe ('layer1' also matches 'layer10'; typos are ignored)",
            code="""
        def freeze_by_name(model, names):
            for n, p in model.named_parameters():
                if any(n.startswith(name) for name in names):
                    p.requires_grad = False
            return model
    """),
    Mistake(id="a1-name-silent", name="freeze_by_name",
            misconception="an unknown name can be skipped silently (a typo then leaves layers training)",
            code="""
        def freeze_by_name(model, names):
            modules = dict(model.named_modules())
            params = dict(model.named_parameters())
            for name in names:
                if name in modules:
                    modules[name].requires_grad_(False)
                elif name in params:
                    params[name].requires_grad_(False)
            return model
    """),
    Mistake(id="a1-name-half-frozen", name="freeze_by_name",
            misconception="raising on the first unknown name is enough (the names before it are already frozen)",
            code="""
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
    """),
    Mistake(id="a1-name-getattr", name="freeze_by_name",
            misconception="getattr(model, name) reaches any layer (it fails on dotted names such as 'block2.linear0')",
            code="""
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
    """),
    Mistake(id="a1-name-modules-only", name="freeze_by_name",
            misconception="only modules have names (parameter names such as 'fc.bias' are rejected)",
            code="""
        def freeze_by_name(model, names):
            modules = dict(model.named_modules())
            for name in names:
                if name not in modules:
                    raise ValueError(f"unknown module {name}")
            for name in names:
                modules[name].requires_grad_(False)
            return model
    """),
]
