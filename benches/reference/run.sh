#!/usr/bin/env bash
# Runs diffgen's benchmarks and the PyTorch references side by side and prints the ratios.
# PyTorch is needed for this script only: PYTHON may point at a venv with torch 2.9.
#   benches/reference/run.sh [molecule|image|all] [steps]
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}
steps=${2:-5}
python=${PYTHON:-python3}
cargo build --release --quiet
diffgen=./target/release/diffgen

molecule() {
    local ours theirs
    ours=$($diffgen bench --modality molecule --train-steps "$steps" --batch-size 64)
    theirs=$("$python" benches/reference/egnn_edm.py --steps "$steps" --batch-size 64)
    echo "$ours"
    echo "$theirs"
    python3 - "$ours" "$theirs" <<'PY'
import sys
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
}

image() {
    local ours theirs
    ours=$($diffgen bench --modality image --train-steps "$steps" --batch-size 64 \
        --num-samples 64 --sample-steps 100)
    theirs=$("$python" benches/reference/unet_course.py --steps "$steps" --batch-size 64 \
        --threads 2 --num-samples 64 --sample-steps 100)
    echo "$ours"
    echo "$theirs"
    python3 - "$ours" "$theirs" <<'PY'
import sys
ours, theirs = sys.argv[1], sys.argv[2]
def grab(text, key):
    for line in text.splitlines():
        if line.strip().startswith(key):
            return float(line.split()[-1])
for key in ["train steps/s", "images/s"]:
    o, t = grab(ours, key), grab(theirs, key)
    if o and t:
        print(f"course UNet {key}: diffgen {o:.4f}, PyTorch {t:.4f}: diffgen/PyTorch = {o / t:.2f}")
PY
}

case "$what" in
    molecule) molecule ;;
    image) image ;;
    all) molecule; image ;;
    *) echo "usage: $0 [molecule|image|all] [steps]" >&2; exit 2 ;;
esac
