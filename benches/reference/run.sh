#!/usr/bin/env bash
# Runs diffgen's molecule benchmark and the PyTorch reference side by side and prints the
# ratios. PyTorch is needed for this script only: PYTHON may point at a venv with torch 2.9.
#   benches/reference/run.sh [steps]
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-5}
python=${PYTHON:-python3}
cargo build --release --quiet
ours=$(./target/release/diffgen bench --modality molecule --train-steps "$steps" --batch-size 64)
theirs=$("$python" benches/reference/egnn_edm.py --steps "$steps" --batch-size 64)
echo "$ours"
echo "$theirs"
python3 - "$ours" "$theirs" <<'PY'
import re, sys
ours, theirs = sys.argv[1], sys.argv[2]
def grab(text, size, extra=""):
    for line in text.splitlines():
        if f"{size} train step" in line.replace("×", "x") and extra in line:
            return float(line.split()[-1])
for size in ["4x128", "9x256"]:
    t = grab(theirs, size)
    o = grab(ours, size, "Shuffled")
    b = grab(ours, size, "BySize")
    if t and o:
        print(f"{size}: diffgen {o:.3f} s/step (random batches), PyTorch {t:.3f} s/step: PyTorch/diffgen = {t / o:.2f}")
    if t and b:
        print(f"{size}: diffgen {b:.3f} s/step (size-bucketed batches): PyTorch/diffgen = {t / b:.2f}")
PY
