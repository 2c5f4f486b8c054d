#!/usr/bin/env bash
# Regenerate the comparison tables and figures of docs/results.md (issue 5). Needs the shipped weights
# (FusionINN and the CNN baselines) and, for the real-data rows, ../shared/data/brats-samples.
# Usage: scripts/make_results.sh [THREADS]
set -euo pipefail
THREADS=${1:-2}
S=${SAMPLES:-../shared/data/brats-samples}
OUT=docs/results
F=".venv/bin/fusioninn"
run() { local name=$1; shift; /usr/bin/time -f "$name: %e s wall" "$F" benchmark --threads "$THREADS" --quiet --out "$OUT/$name" "$@"; }
run phantom-t1ce-flair --data phantom:50:4242
run phantom-t1ce-flair-reference --data phantom:50:4242 --protocol reference
run phantom-adc-flair --data phantom:50:4242 --pair adc,flair
run phantom-t1-t2 --data phantom:50:4242 --pair t1,t2
if [ -d "$S/TCGA-FG-6692" ]; then
  run fg6692-t1ce-flair --data "$S/TCGA-FG-6692"
  run fg6692-t1ce-flair-reference --data "$S/TCGA-FG-6692" --protocol reference
  run fg6692-t1-t2 --data "$S/TCGA-FG-6692" --pair t1,t2
fi
