"""How the native kernel is built, cached, verified and refused: cache key, hash check, build failures,
self-test, and the thread pool."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

import pytest
import torch

from fusioninn.models import native

requires_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                 reason="no C compiler: the native kernel is optional")

_PROBE = (
    "import warnings, json, torch\n"
    "warnings.simplefilter('always')\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    from fusioninn.models import native\n"
    "    first, second = native.available(), native.available()\n"
    "    from fusioninn.models import FusionINN\n"
    "    y, z = FusionINN()(torch.rand(1, 2, 8, 8))\n"
    "print(json.dumps({'available': [first, second], 'status': native.status(),\n"
    "                  'warnings': [str(w.message) for w in caught if 'native' in str(w.message)]}))\n"
)


def _probe(env_change: dict, tmp_path) -> dict:
    import json

    env = {**os.environ, "FUSIONINN_CACHE_DIR": str(tmp_path / "cache"), **env_change}
    env.pop("FUSIONINN_NATIVE", None) if "FUSIONINN_NATIVE" not in env_change else None
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cache_key_covers_compiler_version_torch_and_python(monkeypatch):
    if native._compiler() is None:
        pytest.skip("no C compiler")
    base = native.library_path()
    monkeypatch.setattr(native, "_compiler_version", lambda cc: "some other compiler 99.1")
    other_compiler = native.library_path()
    monkeypatch.setattr(native.torch, "__version__", "0.0.0-other")
    other_torch = native.library_path()
    monkeypatch.setattr(native.sys, "version", "2.7.18 (other)")
    other_python = native.library_path()
    assert len({base, other_compiler, other_torch, other_python}) == 4


@requires_cc
def test_a_replaced_library_is_rebuilt_not_loaded(tmp_path):
    first = _probe({}, tmp_path)
    assert first["available"] == [True, True] and first["status"]["state"] == "loaded", first
    lib = tmp_path / "cache" / os.path.basename(first["status"]["library"])
    good = lib.read_bytes()
    lib.write_bytes(b"\x7fELF not the library we built")  # what an attacker or a bad disk would leave
    second = _probe({}, tmp_path)
    assert second["status"]["state"] == "loaded" and second["available"] == [True, True]
    assert lib.read_bytes() != b"\x7fELF not the library we built" and len(lib.read_bytes()) == len(good)
    (tmp_path / "cache" / (lib.name + ".sha256")).unlink()  # no recorded hash: also rebuilt
    assert _probe({}, tmp_path)["status"]["state"] == "loaded"


def test_a_failed_build_warns_once_with_the_compilers_first_error_line(tmp_path):
    fake = tmp_path / "fakecc"
    fake.write_text("#!/bin/sh\n"
                    "if [ \"$1\" = --version ]; then echo 'fakecc 1.0'; exit 0; fi\n"
                    "echo 'In file included from fused_subnet.c:1:' >&2\n"
                    "echo 'fused_subnet.c:12:3: error: unknown type name vec' >&2\n"
                    "echo 'fused_subnet.c:13:3: error: second error' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    result = _probe({"CC": str(fake)}, tmp_path)
    assert result["available"] == [False, False]
    assert result["status"]["state"] == "build failed"
    assert result["status"]["reason"] == "fused_subnet.c:12:3: error: unknown type name vec"
    assert len(result["warnings"]) == 1 and "unknown type name vec" in result["warnings"][0]
    assert "FUSIONINN_NATIVE=0" in result["warnings"][0]
    # FUSIONINN_NATIVE=0 silences it: nothing is built, nothing is said
    silenced = _probe({"CC": str(fake), "FUSIONINN_NATIVE": "0"}, tmp_path)
    assert silenced["warnings"] == [] and silenced["status"]["state"] == "disabled"
    # and `fusioninn info` shows the reason
    env = {**os.environ, "CC": str(fake), "FUSIONINN_CACHE_DIR": str(tmp_path / "cache2")}
    env.pop("FUSIONINN_NATIVE", None)
    out = subprocess.run([sys.executable, "-m", "fusioninn", "info"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "native kernels: build failed: fused_subnet.c:12:3: error: unknown type name vec" in out.stdout


class _WrongKernels:
    """A 'library' whose kernels return without writing their outputs."""

    @staticmethod
    def fusioninn_fused_subnet(*args):
        return 0

    @staticmethod
    def fusioninn_fused_subnet_backward(*args):
        return 0


def test_the_self_test_refuses_kernels_that_disagree_with_conv2d():
    problem = native._self_test(_WrongKernels())
    assert problem is not None and "differs" in problem


@pytest.mark.skipif(not native.available(), reason="no C compiler: the native kernel is optional")
def test_the_self_test_passes_for_the_real_kernels_in_any_autograd_mode():
    with torch.inference_mode():
        assert native._self_test(native._lib) is None
    with torch.no_grad():
        assert native._self_test(native._lib) is None


def test_the_thread_pool_is_created_once_under_concurrent_first_use(monkeypatch):
    monkeypatch.setattr(native, "_pool", None)
    monkeypatch.setattr(native, "_pool_key", (0, 0))
    pools, barrier = [], threading.Barrier(8)

    def grab():
        barrier.wait()
        pools.append(native._executor(3))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(p) for p in pools}) == 1
    pools[0].shutdown(wait=True)


def test_first_use_inside_a_checkpointed_block_does_not_deadlock(tmp_path):
    """The kernels settle (build, load, self-test) on first use; when that is inside a memory-saving
    (checkpointed) coupling, the self-test's backward must not trigger the checkpoint's recomputation."""
    code = ("import torch\nfrom fusioninn.models import FusionINN\nm = FusionINN()\nm.options.memory_saving = True\n"
            "fused, z, dec = m.fused_and_decomposed_for_training(torch.rand(2, 2, 8, 8))\n"
            "(fused.mean() + dec.mean()).backward()\nprint('ok')\n")
    env = {**os.environ, "FUSIONINN_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
