"""The README's Python example runs as written, with the shipped weights."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    x, exact = namespace["x"], namespace["exact"]
    assert np.abs(exact.x1 - x[:, 0]).max() <= 1e-5
    assert np.abs(exact.x2 - x[:, 1]).max() <= 1e-5
    assert namespace["d"].std.shape == (4, 2, 240, 240)


def test_shipped_weights_load_and_decompose_well():
    import fusioninn

    model = fusioninn.load_pretrained()
    x = fusioninn.phantom_slices(4, seed=31337).images
    fused, _ = model.fuse(x[:, 0], x[:, 1])
    d = model.decompose(fused, seed=0)
    import torch

    from fusioninn.metrics.ssim import ssim

    s1 = float(ssim(torch.from_numpy(d.x1[:, None]), torch.from_numpy(x[:, :1])))
    s2 = float(ssim(torch.from_numpy(d.x2[:, None]), torch.from_numpy(x[:, 1:])))
    assert s1 > 0.9 and s2 > 0.9, (s1, s2)


@pytest.mark.slow
def test_readme_commands_run(tmp_path):
    """Every `fusioninn` line of the README's command block runs (except import-original, which needs a
    checkpoint of the original code)."""
    import os
    import subprocess
    import sys

    text = README.read_text()
    block = re.search(r"```bash\n(# write 2 phantom subjects.*?)```", text, flags=re.S).group(1)
    lines = [ln for ln in block.replace("\\\n", " ").splitlines() if ln and not ln.startswith("#")]
    script = "\n".join(["set -e", *[ln for ln in lines if "import-original" not in ln]])
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
