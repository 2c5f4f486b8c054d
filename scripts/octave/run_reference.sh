#!/usr/bin/env bash
# Reference values of the MEFB and Liu-toolbox metrics, computed by their unmodified MATLAB files under
# GNU Octave 7.3 (Debian octave + octave-image), for tests/metrics/fixtures/octave_reference.json.
#
# Exact command used (the toolboxes are read out of their git mirrors into a scratch folder; they are
# never copied into this repository):
#   mkdir -p /tmp/refcode/mefb /tmp/refcode/liu
#   git -C <MEFB mirror> archive HEAD metrics | tar -x -C /tmp/refcode/mefb        # xingchenzhang/MEFB 9e185bf
#   git -C <imageFusionMetrics mirror> archive HEAD | tar -x -C /tmp/refcode/liu   # zhengliu6699/imageFusionMetrics d6f7f1a
#   unzip -q /tmp/refcode/liu/matlabPyrTools.zip -d /tmp/refcode/liu/pyr           # for metricPWW (its .m corrDn)
#   OMP_NUM_THREADS=1 nice -n 10 scripts/octave/run_reference.sh /tmp/refcode /tmp/octave-ref/results.jsonl [PHASE...]
#   .venv/bin/python scripts/octave/collect_fixtures.py /tmp/octave-ref/results.jsonl
#
# PHASE: oracle (the 240x240 triplets of ../shared/oracle/cases; MEF_SSIM needs colour, so it sees them
# as three equal channels), vifb (two 320x240 VIFB pairs, VI colour and IR grey, every metric but FMI;
# MEFB sees the IR image as three equal channels), fmi (MEFB's FMI on the oracle triplets: about 10-20 min each); default: all three.
# One Octave process per value; each prints one JSON line (see reference_value.m), appended to the output.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="$(cd "$here/../../../shared" && pwd)"
refcode="$1"; out="$2"; shift 2
phases=("${@:-oracle vifb fmi}")
phases=(${phases[@]})
mkdir -p "$(dirname "$out")"

mefb_metrics=(Cross_entropy Entropy NMI Psnr Qncie TE Avg_gradient Edge_intensity Qabf Qp SD
              Spatial_frequency Qc Qw Qy MEF_SSIM Qcb Qcv VIF)
liu_metrics=(metricMI:1 metricMI:2 metricMI:3 metricWang metricXydeas metricZheng metricZhao
             metricPeilla:1 metricPeilla:2 metricPeilla:3 metricCvejic:1 metricCvejic:2 metricYang
             metricChen metricChenBlum ssim_index metricPWW)

one() {  # toolbox a b f metric
  local dir="$refcode/mefb/metrics"  # toolbox mefb or mefb-rgb
  [ "$1" = liu ] && dir="$refcode/liu"
  octave --no-gui --norc -q "$here/reference_value.m" "$1" "$dir" "$2" "$3" "$4" "$5" 2>/dev/null \
    | grep -o '{"toolbox".*' >> "$out" || echo "failed: $*" >&2
}

triplets() {  # phase -> lines "a b f"
  case "$1" in
    oracle|fmi)
      for c in phantom shapes; do
        d="$shared/oracle/cases/$c"; echo "$d/a.png $d/b.png $d/fused.png"
      done ;;
    vifb)
      v="$shared/data/vifb-sample"
      for p in walking:ADF peopleshadow:SeAFusion; do
        echo "$v/input/VI/${p%%:*}.jpg $v/input/IR/${p%%:*}.jpg $v/fused/${p%%:*}_${p##*:}.jpg"
      done ;;
  esac
}

for phase in "${phases[@]}"; do
  triplets "$phase" | while read -r a b f; do
    if [ "$phase" = fmi ]; then
      one mefb "$a" "$b" "$f" FMI
      continue
    fi
    if [ "$phase" = vifb ]; then  # colour VI, grey IR: MEFB's wrappers need three channels each
      for m in "${mefb_metrics[@]}"; do one mefb-rgb "$a" "$b" "$f" "$m"; done
    else
      for m in "${mefb_metrics[@]}"; do
        if [ "$m" = MEF_SSIM ]; then one mefb-rgb "$a" "$b" "$f" "$m"; else one mefb "$a" "$b" "$f" "$m"; fi
      done
    fi
    for m in "${liu_metrics[@]}"; do one liu "$a" "$b" "$f" "$m"; done
  done
done
