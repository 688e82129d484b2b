"""How learners get a2_transfer_setup wrong (new heads, feature extractors, optimizers, layer-wise learning rates):
one `Mistake` per misconception."""

from ..records import Mistake

MISTAKES = [
    # heads and feature extractors
    Mistake(id="a2-replace-whole-classifier", name="replace_head",
            misconception="the head of MobileNet/EfficientNet is `classifier` (it is classifier[-1]; the dropout before it is lost)",
            code="""
        def replace_head(model, num_classes):
            if hasattr(model, "fc"):
                model.fc = nn.Linear(model.fc.in_features, num_classes)
            elif isinstance(model.classifier, nn.Linear):
                model.classifier = nn.Linear(model.classifier.in_features, num_classes)
            else:
                model.classifier = nn.Linear(model.classifier[-1].in_features, num_classes)
            return model
    """),
    Mistake(id="a2-fc-only", name="replace_head",
            misconception="every torchvision model calls its head `fc` (only ResNet-like families do)",
            code="""
        def replace_head(model, num_classes):
            model.fc = nn.Linear(model.fc.in_features, num_classes)
            return model
    """),
    Mistake(id="a2-head-no-bias", name="replace_head",
            misconception="a classification head needs no bias (the old head had one; the new one silently drops it)",
            code="""
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
    """),
    Mistake(id="a2-hardcoded-in-features", name="replace_head",
            misconception="the feature size is always 512 (true for ResNet-18 only)",
            code="""
        def replace_head(model, num_classes):
            if hasattr(model, "fc"):
                model.fc = nn.Linear(512, num_classes)
            elif isinstance(model.classifier, nn.Linear):
                model.classifier = nn.Linear(model.classifier.in_features, num_classes)
            else:
                model.classifier[-1] = nn.Linear(model.classifier[-1].in_features, num_classes)
            return model
    """),
    Mistake(id="a2-set-out-features", name="replace_head",
            misconception="changing out_features resizes a layer (it only edits an attribute; the weight keeps its shape)",
            code="""
        def replace_head(model, num_classes):
            if hasattr(model, "fc"):
                model.fc.out_features = num_classes
            elif isinstance(model.classifier, nn.Linear):
                model.classifier.out_features = num_classes
            else:
                model.classifier[-1].out_features = num_classes
            return model
    """),
    Mistake(id="a2-stack-on-old-head", name="replace_head",
            misconception="a new head goes on top of the old 1000-class layer (the old layer should be replaced)",
            code="""
        def replace_head(model, num_classes):
            if hasattr(model, "fc"):
                model.fc = nn.Sequential(model.fc, nn.Linear(model.fc.out_features, num_classes))
            elif isinstance(model.classifier, nn.Linear):
                old = model.classifier
                model.classifier = nn.Sequential(old, nn.Linear(old.out_features, num_classes))
            else:
                model.classifier.append(nn.Linear(model.classifier[-1].out_features, num_classes))
            return model
    """),
    Mistake(id="a2-freeze-after-new-head", name="feature_extractor",
            misconception="freezing the whole model after attaching the head is fine (the new head is frozen too)",
            code="""
        def feature_extractor(model, num_classes):
            model = replace_head(model, num_classes)
            for p in model.parameters():
                p.requires_grad = False
            return model
    """),
    Mistake(id="a2-backbone-is-features", name="feature_extractor",
            misconception="every backbone is called `features` (ResNets have no such attribute; their layers stay trainable)",
            code="""
        def feature_extractor(model, num_classes):
            if hasattr(model, "features"):
                model.features.requires_grad_(False)
            return replace_head(model, num_classes)
    """),
    Mistake(id="a2-eval-feature-extractor", name="feature_extractor",
            misconception="model.eval() turns a network into a fixed feature extractor (the backbone still trains)",
            code="""
        def feature_extractor(model, num_classes):
            model.eval()
            return replace_head(model, num_classes)
    """),
    Mistake(id="a2-freeze-by-weight-name", name="feature_extractor",
            misconception="freezing parameters whose name contains 'weight' is enough (biases and BatchNorm shifts still train)",
            code="""
        def feature_extractor(model, num_classes):
            for name, p in model.named_parameters():
                if "weight" in name:
                    p.requires_grad = False
            return replace_head(model, num_classes)
    """),
    # optimizers and param groups
    Mistake(id="a2-optimizer-all-params", name="trainable_optimizer",
            misconception="the optimizer can take model.parameters(): frozen ones are skipped anyway (not with stale grads or decay)",
            code="""
        def trainable_optimizer(model, lr):
            return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    """),
    Mistake(id="a2-optimizer-grad-filter", name="trainable_optimizer",
            misconception="trainable parameters are the ones with a .grad (before the first backward none has one)",
            code="""
        def trainable_optimizer(model, lr):
            params = [p for p in model.parameters() if p.grad is not None]
            return torch.optim.SGD(params or list(model.parameters()), lr=lr, momentum=0.9)
    """),
    Mistake(id="a2-optimizer-fixed-lr", name="trainable_optimizer",
            misconception="one standard learning rate fits every fine-tuning run",
            code="""
        def trainable_optimizer(model, lr):
            params = [p for p in model.parameters() if p.requires_grad]
            return torch.optim.SGD(params, lr=0.01, momentum=0.9)
    """),
    Mistake(id="a2-groups-reversed", name="layerwise_param_groups",
            misconception="early layers need the largest learning rate (it is the other way round: they hold general features)",
            code="""
        def layerwise_param_groups(model, base_lr, decay=2.6):
            groups = []
            for child in model.children():
                params = [p for p in child.parameters() if p.requires_grad]
                if params:
                    groups.append({"params": params, "lr": base_lr / decay ** len(groups)})
            return groups
    """),
    Mistake(id="a2-groups-multiply", name="layerwise_param_groups",
            misconception="layer-wise decay multiplies the rate for earlier layers (it divides it)",
            code="""
        def layerwise_param_groups(model, base_lr, decay=2.6):
            groups = []
            for child in model.children():
                params = [p for p in child.parameters() if p.requires_grad]
                if params:
                    groups.append({"params": params})
            for depth, group in enumerate(reversed(groups)):
                group["lr"] = base_lr * decay ** depth
            return groups
    """),
    Mistake(id="a2-groups-include-frozen", name="layerwise_param_groups",
            misconception="param groups should list every parameter; requires_grad takes care of the rest",
            code="""
        def layerwise_param_groups(model, base_lr, decay=2.6):
            groups = [{"params": list(c.parameters())} for c in model.children() if list(c.parameters())]
            for depth, group in enumerate(reversed(groups)):
                group["lr"] = base_lr / decay ** depth
            return groups
    """),
    Mistake(id="a2-groups-per-tensor", name="layerwise_param_groups",
            misconception="a 'layer' is one parameter tensor (weight and bias of one layer then get different rates)",
            code="""
        def layerwise_param_groups(model, base_lr, decay=2.6):
            params = [p for p in model.parameters() if p.requires_grad]
            n = len(params)
            return [{"params": [p], "lr": base_lr / decay ** (n - 1 - i)} for i, p in enumerate(params)]
    """),
    Mistake(id="a2-groups-shared-twice", name="layerwise_param_groups",
            misconception="each child's parameters() are its own (a tied weight then sits in two groups and SGD refuses it)",
            code="""
        def layerwise_param_groups(model, base_lr, decay=2.6):
            groups = []
            for child in model.children():
                params = [p for p in child.parameters() if p.requires_grad]
                if params:
                    groups.append({"params": params})
            for depth, group in enumerate(reversed(groups)):
                group["lr"] = base_lr / decay ** depth
            return groups
    """),
]
