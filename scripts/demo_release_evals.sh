#!/bin/bash
# The four evaluations the demo checkpoint's release gate compares (scripts/ship_demo_checkpoint.py):
# the 12 samples, unseen handwriting faces (data/hw-eval), the old seen/unseen-font splits (data/eval).
# usage: scripts/demo_release_evals.sh WEIGHTS OUTDIR    (README: "The demo checkpoint")
set -euo pipefail
W=$1
O=$2
mkdir -p "$O"
E=(ocrkit eval --device cpu --format json --weights "$W")
"${E[@]}" --images ocrkit/assets/samples --labels ocrkit/assets/samples/labels.tsv >"$O/samples.json"
"${E[@]}" --images data/hw-eval/test_unseen --labels data/hw-eval/test_unseen.tsv >"$O/handwriting.json"
"${E[@]}" --images data/eval/test --labels data/eval/test.tsv >"$O/seen.json"
"${E[@]}" --images data/eval/test_unseen --labels data/eval/test_unseen.tsv >"$O/unseen.json"
