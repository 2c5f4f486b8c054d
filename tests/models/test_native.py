"""The native fused subnet kernel agrees with PyTorch's convolutions, and its absence is harmless."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F

from fusioninn.models import native

requires_native = pytest.mark.skipif(not native.available(), reason="no C compiler: the native kernel is optional")


def _reference(x, w1, b1, w2, b2, out_relu=False):
    out = F.conv2d(F.relu(F.conv2d(x, w1, b1, padding=1)), w2, b2, padding=1)
    return F.relu(out) if out_relu else out


def _weights(channels, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(channels, 1, 3, 3, generator=g) * 0.5, torch.randn(channels, generator=g) * 0.1,
            torch.randn(2, channels, 3, 3, generator=g) * 0.1, torch.randn(2, generator=g))


@requires_native
@pytest.mark.parametrize("shape", [(2, 24, 32), (1, 1, 1), (1, 7, 5), (3, 2, 49), (1, 66, 130), (2, 240, 240)])
@pytest.mark.parametrize("channels", [32, 5])
@pytest.mark.parametrize("out_relu", [False, True])
def test_matches_torch_convolutions(shape, channels, out_relu):
    n, h, w = shape
    x = torch.rand(n, 1, h, w, generator=torch.Generator().manual_seed(h * w))
    weights = _weights(channels)
    out = native.fused_subnet(x, *weights, out_relu=out_relu)
    assert out.shape == (n, 2, h, w) and out.dtype == torch.float32
    torch.testing.assert_close(out, _reference(x, *weights, out_relu), rtol=0, atol=1e-5)


@requires_native
@pytest.mark.parametrize("n", [1, 3])
def test_thread_pieces_give_the_same_result(n):
    """Several threads split the batch (or an image's rows, for fewer images than threads)."""
    x = torch.rand(n, 1, 37, 50)
    weights = _weights(32, seed=3)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = native.fused_subnet(x, *weights)
        torch.set_num_threads(4)
        four = native.fused_subnet(x, *weights)
    finally:
        torch.set_num_threads(previous)
    torch.testing.assert_close(four, one, rtol=0, atol=0)


@requires_native
@pytest.mark.parametrize("shape", [(2, 24, 32), (1, 1, 1), (1, 7, 5), (3, 2, 49), (1, 66, 130), (2, 240, 240)])
@pytest.mark.parametrize("channels", [32, 5])
def test_backward_matches_autograd_in_float64(shape, channels):
    n, h, w = shape
    g64 = torch.Generator().manual_seed(7)
    x = torch.rand(n, 1, h, w, generator=g64, dtype=torch.float64).requires_grad_()
    weights = [t.double().requires_grad_() for t in _weights(channels, seed=5)]
    out = _reference(x, *weights)
    grad_out = torch.randn(out.shape, generator=g64, dtype=torch.float64)
    expected = torch.autograd.grad(out, (x, *weights), grad_out)
    got = native.fused_subnet_backward(x.float(), grad_out.float(), *(t.float() for t in weights[:3]))
    for name, a, b in zip(("x", "w1", "b1", "w2", "b2"), got, expected, strict=True):
        assert a.shape == b.shape and a.dtype == torch.float32, name
        torch.testing.assert_close(a.double(), b, rtol=0, atol=1e-5 * max(1.0, float(b.abs().max())), msg=name)


@requires_native
@pytest.mark.parametrize("n", [1, 3, 5])
def test_backward_thread_pieces_sum_to_the_same_gradients(n):
    x, grad_out = torch.rand(n, 1, 21, 34), torch.randn(n, 2, 21, 34)
    weights = _weights(16, seed=9)[:3]
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = native.fused_subnet_backward(x, grad_out, *weights)
        torch.set_num_threads(4)
        four = native.fused_subnet_backward(x, grad_out, *weights)
    finally:
        torch.set_num_threads(previous)
    torch.testing.assert_close(four[0], one[0], rtol=0, atol=0)  # per-image: identical
    for a, b in zip(four[1:], one[1:], strict=True):  # weight sums in another order
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@requires_native
@pytest.mark.parametrize("out_relu", [False, True])
def test_training_function_gives_autograd_gradients(out_relu):
    from fusioninn.models.backends import NativeSubnet

    x = torch.rand(2, 1, 18, 26, requires_grad=True)
    weights = [t.requires_grad_() for t in _weights(8, seed=2)]
    out = NativeSubnet.apply(x, *weights, out_relu)
    ref = _reference(x, *weights, out_relu)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
    grad_out = torch.randn_like(out)
    got = torch.autograd.grad(out, (x, *weights), grad_out)
    expected = torch.autograd.grad(ref, (x, *weights), grad_out)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@requires_native
def test_refuses_other_shapes():
    with pytest.raises(ValueError, match="unsupported shapes"):
        native.fused_subnet(torch.rand(1, 2, 8, 8), *_weights(4))


def test_without_a_compiler_the_kernel_is_unavailable_and_the_model_still_runs():
    code = (
        "import torch; from fusioninn.models import native; from fusioninn import load_pretrained;"
        "assert not native.available(); m = load_pretrained();"
        "f, _ = m.fuse(torch.rand(16, 16).numpy(), torch.rand(16, 16).numpy()); print(f.shape)"
    )
    for env_change in ({"FUSIONINN_NATIVE": "0"}, {"CC": "", "PATH": os.path.dirname(sys.executable)}):
        env = {**os.environ, **env_change}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "(16, 16)" in result.stdout


@requires_native
def test_unwritable_cache_falls_back_to_a_private_folder(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    code = "from fusioninn.models import native; assert native.available(); print(native._lib._name)"
    env = {**os.environ, "FUSIONINN_CACHE_DIR": str(blocked / "cache")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "fusioninn-native-" in result.stdout


@requires_native
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_works_in_a_forked_child_after_threaded_use():
    x = torch.rand(4, 1, 20, 20)
    weights = _weights(8)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        expected = native.fused_subnet(x, *weights)  # creates the thread pool in the parent
        pid = os.fork()
        if pid == 0:  # child: must not hang on the parent's (thread-less) pool
            ok = torch.equal(native.fused_subnet(x, *weights), expected)
            os._exit(0 if ok else 1)
        deadline = time.monotonic() + 60
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if done[0] == 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the native kernel hung in a forked child")
        assert os.waitstatus_to_exitcode(done[1]) == 0
    finally:
        torch.set_num_threads(previous)
