"""Turn the JSON lines of scripts/octave/run_reference.sh into tests/metrics/fixtures/octave_reference.json.

    .venv/bin/python scripts/octave/collect_fixtures.py RESULTS.jsonl [MORE.jsonl ...]

Later lines win over earlier ones for the same (toolbox, metric, images). Image paths are stored relative
to ../shared (the tests read the images from there); values that Octave could not compute are kept with
their error message, since a failing reference is a finding too.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "tests" / "metrics" / "fixtures" / "octave_reference.json"
SOURCES = {
    "mefb": "xingchenzhang/MEFB@9e185bf metrics/metrics<METRIC>.m",
    "liu": "zhengliu6699/imageFusionMetrics@d6f7f1a <FUNCTION>.m",
}


def _relative(path: str) -> str:
    marker = "/shared/"
    return path[path.index(marker) + len(marker) :]


def main(paths: list[str]) -> None:
    entries: dict[tuple, dict] = {}
    for p in paths:
        for line in Path(p).read_text().splitlines():
            r = json.loads(line)
            # mefb and mefb-rgb are the same toolbox (the latter hands grey images over as 3 channels)
            key = (r["toolbox"].replace("-rgb", ""), r["metric"], tuple(_relative(f) for f in r["files"]))
            value = r["value"]
            entries[key] = {
                "toolbox": r["toolbox"],
                "metric": r["metric"],
                "images": list(key[2]),
                "value": None if isinstance(value, float) and math.isnan(value) else value,
                "error": r["error"],
                "octave_seconds": r["seconds"],
                "pixel_stats": r["pixel_stats"],
            }
    doc = {
        "about": (
            "Values of the MEFB and Liu-toolbox metrics computed by their unmodified MATLAB files under GNU "
            "Octave 7.3 (octave-image 2.14) with scripts/octave/run_reference.sh; images under ../shared. "
            "value null = the reference gave NaN or failed (see error). pixel_stats: per image "
            "[rows, cols, channels, sum, sum of squares] of what Octave decoded."
        ),
        "sources": SOURCES,
        "values": sorted(entries.values(), key=lambda e: (e["toolbox"], e["metric"], e["images"])),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{len(entries)} values -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
