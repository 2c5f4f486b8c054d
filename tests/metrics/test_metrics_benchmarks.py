"""The catalogue speed benchmark runs and writes the documented JSON (timings are never asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def test_catalogue_speed_script_writes_json(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("metrics_catalogue_speed", BENCH / "metrics_catalogue_speed.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "metrics_catalogue_speed", module)
    spec.loader.exec_module(module)
    out = tmp_path / "speed.json"
    assert module.main(["--repeats", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    from fusioninn.metrics import registry

    assert set(data["keys"]) == set(registry.catalogue())
    assert set(data["groups"]) == {"paper", "vifb", "all"}
    assert data["budgets"]["vifb"]["budget_ms"] == 100.0 and data["budgets"]["all"]["budget_ms"] == 400.0
    alone = sum(data["keys"][k]["cpu_median_ms"] for k in registry.group_keys("all"))
    assert data["budgets"]["all"]["keys_alone_cpu_median_ms"] == alone  # the side-by-side column
    assert data["machine"]["allocator"].startswith("tuned")
    printed = capsys.readouterr().out
    assert "budget vifb (13 keys)" in printed and "its keys one by one" in printed
