"""prepare / train --max-steps / evaluate --slices through the command line, streaming vs in memory."""

from __future__ import annotations

import json

import pytest
import torch

from fusioninn.cli import main
from fusioninn.data.prepared import MANIFEST_NAME
from fusioninn.training.checkpoint import load_checkpoint

from .scale_helpers import writable_copy

TRAIN = ["--batch-size", "4", "--crop", "32", "--threads", "1", "--quiet", "--device", "cpu", "--seed", "1"]


def _code(argv: list[str]) -> int:
    """Exit code of a command, whether main returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def _last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def test_prepare_command_reports_and_rejects_bad_input(four_subjects, tmp_path, capsys):
    assert main(["prepare", "--data", str(four_subjects), "--cache", str(tmp_path / "p"), "--quiet"]) == 0
    out = _last_json(capsys.readouterr().out)
    assert out["subjects"] == 4 and out["skipped"] == [] and out["bytes"] > 0
    assert main(["prepare", "--data", "phantom:4", "--cache", str(tmp_path / "q")]) == 2
    assert _code(["prepare", "--data", str(four_subjects), "--cache", str(tmp_path / "p"), "--workers", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("fusioninn prepare: error:") for line in err)
    assert not (tmp_path / "q").exists()


def test_prepare_skips_or_with_strict_refuses_an_unreadable_subject(four_subjects, tmp_path, capsys):
    src = writable_copy(four_subjects, tmp_path / "src")
    bad = sorted(src.iterdir())[0]
    next(bad.glob("*_flair.nii.gz")).write_bytes(b"\x1f\x8b broken")
    assert main(["prepare", "--data", str(src), "--cache", str(tmp_path / "s"), "--strict", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and bad.name in err[0] and "--strict" in err[0]
    assert main(["prepare", "--data", str(src), "--cache", str(tmp_path / "p"), "--quiet", "--workers", "2"]) == 0
    cap = capsys.readouterr()
    assert _last_json(cap.out)["skipped"] == [bad.name]
    assert sum(line.startswith(f"warning: skipping subject {bad.name}") for line in cap.err.splitlines()) == 1
    manifest = json.loads((tmp_path / "p" / MANIFEST_NAME).read_text())
    assert [s["id"] for s in manifest["skipped"]] == [bad.name]


def test_train_on_a_prepared_folder_gives_the_in_memory_weights_and_max_steps_resumes(four_subjects, tmp_path,
                                                                                       capsys):
    assert main(["prepare", "--data", str(four_subjects), "--cache", str(tmp_path / "p"), "--quiet"]) == 0
    assert main(["train", "--data", str(four_subjects), "--out", str(tmp_path / "mem"), "--max-steps", "3",
                 *TRAIN]) == 0
    mem = _last_json(capsys.readouterr().out)
    assert main(["train", "--data", str(tmp_path / "p"), "--out", str(tmp_path / "stream"), "--max-steps", "3",
                 "--workers", "1", *TRAIN]) == 0
    cap = capsys.readouterr()
    assert "streamed from disk" in cap.out
    stream = _last_json(cap.out)
    assert mem["steps"] == stream["steps"] == 3 and stream["stopped"] == "max_steps"
    a = load_checkpoint(tmp_path / "mem" / "last.safetensors")
    b = load_checkpoint(tmp_path / "stream" / "last.safetensors")
    assert a.meta["global_step"] == b.meta["global_step"] == 3
    for k, v in a.model_state.items():  # same slices, same order, same crops: the same weights
        torch.testing.assert_close(v, b.model_state[k], rtol=0, atol=0)
    # resuming with a larger step limit continues to it
    assert main(["train", "--data", str(tmp_path / "p"), "--out", str(tmp_path / "stream"), "--max-steps", "5",
                 "--resume", *TRAIN]) == 0
    assert _last_json(capsys.readouterr().out)["steps"] == 5
    assert load_checkpoint(tmp_path / "stream" / "last.safetensors").meta["global_step"] == 5
    assert _code(["train", "--data", str(tmp_path / "p"), "--out", str(tmp_path / "x"), "--max-steps", "0",
                  *TRAIN]) == 2


def test_train_with_cache_prepares_a_raw_folder_on_the_fly(four_subjects, tmp_path, capsys):
    assert main(["train", "--data", str(four_subjects), "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "r"),
                 "--max-steps", "1", *TRAIN]) == 0
    assert "streamed from disk" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "c" / MANIFEST_NAME).read_text())
    assert manifest["complete"] and len(manifest["subjects"]) == 4


def test_evaluate_all_slices_of_scans_without_segmentations(four_subjects, tmp_path, capsys):
    src = writable_copy(four_subjects, tmp_path / "src")
    for seg in src.glob("*/*_seg.nii.gz"):
        seg.unlink()
    args = ["evaluate", "--data", str(src), "--methods", "average", "--quiet", "--threads", "1"]
    assert main([*args, "--out", str(tmp_path / "e0")]) == 2
    assert "no seg file" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "e1"), "--slices", "all", "--min-brain-fraction", "0.12"]) == 0
    n_memory = json.loads((tmp_path / "e1" / "results.json").read_text())["methods"][0]["n"]
    assert main([*args, "--out", str(tmp_path / "e2"), "--slices", "all", "--min-brain-fraction", "0.12",
                 "--cache", str(tmp_path / "c")]) == 0
    res = json.loads((tmp_path / "e2" / "results.json").read_text())["methods"][0]
    from fusioninn.data.brats import read_brats

    assert res["n"] == n_memory == len(read_brats(src, slices="all", min_brain_fraction=0.12))
    # a prepared folder keeps its own selection; asking it for another one is an error
    assert main(["evaluate", "--data", str(tmp_path / "c"), "--methods", "average", "--quiet", "--threads", "1",
                 "--out", str(tmp_path / "e3")]) == 0
    assert json.loads((tmp_path / "e3" / "results.json").read_text())["methods"][0]["n"] == n_memory
    assert main(["evaluate", "--data", str(tmp_path / "c"), "--methods", "average", "--quiet", "--slices", "tumour",
                 "--out", str(tmp_path / "e4")]) == 2
    assert "asked for" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--slices", "--min-tumour-pixels"])
def test_benchmark_takes_the_slice_options(four_subjects, tmp_path, flag):
    value = "all" if flag == "--slices" else "20"
    assert main(["benchmark", "--data", str(four_subjects), "--methods", "average", "--quiet", "--threads", "1",
                 "--out", str(tmp_path / "b"), flag, value]) == 0
    summary = json.loads((tmp_path / "b" / "benchmark.json").read_text())
    from fusioninn.data.brats import read_brats

    kw = {"slices": "all"} if flag == "--slices" else {"min_tumour_pixels": 20}
    assert summary["pairs"] == len(read_brats(four_subjects, **kw))
    assert (tmp_path / "b" / "comparison.png").exists()


def test_cache_dir_keeps_the_in_memory_decode_cache(four_subjects, tmp_path, capsys):
    args = ["evaluate", "--data", str(four_subjects), "--methods", "average", "--quiet", "--threads", "1"]
    assert main([*args, "--out", str(tmp_path / "e"), "--cache-dir", str(tmp_path / "dc")]) == 0
    assert len(list((tmp_path / "dc").glob("*.images.npy"))) == 4 and not (tmp_path / "dc" / MANIFEST_NAME).exists()
    assert main([*args, "--out", str(tmp_path / "f"), "--cache-dir", str(tmp_path / "dc"),
                 "--cache", str(tmp_path / "c")]) == 2
    assert "exclude each other" in capsys.readouterr().err
