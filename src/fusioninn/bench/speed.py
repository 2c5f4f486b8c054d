"""Speed of FusionINN against the published FrEIA graph, side by side, on this CPU.

Shipped in the package so that ``fusioninn bench`` runs from an installed copy; ``benchmarks/speed.py``
in a source checkout is the same program.

    .venv/bin/python benchmarks/speed.py --batch-sizes 1,8,64 --repeats 5 --threads 1 \
        --json benchmarks/results/speed.json            # also: fusioninn bench ...
    .venv/bin/python benchmarks/speed.py --levers --batch-sizes 8 --threads 1   # one lever at a time
    .venv/bin/python benchmarks/speed.py --volume --threads 1                   # whole 240x240x155 volume

For each batch size it builds one FusionINN (published configuration), copies its weights into the
reference ``GraphINN`` built the original way (:mod:`fusioninn.bench.reference`), checks that both give the
same loss and fused image on the same batch, then times each workload of each implementation in its own
fresh process (so the reference runs with glibc's allocator untouched, exactly as the original code would,
and ours with the allocator tuning our code applies):

* training step: forward + reverse + losses + backward, as the original loop (images/s);
* fuse + decompose: forward, sigmoid, reverse with fresh noise, sigmoid, without gradients (pairs/s);
* peak memory of one step, as the growth of the resident-set high-water mark (VmHWM) in a fresh
  subprocess.

Times are medians of ``--repeats`` runs (after one warm-up) of wall-clock time and of process CPU time. The
machine may be shared: CPU time is the steadier figure when other processes compete for the cores (with one
thread it is the time our thread actually ran); both are reported and the ratios of both are printed.
``--levers`` runs in one process instead, switching one lever at a time (interleaved): its reference rows
use glibc's default settings restored by ``mallopt``, which also switches off glibc's dynamic mmap
threshold, so they are slower than the reference in a fresh process — read that table for relative effects.
Achieved GFLOP/s counts only the subnet convolutions (from their weight shapes; a training step = 6x the
forward pass: forward and reverse pass, each backpropagated at 2x), against the fp32 peak
threads x clock x 32 flop/cycle (two 256-bit FMA pipes per core: 2 x 8 lanes x 2 flop).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["main", "run_speed", "conv_flops_forward", "cpu_peak_gflops"]


# --------------------------------------------------------------------------------------------------
# Machine and model figures


def cpu_clock_ghz() -> float:
    """Mean 'cpu MHz' of /proc/cpuinfo in GHz (0 if unknown)."""
    try:
        mhz = [float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
               if line.startswith("cpu MHz")]
    except OSError:
        return 0.0
    return sum(mhz) / len(mhz) / 1000 if mhz else 0.0


def cpu_peak_gflops(threads: int) -> dict:
    """fp32 peak = threads x GHz x 32 flop/cycle (2 FMA pipes x 8 fp32 lanes x 2 flop per FMA, AVX2).

    Cores with full-width AVX-512 FMA pipes (AMD Zen 5, cpu family 26, as this machine) reach twice that,
    64 flop/cycle; that bound is reported too as ``peak_gflops_avx512`` when /proc/cpuinfo says so.
    """
    ghz = cpu_clock_ghz()
    out = {"threads": threads, "ghz": round(ghz, 3), "flop_per_cycle": 32,
           "formula": "threads x GHz x 32", "peak_gflops": round(threads * ghz * 32, 1)}
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    family = next((int(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu family")), 0)
    if " avx512f " in info and "AuthenticAMD" in info and family >= 26:
        out["peak_gflops_avx512"] = round(threads * ghz * 64, 1)
    return out


def conv_flops_forward(model, h: int, w: int) -> float:
    """Multiply-add FLOPs (2 per MAC) of all subnet convolutions of one forward pass of one image."""
    total = 0.0
    for idx, mod in enumerate(model.module_list):
        if not hasattr(mod, "subnet1"):
            continue
        pixels = h * w if idx != 4 else (h // 2) * (w // 2)  # block 4 works after the 2x2 down-sampling
        for sub in (mod.subnet1, mod.subnet2):
            for layer in sub:
                if hasattr(layer, "weight"):
                    total += 2.0 * pixels * layer.weight.numel()
    return total


# --------------------------------------------------------------------------------------------------
# The four workloads


def _setup(batch: int, size: int, seed: int = 0):
    import torch

    from ..models.fusioninn import FusionINN, FusionINNConfig
    from .reference import reference_from_model

    torch.manual_seed(seed)
    model = FusionINN(FusionINNConfig.paper())
    # smooth random images in [0, 1]: realistic enough for timing, and SSIM is not degenerate
    x = torch.nn.functional.avg_pool2d(torch.rand(batch, 2, size + 4, size + 4), 5, stride=1)
    x = (x - x.amin((2, 3), keepdim=True)) / (x.amax((2, 3), keepdim=True) - x.amin((2, 3), keepdim=True))
    model.initialise_actnorm(x)
    graph = reference_from_model(model, size)
    z_target = torch.randn(batch, size * size)
    z_fresh = torch.randn(batch, 1, size, size)
    return model, graph, x, z_target, z_fresh


def _workloads(model, graph, x, z_target, z_fresh) -> dict[str, Callable[[], object]]:
    import torch

    from ..losses import FusionINNLoss
    from .reference import reference_fuse_decompose, reference_training_loss

    loss_fn = FusionINNLoss()  # the trainer's loss

    def ref_train():
        graph.zero_grad(set_to_none=True)
        loss = reference_training_loss(graph, x, z_target, z_fresh)
        loss.backward()
        return loss.detach()

    def our_train():
        model.zero_grad(set_to_none=True)
        loss, _ = loss_fn(x, *model.fused_and_decomposed_for_training(x, z_fresh), z_target=z_target)
        loss.backward()
        return loss.detach()

    def ref_infer():
        return reference_fuse_decompose(graph, x, z_fresh)

    def our_infer():
        with torch.inference_mode():
            fused, _latent = model.fuse_tensor(x)
            return fused, model.decompose_tensor(fused, z_fresh)

    return {"ref_train": ref_train, "our_train": our_train, "ref_infer": ref_infer, "our_infer": our_infer}


def _time(fn: Callable[[], object]) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def _interleaved(variants: dict[str, tuple[Callable[[], object], Callable[[], None] | None]], repeats: int
                 ) -> dict[str, dict]:
    """Run each variant once to warm up, then ``repeats`` rounds of all variants; medians per variant.

    ``variants`` maps a name to (workload, prepare) where ``prepare`` sets process state (allocator,
    layout, threads) before each run of that variant."""
    walls: dict[str, list[float]] = {k: [] for k in variants}
    cpus: dict[str, list[float]] = {k: [] for k in variants}
    for fn, prep in variants.values():
        if prep:
            prep()
        fn()
    for _ in range(repeats):
        for name, (fn, prep) in variants.items():
            if prep:
                prep()
            wall, cpu = _time(fn)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {k: {"wall_s": statistics.median(walls[k]), "cpu_s": statistics.median(cpus[k]),
                "wall_runs": [round(v, 4) for v in walls[k]], "cpu_runs": [round(v, 4) for v in cpus[k]]}
            for k in variants}


# --------------------------------------------------------------------------------------------------
# Peak memory, one subprocess per configuration


def _rss_kb(field: str) -> int:
    """VmRSS / VmHWM of this process in kB from /proc/self/status (0 if unavailable).

    ``ru_maxrss`` is not used: Linux carries it over from the parent across fork + exec, so a child of a
    large benchmark process would report the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0); harmless where not supported."""
    try:  # a kernel control file, not an output: written with os.write, no atomic rename possible
        fd = os.open("/proc/self/clear_refs", os.O_WRONLY)
        try:
            os.write(fd, b"5")
        finally:
            os.close(fd)
    except OSError:
        pass


def _timing_probe(spec: str) -> None:
    """Child process: time one workload (one warm-up, then ``repeats`` runs), print medians as JSON.

    Each implementation runs in a fresh process, so the reference sees glibc's allocator exactly as the
    original code does (dynamic mmap threshold, never touched by ``mallopt``), and ours with the allocator
    tuning our code applies."""
    import torch

    impl, kind, batch, size, threads, repeats = spec.split(",")
    torch.set_num_threads(int(threads))
    if impl in ("our", "reftuned"):  # reftuned: the reference given our allocator tuning as well
        from ..device import tune_cpu_allocator

        tune_cpu_allocator(True)
        impl = "ref" if impl == "reftuned" else impl
    model, graph, x, zt, zf = _setup(int(batch), int(size))
    fn = _workloads(model, graph, x, zt, zf)[f"{impl}_{kind}"]
    fn()
    walls, cpus = [], []
    for _ in range(int(repeats)):
        wall, cpu = _time(fn)
        walls.append(wall)
        cpus.append(cpu)
    print(json.dumps({"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
                      "wall_runs": [round(v, 4) for v in walls], "cpu_runs": [round(v, 4) for v in cpus]}))


def _probe(spec: str) -> None:
    """Child process: set up, measure ru_maxrss growth over two runs of one workload, print JSON."""
    import torch

    if spec.startswith("time:"):
        _timing_probe(spec[len("time:"):])
        return
    impl, mode, batch, size, threads = spec.split(",")
    torch.set_num_threads(int(threads))
    from ..device import tune_cpu_allocator

    if impl in ("our", "oursaving"):  # as the trainer: tuned, or glibc's default values with --memory-saving
        tune_cpu_allocator(impl == "our")
    if mode == "volume":
        _volume_probe(impl, int(size))
        return
    model, graph, x, zt, zf = _setup(int(batch), int(size))
    if impl == "oursaving":  # ours with memory-saving backpropagation
        model.options.memory_saving = True
        impl = "our"
    fn = _workloads(model, graph, x, zt, zf)[f"{impl}_{mode}"]
    _reset_peak()
    before = _rss_kb("VmRSS")
    fn()
    fn()
    after = _rss_kb("VmHWM")
    print(json.dumps({"peak_mb": round((after - before) / 1024, 1)}))


def _volume_probe(impl: str, size: int, depth: int = 155, batch_slices: int = 16) -> None:
    import numpy as np
    import torch

    from .reference import reference_fuse_decompose

    model, graph, _, _, _ = _setup(2, size)
    rng = np.random.default_rng(0)
    v1 = rng.random((depth, size, size), dtype=np.float32)  # axial slices first, as fusioninn fuse reads them
    v2 = rng.random((depth, size, size), dtype=np.float32)
    _reset_peak()
    before = _rss_kb("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    if impl == "our":
        fused, _latent = model.fuse(v1, v2, batch_size=batch_slices)
        model.decompose(fused, None, seed=0, batch_size=batch_slices)
    else:  # the original way: the graph over batches of slices, fused then decomposed with fresh noise
        gen = torch.Generator().manual_seed(0)
        for s in range(0, depth, batch_slices):
            x = torch.from_numpy(np.stack([v[s:s + batch_slices] for v in (v1, v2)], 1))
            reference_fuse_decompose(graph, x, torch.randn(x.shape[0], 1, size, size, generator=gen))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    after = _rss_kb("VmHWM")
    print(json.dumps({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_mb": round((after - before) / 1024, 1)}))


def _run_probe(spec: str, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-m", "fusioninn.bench.speed", "--_probe", spec], env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory probe {spec} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------
# Main comparison


def _equality(model, graph, x, zt, zf) -> dict:
    import torch

    from ..losses import FusionINNLoss
    from .reference import reference_fuse_decompose, reference_training_loss

    with torch.no_grad():
        ref_loss = float(reference_training_loss(graph, x, zt, zf))
        our_loss = float(FusionINNLoss()(x, *model.fused_and_decomposed_for_training(x, zf), z_target=zt)[0])
    ref_fused, ref_dec = reference_fuse_decompose(graph, x, zf)
    with torch.inference_mode():
        fused, _latent = model.fuse_tensor(x)
        dec = model.decompose_tensor(fused, zf)
    return {"loss_ref": ref_loss, "loss_ours": our_loss, "loss_abs_diff": abs(ref_loss - our_loss),
            "fused_max_abs_diff": float((ref_fused - fused).abs().max()),
            "decomposed_max_abs_diff": float((ref_dec - dec).abs().max())}


def run_speed(batch_sizes: Sequence[int] = (1, 8, 64), repeats: int = 5, threads: int = 1, size: int = 240,
              memory: bool = True, volume: bool = False, log: Callable[[str], None] = print) -> dict:
    """Run the side-by-side comparison; return every figure as a JSON-ready dict."""
    import torch

    from ..models import native

    torch.set_num_threads(threads)
    peak = cpu_peak_gflops(threads)
    native_kernel = native.available()
    log(f"native fused subnet kernel: {'compiled and used' if native_kernel else 'not available (PyTorch path)'}"
        f" ({native.status()['reason']})")
    result: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                "torch": torch.__version__, **peak},
                    "native_kernel": native_kernel,
                    "size": size, "threads": threads, "repeats": repeats, "batches": {}}
    for batch in batch_sizes:
        model, graph, x, zt, zf = _setup(batch, size)
        eq = _equality(model, graph, x, zt, zf)
        w = _workloads(model, graph, x, zt, zf)
        # one fresh process per implementation and workload (see _timing_probe)
        timing = {f"{impl}_{kind}": _run_probe(f"time:{impl},{kind},{batch},{size},{threads},{repeats}", threads)
                  for kind in ("train", "infer") for impl in ("ref", "reftuned", "our")}
        f_fwd = conv_flops_forward(model, size, size)
        row: dict = {"equality": eq, "timing": timing}
        for kind, flops in (("train", 6 * f_fwd), ("infer", 2 * f_fwd)):
            for impl in ("ref", "our"):
                t = timing[f"{impl}_{kind}"]
                row[f"{impl}_{kind}_per_s"] = batch / t["wall_s"]
                row[f"{impl}_{kind}_per_s_cpu"] = batch / t["cpu_s"]
                row[f"{impl}_{kind}_gflops_cpu"] = batch * flops / t["cpu_s"] / 1e9
            row[f"ratio_{kind}"] = timing[f"ref_{kind}"]["wall_s"] / timing[f"our_{kind}"]["wall_s"]
            row[f"ratio_{kind}_cpu"] = timing[f"ref_{kind}"]["cpu_s"] / timing[f"our_{kind}"]["cpu_s"]
            # the stricter comparison: the reference with the same allocator tuning as ours
            row[f"reftuned_{kind}_per_s"] = batch / timing[f"reftuned_{kind}"]["wall_s"]
            row[f"ratio_{kind}_vs_tuned_ref"] = timing[f"reftuned_{kind}"]["wall_s"] / timing[f"our_{kind}"]["wall_s"]
        if memory:
            for impl in ("ref", "our"):
                for kind in ("train", "infer"):
                    probe = _run_probe(f"{impl},{kind},{batch},{size},{threads}", threads)
                    row[f"{impl}_{kind}_peak_mb"] = probe["peak_mb"]
            probe = _run_probe(f"oursaving,train,{batch},{size},{threads}", threads)
            row["our_saving_train_peak_mb"] = probe["peak_mb"]
        result["batches"][str(batch)] = row
        log(_format_row(batch, row, memory))
        del model, graph, x, w
    if volume:
        result["volume"] = {impl: _run_probe(f"{impl},volume,16,{size},{threads}", threads) for impl in ("ref", "our")}
        v = result["volume"]
        log(f"volume {size}x{size}x155, fuse + decompose, 16 slices/batch: reference {v['ref']['wall_s']:.1f} s "
            f"(cpu {v['ref']['cpu_s']:.1f} s, +{v['ref']['peak_mb']:.0f} MB), ours {v['our']['wall_s']:.1f} s "
            f"(cpu {v['our']['cpu_s']:.1f} s, +{v['our']['peak_mb']:.0f} MB)")
    key = "8" if "8" in result["batches"] else next(iter(result["batches"]))
    b = result["batches"][key]
    result["ratios"] = {"train": round(b["ratio_train"], 3), "infer": round(b["ratio_infer"], 3),
                        "train_cpu": round(b["ratio_train_cpu"], 3), "infer_cpu": round(b["ratio_infer_cpu"], 3),
                        "train_vs_tuned_reference": round(b["ratio_train_vs_tuned_ref"], 3),
                        "infer_vs_tuned_reference": round(b["ratio_infer_vs_tuned_ref"], 3),
                        "batch": int(key)}
    log(f"peak fp32: {peak['formula']} = {threads} x {peak['ghz']:.2f} x 32 = {peak['peak_gflops']} GFLOP/s"
        + (f" (full-width AVX-512 FMA: x 64 = {peak['peak_gflops_avx512']})" if "peak_gflops_avx512" in peak else ""))
    log(f"ratios at batch {key}: train {b['ratio_train']:.2f}x (cpu {b['ratio_train_cpu']:.2f}x), "
        f"fuse+decompose {b['ratio_infer']:.2f}x (cpu {b['ratio_infer_cpu']:.2f}x); against the reference with "
        f"our allocator tuning: train {b['ratio_train_vs_tuned_ref']:.2f}x, "
        f"fuse+decompose {b['ratio_infer_vs_tuned_ref']:.2f}x")
    return result


def _format_row(batch: int, r: dict, memory: bool) -> str:
    eq = r["equality"]
    lines = [f"batch {batch}: loss ref {eq['loss_ref']:.6f} ours {eq['loss_ours']:.6f} "
             f"(|diff| {eq['loss_abs_diff']:.1e}), fused max |diff| {eq['fused_max_abs_diff']:.1e}",
             f"  {'':16s} {'reference':>12s} {'ours':>12s} {'ratio':>7s} {'ratio(cpu)':>10s} "
             f"{'GFLOP/s ref/ours (cpu)':>24s}" + ("   peak MB ref/ours" if memory else "")]
    for kind, label in (("train", "train img/s"), ("infer", "fuse+dec pairs/s")):
        mem = f"   {r[f'ref_{kind}_peak_mb']:.0f} / {r[f'our_{kind}_peak_mb']:.0f}" if memory else ""
        if memory and kind == "train":
            mem += f" (memory-saving backprop: {r['our_saving_train_peak_mb']:.0f})"
        lines.append(f"  {label:16s} {r[f'ref_{kind}_per_s']:12.2f} {r[f'our_{kind}_per_s']:12.2f} "
                     f"{r[f'ratio_{kind}']:6.2f}x {r[f'ratio_{kind}_cpu']:9.2f}x "
                     f"{r[f'ref_{kind}_gflops_cpu']:11.1f} / {r[f'our_{kind}_gflops_cpu']:.1f}{mem}"
                     f"   [reference with our allocator tuning: {r[f'reftuned_{kind}_per_s']:.2f}/s, "
                     f"ratio {r[f'ratio_{kind}_vs_tuned_ref']:.2f}x]")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Levers, one at a time


def run_levers(batch: int = 8, repeats: int = 5, threads: int = 1, size: int = 240,
               log: Callable[[str], None] = print) -> dict:
    """Switch each lever off (or on) alone against the full fast path; interleaved medians."""
    import torch

    from ..device import tune_cpu_allocator
    from ..losses import FusionINNLoss, decomposition_loss, fusion_loss, mmd_multiscale
    from ..models import ExecutionOptions
    from .reference import freia_decompose_tensor, freia_fuse_tensor, freia_training_pass

    torch.set_num_threads(threads)
    model, graph, x, zt, zf = _setup(batch, size)
    w = _workloads(model, graph, x, zt, zf)
    loss_fn = FusionINNLoss()

    def freia_train():  # the FusionINN's own FrEIA modules + FusionINNLoss
        model.zero_grad(set_to_none=True)
        loss, _ = loss_fn(x, *freia_training_pass(model, x, zf), z_target=zt)
        loss.backward()

    def freia_infer():
        with torch.no_grad():
            fused, _ = freia_fuse_tensor(model, x)
            freia_decompose_tensor(model, fused, zf)

    def fast_with_old_loss():  # the loss from its parts: one SSIM filtering pass per term
        model.zero_grad(set_to_none=True)
        fused, z, dec = model.fused_and_decomposed_for_training(x, zf)
        lw = loss_fn.weights
        l_fus, _ = fusion_loss(fused, x, lw)
        l_dec, _ = decomposition_loss(dec, x, lw)
        l_lat = mmd_multiscale(z.reshape(z.shape[0], -1), zt, lw.mmd_scales)
        (lw.forward * (l_fus + lw.latent * l_lat) + (1 - lw.forward) * l_dec).backward()

    def fast_no_grad_infer():
        with torch.no_grad():
            fused, _latent = model.fuse_tensor(x)
            model.decompose_tensor(fused, zf)

    def state(alloc: bool, thr: int = threads, **options):
        def prep():
            tune_cpu_allocator(alloc)
            model.options = ExecutionOptions(**options)
            torch.set_num_threads(thr)
        return prep

    variants = {
        "reference (FrEIA GraphINN, original loss)": (w["ref_train"], w["ref_infer"], state(False)),
        "reference + tuned allocator": (w["ref_train"], w["ref_infer"], state(True)),
        "FusionINN module (FrEIA) + FusionINNLoss": (freia_train, freia_infer, state(False)),
        "fast path, all levers": (w["our_train"], w["our_infer"], state(True)),
        "fast path, default allocator": (w["our_train"], w["our_infer"], state(False)),
        "fast path, NCHW convolutions": (w["our_train"], w["our_infer"], state(True, channels_last=False)),
        "fast path, the loss from its parts (2 SSIM passes)": (fast_with_old_loss, None, state(True)),
        "fast path, no_grad not inference_mode": (None, fast_no_grad_infer, state(True)),
        "fast path, memory-saving backprop (default allocator)": (w["our_train"], None,
                                                                  state(False, memory_saving=True)),
        "fast path, no native fused subnet": (None, w["our_infer"], state(True, native=False)),
        "fast path, no native training kernels": (w["our_train"], None, state(True, native=False)),
        "fast path, channels-last coupling slices": (w["our_train"], w["our_infer"],
                                                     state(True, contiguous_coupling=False)),
    }
    if threads == 1 and (os.cpu_count() or 1) > 1:
        variants["fast path, 2 threads"] = (w["our_train"], w["our_infer"], state(True, thr=2))
    out: dict = {"batch": batch, "threads": threads, "size": size, "repeats": repeats, "variants": {}}
    for kind, pos in (("train", 0), ("infer", 1)):
        sel = {name: (v[pos], v[2]) for name, v in variants.items() if v[pos] is not None}
        res = _interleaved(sel, repeats)
        for name, t in res.items():
            out["variants"].setdefault(name, {})[kind] = t
    state(False)()
    base = out["variants"]["fast path, all levers"]
    log(f"levers at batch {batch}, {threads} thread(s), medians of {repeats} interleaved runs "
        "(seconds per step; wall / cpu; slowdown vs all levers on cpu time)")
    for name, v in out["variants"].items():
        cells = []
        for kind in ("train", "infer"):
            if kind in v:
                rel = v[kind]["cpu_s"] / base[kind]["cpu_s"]
                cells.append(f"{kind} {v[kind]['wall_s']:6.3f} / {v[kind]['cpu_s']:6.3f} s ({rel:4.2f}x)")
            else:
                cells.append(f"{kind} {'-':>26s}")
        log(f"  {name:44s} " + "   ".join(cells))
    return out


# --------------------------------------------------------------------------------------------------
# CLI


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    from ..inputs import positive_int

    p = parser or argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", default="1,8,64", help="comma-separated batch sizes (default 1,8,64)")
    p.add_argument("--repeats", type=positive_int, default=5, help="interleaved timed runs per workload (median)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads for both implementations (default 1)")
    p.add_argument("--size", type=positive_int, default=240, help="image side (even, default 240)")
    p.add_argument("--json", default=None, metavar="FILE", help="write all figures as JSON")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--volume", action="store_true", help="also time a whole 240x240x155 volume pair")
    p.add_argument("--levers", action="store_true", help="measure each lever alone instead of the comparison")
    return p


def parse_batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--batch-sizes must be positive integers separated by commas, got {text!r}")
    return sizes


def run_from_args(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict:
    sizes = parse_batch_sizes(args.batch_sizes)
    if args.size < 16 or args.size % 2:
        raise ValueError(f"--size must be an even number >= 16, got {args.size}")
    if args.repeats < 1 or args.threads < 1:
        raise ValueError("--repeats and --threads must be >= 1")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.levers:
        result = {"levers": run_levers(sizes[0], args.repeats, args.threads, args.size, log)}
    else:
        result = run_speed(sizes, args.repeats, args.threads, args.size, not args.no_memory, args.volume, log)
    result["command"] = " ".join(sys.argv)
    if args.json:
        from ..atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
        log(f"wrote {args.json}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--_probe"]:
        _probe(argv[1])
        return 0
    run_from_args(build_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
