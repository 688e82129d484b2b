"""`freezelab.audit`: each finding on a minimal model that has the bug, and none once it is fixed."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
from torch import nn

from freezelab import audit
from freezelab.audit import CODES, AuditReport
from freezelab.backbones import TinyResNet
from freezelab.plans import eval_frozen_batchnorm, train_only

pytestmark = pytest.mark.usefixtures("one_thread")


def two_layers() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))


def backward(model: nn.Module) -> None:
    model(torch.randn(8, 4)).pow(2).mean().backward()


def test_clean_real_setup_has_no_findings():
    model = train_only(TinyResNet(), ["fc"]).train()
    eval_frozen_batchnorm(model)
    optimizer = torch.optim.AdamW(model.fc.parameters(), lr=1e-3)
    model(torch.randn(4, 1, 16, 16)).sum().backward()
    optimizer.step()
    report = audit(model, optimizer)
    assert report.ok and report.findings == [] and str(report) == "freeze audit: no findings"


def test_missing_from_optimizer():
    model = two_layers()
    optimizer = torch.optim.SGD(model[2].parameters(), lr=0.1)
    report = audit(model, optimizer)
    assert report.codes == ["missing-from-optimizer"]
    assert report.findings[0].names == ("0.weight", "0.bias")
    assert "0 (all 2 tensors)" in report.findings[0].message
    optimizer.add_param_group({"params": model[0].parameters()})
    assert audit(model, optimizer).ok


def test_frozen_in_optimizer_with_state_moves_and_is_an_error():
    model = two_layers()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    backward(model)
    optimizer.step()
    model[0].requires_grad_(False)
    optimizer.zero_grad(set_to_none=False)  # zero tensors, not None
    errors = [f for f in audit(model, optimizer).findings if f.code == "frozen-in-optimizer"]
    assert [f.severity for f in errors] == ["error"] and "0.weight" in errors[0].names
    before = model[0].weight.detach().clone()
    optimizer.step()
    assert not torch.equal(before, model[0].weight)  # the finding is true: it moved
    # Fixed: an optimizer over what trains (and no gradient left on the frozen layer).
    for p in model[0].parameters():
        p.grad = None
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    assert audit(model, optimizer).ok


def test_frozen_in_optimizer_warning_only_with_state_or_decay():
    model = two_layers()
    model[0].requires_grad_(False)
    plain = torch.optim.SGD(model.parameters(), lr=0.1)  # grad None, no state, no decay: harmless
    assert audit(model, plain).ok
    decaying = torch.optim.AdamW(model.parameters(), lr=0.1)  # default weight_decay=0.01
    report = audit(model, decaying)
    assert [(f.code, f.severity) for f in report.findings] == [("frozen-in-optimizer", "warning")]
    assert report.findings[0].names == ("0.weight", "0.bias")


def test_stale_grad():
    model = two_layers()
    backward(model)
    model[0].requires_grad_(False)
    report = audit(model)
    assert report.codes == ["stale-grad"] and report.findings[0].names == ("0.weight", "0.bias")
    for p in model[0].parameters():
        p.grad = None
    assert audit(model).ok


def test_unknown_in_optimizer_after_replacing_the_head():
    model = two_layers()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model[2] = nn.Linear(4, 3)  # a new head after the optimizer was built
    assert sorted(audit(model, optimizer).codes) == ["missing-from-optimizer", "unknown-in-optimizer"]
    assert audit(model, torch.optim.SGD(model.parameters(), lr=0.1)).ok


def test_batchnorm_frozen_in_train_mode():
    model = train_only(TinyResNet(), ["fc"]).train()
    report = audit(model)
    assert report.codes == ["bn-train-mode"]
    assert report.findings[0].names[:2] == ("bn1", "layer1.bn1") and len(report.findings[0].names) == 9
    eval_frozen_batchnorm(model)
    assert audit(model).ok
    model.layer3.requires_grad_(True)  # a BatchNorm that trains may stay in train mode
    model.layer3.train()
    assert audit(model).ok


def test_module_requires_grad_attribute():
    model = two_layers()
    model.requires_grad = False  # freezes nothing
    finding = audit(model).findings[0]
    assert (finding.code, finding.severity) == ("module-requires-grad", "error")
    assert "4 of its 4 tensors" in finding.message and "model.requires_grad_(False)" in finding.message
    fixed = two_layers().requires_grad_(False)
    assert audit(fixed).ok


class TiedLM(nn.Module):
    """An embedding tied to the output layer (which also has its own bias)."""

    def __init__(self, tie: bool = True) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 10)
        if tie:
            self.head.weight = self.embed.weight


def test_shared_tensor_with_conflicting_owners():
    model = TiedLM()
    model.requires_grad_(True)
    model.embed.requires_grad_(False)  # meant: freeze the input side; also freezes head.weight
    model.body.requires_grad_(False)
    finding = audit(model).findings[0]
    assert finding.code == "shared-conflict" and finding.names == ("embed.weight", "head.weight")
    assert "is frozen in every place, but the rest of 'head' trains" in finding.message
    untied = TiedLM(tie=False)
    untied.embed.requires_grad_(False)
    untied.body.requires_grad_(False)
    assert audit(untied).ok
    consistent = TiedLM().requires_grad_(True)  # tied and everything trains: nothing to report
    assert audit(consistent).ok


def test_lazy_parameters():
    model = nn.Sequential(nn.LazyLinear(3), nn.ReLU(), nn.Linear(3, 1))
    report = audit(model)
    assert report.codes == ["lazy"] and report.findings[0].names == ("0.weight", "0.bias")
    model(torch.randn(2, 5))
    assert audit(model).ok


def test_wrapper_prefixes():
    model = two_layers()
    wrapped = audit(nn.DataParallel(model))
    assert wrapped.codes == ["wrapper-prefix"] and wrapped.findings[0].names == ("module.",)
    compiled = audit(torch.compile(nn.DataParallel(model), backend="eager"))
    assert compiled.findings[0].names == ("_orig_mod.module.",)
    assert "torch.compile > DataParallel" in compiled.findings[0].message
    assert audit(model).ok and audit(nn.DataParallel(model), ignore=["wrapper-prefix"]).ok


def test_ddp_changed_after_wrap(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model = two_layers()
        model[0].requires_grad_(False)
        ddp = nn.parallel.DistributedDataParallel(model)
        assert audit(ddp).codes == ["wrapper-prefix"]
        model[0].requires_grad_(True)  # unfrozen after wrapping: never all-reduced
        assert audit(ddp).codes == ["wrapper-prefix", "ddp-changed-after-wrap"]
        rewrapped = nn.parallel.DistributedDataParallel(model)
        assert audit(rewrapped, ignore=["wrapper-prefix"]).ok
        model[0].requires_grad_(False)  # frozen after wrapping: stalls DDP...
        assert audit(rewrapped, ignore=["wrapper-prefix"]).codes == ["ddp-changed-after-wrap"]
        searching = nn.parallel.DistributedDataParallel(two_layers(), find_unused_parameters=True)
        searching.module[0].requires_grad_(False)  # ...unless DDP looks for unused parameters
        assert audit(searching, ignore=["wrapper-prefix"]).ok
        searching.module[0].requires_grad_(True)
        assert audit(searching, ignore=["wrapper-prefix"]).ok
    finally:
        dist.destroy_process_group()


def test_report_text_html_and_bad_ignore():
    model = two_layers()
    model.requires_grad = "<no>"  # truthy, like every flag: a warning, not an error
    report = audit(model, torch.optim.SGD(model[2].parameters(), lr=0.1))
    assert isinstance(report, AuditReport) and not report.ok
    text = str(report)
    assert text.startswith("freeze audit: 2 finding(s)")
    assert "\n  [warning] module-requires-grad: " in text and "\n  [error] missing-from-optimizer: " in text
    assert repr(report) == text
    page = report._repr_html_()
    assert "<table>" in page and "&lt;no&gt;" in page and "<no>" not in page
    assert set(report.codes) <= set(CODES)
    with pytest.raises(ValueError, match="unknown audit code.*'stale'"):
        audit(model, ignore=["stale"])


def test_import_freezelab_does_not_import_torch():
    # The CLI imports the package for every command; audit imports torch only when it runs.
    code = "import sys, freezelab; print(callable(freezelab.audit), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
