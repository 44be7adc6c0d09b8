#!/usr/bin/env python3
"""PyTorch side of `cargo run --release -p diffgen-image --example unet_layers`: the course
UNet's building blocks at its training shapes (batch 64), forward alone and forward + backward,
median milliseconds. The attention block is the one of unet_course.py."""
import argparse
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_course import Attention  # noqa: E402


def median_ms(reps, f):
    f()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f()
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    b = 64
    cases = [
        ("conv3x3 64→64 28×28", (b, 64, 28, 28), lambda: nn.Conv2d(64, 64, 3, padding=1)),
        ("conv3x3 128→128 14×14", (b, 128, 14, 14), lambda: nn.Conv2d(128, 128, 3, padding=1)),
        ("conv3x3 stride 2 64→64 28×28", (b, 64, 28, 28), lambda: nn.Conv2d(64, 64, 3, stride=2, padding=1)),
        ("group norm 32, 64 ch 28×28", (b, 64, 28, 28), lambda: nn.GroupNorm(32, 64)),
        ("silu 64 ch 28×28", (b, 64, 28, 28), lambda: nn.SiLU()),
        ("group norm + silu 64 ch 28×28", (b, 64, 28, 28), lambda: nn.Sequential(nn.GroupNorm(32, 64), nn.SiLU())),
        ("attention 128 ch 14×14, 16 heads", (b, 128, 14, 14), lambda: Attention(128)),
    ]
    print(f"{'layer (batch 64)':<36} {'forward ms':>12} {'fwd+bwd ms':>16}")
    for name, shape, make in cases:
        layer = make()
        x = torch.randn(shape)
        with torch.no_grad():
            forward = median_ms(a.reps, lambda: layer(x))
        xg = torch.randn(shape, requires_grad=True)

        def both():
            xg.grad = None
            layer(xg).sum().backward()

        print(f"{name:<36} {forward:>12.2f} {median_ms(a.reps, both):>16.2f}")


if __name__ == "__main__":
    main()
