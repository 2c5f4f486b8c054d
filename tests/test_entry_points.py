"""`python -m fusioninn` is the same command line; `fusioninn info` says what will run; `fusioninn bench`
needs no source checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import fusioninn


def _run(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "fusioninn", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env=env)


def test_python_dash_m_is_the_command_line(tmp_path):
    out = _run("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == fusioninn.__version__
    bad = _run("fuse", "missing_a.png", "missing_b.png", "-o", str(tmp_path / "f.png"), cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert _run("--help").stdout.count("info") >= 1


def test_info_reports_versions_device_threads_allocator_and_native_status(tmp_path):
    env = {**os.environ, "FUSIONINN_NATIVE": "0"}
    out = _run("info", "--json", "--threads", "1", env=env)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert set(info["versions"]) == {"fusioninn", "torch", "freia", "python"}
    assert info["device"] == "cpu" and info["threads"] == 1
    assert info["allocator"].startswith("tuned")  # the command line tunes it for every command
    assert info["native_kernels"] == {"state": "disabled", "reason": "FUSIONINN_NATIVE=0 in the environment"}
    # without the native kernels the full-resolution subnets train on conv2d and infer on oneDNN's fused conv
    backends = list(info["subnet_backends"].values())
    assert backends[0]["training"] == "conv2d" and backends[0]["inference"] in ("fused_conv", "conv2d")
    text = _run("info", env=env)
    assert "native kernels: disabled: FUSIONINN_NATIVE=0" in text.stdout and "torch " in text.stdout


def test_bench_runs_outside_a_source_checkout(tmp_path):
    out = _run("bench", "--levers", "--size", "16", "--batch-sizes", "1", "--repeats", "1", "--json",
               str(tmp_path / "levers.json"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "levers.json").read_text())
    assert "fast path, all levers" in data["levers"]["variants"]
    bad = _run("bench", "--size", "15", cwd=tmp_path)
    assert bad.returncode == 2 and "--size" in bad.stderr


def test_a_closed_stdout_pipe_ends_quietly():
    """`fusioninn metrics --list | head -1`: the reader leaves early; no traceback, no 'internal error'."""
    proc = subprocess.Popen([sys.executable, "-m", "fusioninn", "metrics", "--list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the command writes
    _, err = proc.communicate(timeout=600)
    err = err.decode()
    assert proc.returncode == 141, err
    assert err == ""
