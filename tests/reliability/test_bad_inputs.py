"""Bad input never crashes or corrupts: every command against the cases of ``cases.py``.

In-process through ``fusioninn.cli.main`` (fast); a few through the installed ``fusioninn`` script to
check the real exit code and that no traceback reaches the terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fusioninn.cli import _available, main

sys.path.insert(0, str(Path(__file__).parent))
from cases import CASES, Case, make_assets, run_case  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXE = REPO / ".venv" / "bin" / "fusioninn"


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return make_assets(tmp_path_factory.mktemp("assets"))


def test_the_suite_covers_thirty_kinds_and_every_command():
    failing = [c for c in CASES if c.code != 0]
    assert len({c.id for c in CASES}) == len(CASES)
    assert len(failing) >= 30
    assert {c.command for c in CASES} >= {"train", "fuse", "decompose", "evaluate", "metrics", "phantom",
                                          "import-original"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, assets):
    if case.command not in _available():
        pytest.skip(f"command {case.command} not available yet")
    res = run_case(case, tmp_path / "case", assets)
    lines = res.stderr.splitlines()
    assert res.code == case.code, (res.code, res.stderr)
    assert "Traceback" not in res.stderr
    if case.code == 0:
        assert res.stderr == "", res.stderr
        if case.check is not None:
            from cases import Ctx

            case.check(Ctx(tmp_path / "case", assets))
        assert not [f for f in res.new_files if ".tmp-" in f]
        assert res.changed_inputs == [], res.changed_inputs
        return
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("fusioninn"), line
    for phrase in case.expect:
        assert phrase.lower() in line.lower(), (phrase, line)
    if res.named is not None:
        assert res.named in line, (res.named, line)
    assert res.new_files == [], res.new_files  # no partial output, temporary file or folder
    assert res.changed_inputs == [], res.changed_inputs  # every input byte-identical afterwards


def test_evil_pickle_is_never_executed(tmp_path, assets):
    case = next(c for c in CASES if c.id == "import-evil-pickle")
    res = run_case(case, tmp_path, assets)
    assert res.code == 2
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "imported.safetensors").exists()


def test_debug_shows_the_traceback(tmp_path):
    from fusioninn.errors import UserInputError

    with pytest.raises(UserInputError, match="not found"):
        main(["--debug", "metrics", str(tmp_path / "a.png"), str(tmp_path / "b.png"), str(tmp_path / "f.png")])


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.mark.skipif(not EXE.exists(), reason="no installed fusioninn script")
def test_real_process_exit_codes_and_no_traceback(tmp_path, assets):
    from cases import Ctx, _evil_pt
    from PIL import Image

    Image.new("L", (16, 16)).save(tmp_path / "a.png")
    (tmp_path / "t.png").write_bytes(b"not an image")
    evil = _evil_pt(Ctx(tmp_path, assets))
    runs = [
        (_cli("fuse", "a.png", "missing.png", "-o", "f.png", cwd=tmp_path), "missing.png"),
        (_cli("import-original", evil, "-o", "x.safetensors", cwd=tmp_path), "evil.pt"),
    ]
    for proc, named in runs:
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.splitlines()) == 1, proc.stderr  # also: no library warning on stderr
        assert named in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "evil.pt", "t.png"]
    proc = _cli("--debug", "metrics", "a.png", "t.png", "a.png", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "t.png" in proc.stderr
