import FrEIA.framework as Ff
import FrEIA.modules as Fm
import pytest
import torch
from torch import nn

from fusioninn.api import import_original, load_pretrained
from fusioninn.bench.reference import freia_fuse_tensor
from fusioninn.cli import main
from fusioninn.errors import CheckpointError


def _original_graph():
    """The original research code's GraphINN, built the way its training script builds it."""

    def subnet(width):
        def make(c_in, c_out):
            return nn.Sequential(nn.Conv2d(c_in, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, c_out, 3, padding=1), nn.ReLU())
        return make

    nodes = [Ff.InputNode(2, 240, 240, name="Input Img")]
    nodes.append(Ff.Node(nodes[-1], Fm.ActNorm, {}, name="ActNorm"))
    nodes.append(Ff.Node(nodes[-1], Fm.GLOWCouplingBlock, {"subnet_constructor": subnet(32), "clamp": 2.0}))
    nodes.append(Ff.Node(nodes[-1], Fm.PermuteRandom, {}))
    nodes.append(Ff.Node(nodes[-1], Fm.IRevNetDownsampling, {}))
    nodes.append(Ff.Node(nodes[-1], Fm.GLOWCouplingBlock, {"subnet_constructor": subnet(64), "clamp": 2.0}))
    nodes.append(Ff.Node(nodes[-1], Fm.PermuteRandom, {}))
    nodes.append(Ff.Node(nodes[-1], Fm.IRevNetUpsampling, {}))
    nodes.append(Ff.Node(nodes[-1], Fm.GLOWCouplingBlock, {"subnet_constructor": subnet(32), "clamp": 2.0}))
    split = Ff.Node(nodes[-1], Fm.Split, {})
    nodes += [split, Ff.OutputNode(split.out0), Ff.OutputNode(split.out1)]
    return Ff.GraphINN(nodes)


@pytest.fixture
def original_checkpoint(tmp_path):
    torch.manual_seed(3)
    graph = _original_graph()
    x = torch.rand(2, 2, 240, 240)
    with torch.no_grad():
        graph(x)  # data-dependent ActNorm initialisation, as the first training batch does
        for p in graph.parameters():  # make the weights non-trivial
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
        (y, z), _ = graph(x)
    path = tmp_path / "inn.pt"
    torch.save({"model_state_dict": graph.state_dict(), "epoch": 7}, path)
    return path, x, torch.sigmoid(y), z


def test_import_original_reproduces_the_fused_output(original_checkpoint, tmp_path):
    path, x, fused_ref, z_ref = original_checkpoint
    out = tmp_path / "imported.safetensors"
    model = import_original(path, out)
    with torch.no_grad():  # the same FrEIA computation: the import itself must be exact
        fused, (_y, z) = freia_fuse_tensor(model, x)
    assert (fused - fused_ref).abs().max() <= 1e-6
    assert (z - z_ref).abs().max() <= 1e-6
    with torch.no_grad():  # the model's own forward agrees to float rounding of its other kernels
        assert (model.fuse_tensor(x)[0] - fused_ref).abs().max() <= 1e-5
    again = load_pretrained(out)
    with torch.no_grad():
        assert (freia_fuse_tensor(again, x)[0] - fused_ref).abs().max() <= 1e-6


def test_import_original_cli(original_checkpoint, tmp_path, capsys):
    path = original_checkpoint[0]
    assert main(["import-original", str(path), "-o", str(tmp_path / "m.safetensors")]) == 0
    assert (tmp_path / "m.safetensors").exists()


def test_import_refuses_other_architectures_and_pickles(tmp_path, capsys):
    bad = tmp_path / "other.pt"
    torch.save({"model_state_dict": nn.Linear(3, 4).state_dict()}, bad)
    with pytest.raises(CheckpointError, match="published architecture"):
        import_original(bad)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"model_state_dict": Evil()}, evil)
    with pytest.raises(CheckpointError, match="weights-only"):
        import_original(evil)
    assert main(["import-original", str(evil), "-o", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "evil.pt" in err[0]
    assert not (tmp_path / "x.safetensors").exists()


def test_shipped_weights_load_by_name():
    import fusioninn.api as api

    for name in ("fusioninn-v1", "fusioninn-clean", "fusioninn-robust"):
        assert api.load_pretrained(name).parameter_count() == 17_648
    # the robust weights are a mean of three snapshots of one run (scripts/average_weights.py)
    from fusioninn.training.checkpoint import load_checkpoint

    meta = load_checkpoint(api.named_weights_path("fusioninn-robust")).meta
    assert [e["global_step"] for e in meta["averaged_from"]] == [1044, 1566, 2349]
    assert meta["train_config"]["perturb_share"] == 0.85
    assert api.named_weights_path("fusioninn") == api.default_weights_path()
    assert api.named_weights_path("no-such-weights") is None
    with pytest.raises(Exception, match="no-such-weights"):
        api.load_pretrained("no-such-weights")
