#!/usr/bin/env bash
# Runs diffgen's benchmarks and the PyTorch references side by side and prints the ratios.
# PyTorch is needed for this script only: PYTHON may point at a venv with torch 2.9.
#   benches/reference/run.sh [molecule|image|image-layers|protein|protein-angles|all] [steps]
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}
steps=${2:-5}
python=${PYTHON:-python3}
cargo build --release --quiet
diffgen=./target/release/diffgen

molecule() {
    local ours ours_long theirs
    ours=$($diffgen bench --modality molecule --train-steps "$steps" --batch-size 64 \
        --num-samples 64 --sample-steps 100)
    ours_long=$($diffgen bench --modality molecule --train-steps 0 --num-samples 64 \
        --sample-steps 1000)
    theirs=$("$python" benches/reference/egnn_edm.py --steps "$steps" --batch-size 64 \
        --threads "$(nproc)" --num-samples 64 --sample-steps 100,1000)
    theirs_joint=$("$python" benches/reference/egnn_joint.py --steps "$steps" --batch-size 64 \
        --threads "$(nproc)" --num-samples 64 --sample-steps 100)
    echo "$ours"
    echo "$ours_long"
    echo "$theirs"
    echo "$theirs_joint"
    python3 - "$ours
$ours_long" "$theirs
$theirs_joint" <<'PY'
import sys
ours, theirs = sys.argv[1], sys.argv[2]
# The first line holding every key, read case-blind (diffgen prints "ddpm", PyTorch "DDPM").
def grab(text, *keys):
    for line in text.splitlines():
        if all(k.lower() in line.replace("×", "x").lower() for k in keys):
            return float(line.split()[-1])
for size in ["4x128", "9x256"]:
    t = grab(theirs, size, "train step")
    o = grab(ours, size, "train step", "Shuffled")
    if t and o:
        print(f"EGNN {size} train step, batch 64: diffgen {o:.3f} s, PyTorch {t:.3f} s: diffgen is {t / o:.2f}x faster")
for steps in ["100", "1000"]:
    t = grab(theirs, "molecules/s", f" {steps} DDPM")
    o = grab(ours, "molecules/s", f" {steps} DDPM", "bundled:edm")
    if t and o:
        print(f"EGNN 4x64 (EDM's QM9 model) molecules/s at {steps} DDPM steps (64 molecules): diffgen {o:.2f}, PyTorch {t:.2f}: diffgen is {o / t:.2f}x faster")
t = grab(theirs, "joint", "train step")
o = grab(ours, "joint", "train step")
if t and o:
    print(f"joint EGNN 6x128 + pair features 32 train step, batch 64: diffgen {o:.3f} s, PyTorch {t:.3f} s: diffgen is {t / o:.2f}x faster")
t = grab(theirs, "joint", "molecules/s")
o = grab(ours, "molecules/s", " 100 euler", "bundled model")  # the bundled model is the joint one
if t and o:
    print(f"joint EGNN molecules/s at 100 Euler steps (64 molecules): diffgen {o:.2f}, PyTorch {t:.2f}: diffgen is {o / t:.2f}x faster")
PY
}

image() {
    local ours theirs
    ours=$($diffgen bench --modality image --train-steps "$steps" --batch-size 64 \
        --num-samples 64 --sample-steps 100)
    theirs=$("$python" benches/reference/unet_course.py --steps "$steps" --batch-size 64 \
        --threads "$(nproc)" --num-samples 64 --sample-steps 100)
    echo "$ours"
    echo "$theirs"
    ratios "course UNet" "$ours" "$theirs" "train steps/s" "images/s"
}

# ratios LABEL OURS THEIRS KEY…: prints diffgen/PyTorch for each KEY, read as the last number
# on the first line of each output that contains it.
ratios() {
    python3 - "$@" <<'PY'
import sys
label, ours, theirs, keys = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def grab(text, key):
    for line in text.splitlines():
        if key in line:
            return float(line.split()[-1])
for key in keys:
    o, t = grab(ours, key), grab(theirs, key)
    if o and t:
        print(f"{label} {key}: diffgen {o:.4f}, PyTorch {t:.4f}: diffgen/PyTorch = {o / t:.2f}")
PY
}

protein_angles() {
    local ours theirs
    ours=$($diffgen bench --modality protein-angles --train-steps "$steps" --batch-size 32 \
        --num-samples 32 --sample-steps 100)
    theirs=$("$python" benches/reference/protein_transformer.py --steps "$steps" --batch-size 32 \
        --threads "$(nproc)" --num-samples 32 --sample-steps 100)
    echo "$ours"
    echo "$theirs"
    ratios "protein angle transformer 4x128" "$ours" "$theirs" "train steps/s" "backbones/s"
}

protein() {
    local ours theirs
    # `diffgen bench` measures the modality's default config, configs/protein-cath-ca.toml
    # (the chiral recipe); the reference reads the same file.
    ours=$($diffgen bench --modality protein --train-steps "$steps" --batch-size 32 \
        --num-samples 32 --sample-steps 100)
    theirs=$("$python" benches/reference/protein_ca.py --config configs/protein-cath-ca.toml \
        --steps "$steps" --batch-size 32 --threads "$(nproc)" --num-samples 32 --sample-steps 100)
    echo "$ours"
    echo "$theirs"
    ratios "protein Ca transformer 4x128, chiral readout (configs/protein-cath-ca.toml)" \
        "$ours" "$theirs" "train steps/s" "backbones/s"
}

image_layers() {
    cargo build --release --quiet -p diffgen-image --example unet_layers
    ./target/release/examples/unet_layers 5
    "$python" benches/reference/unet_layers.py --reps 5 --threads "$(nproc)"
}

case "$what" in
    molecule) molecule ;;
    image) image ;;
    image-layers) image_layers ;;
    protein) protein ;;
    protein-angles) protein_angles ;;
    all) molecule; image; protein; protein_angles ;;
    *) echo "usage: $0 [molecule|image|image-layers|protein|protein-angles|all] [steps]" >&2; exit 2 ;;
esac
