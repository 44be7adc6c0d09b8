#!/usr/bin/env python3
"""PyTorch reference for `diffgen bench --modality image`: the course's UNet (diffusers'
UNet2DModel layout: block_out_channels (64, 128, 128), two residual blocks per level,
GroupNorm 32, SiLU, attention with 8-channel heads at the two lower levels, mid block
resnet-attention-resnet, 11 class embeddings) written in plain PyTorch, the same layout as
crates/diffgen-image/src/unet.rs, and its DDPM ε-loss train step (linear β 1e-4 → 0.02,
T = 400, Adam).

Prints the parameter count and train steps/s at the given batch (28×28 grey), and images/s
for a few network calls extrapolated to --sample-steps, as the Rust bench does. Written for
diffgen; not diffusers' code. Not run in CI (PyTorch is not a dependency).
    python3 benches/reference/unet_course.py --steps 5 --batch-size 64 --threads 2
"""
import argparse
import math
import time

import torch
from torch import nn
import torch.nn.functional as F


def groups(c, most=32):
    return next(g for g in range(min(most, c), 0, -1) if c % g == 0)


class Resnet(nn.Module):
    def __init__(self, cin, cout, temb):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x))) + self.time(e)[:, :, None, None]
        return self.conv2(F.silu(self.norm2(h))) + self.shortcut(x)


class Attention(nn.Module):
    def __init__(self, c, head_dim=8):
        super().__init__()
        self.heads = c // min(head_dim, c)
        self.norm = nn.GroupNorm(groups(c), c)
        self.q, self.k, self.v, self.out = (nn.Linear(c, c) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.norm(x).reshape(b, c, h * w).transpose(1, 2)
        split = lambda y: y.reshape(b, h * w, self.heads, -1).transpose(1, 2)
        q, k, v = split(self.q(t)), split(self.k(t)), split(self.v(t))
        a = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(q.shape[-1]), dim=-1) @ v
        a = a.transpose(1, 2).reshape(b, h * w, c)
        return self.out(a).transpose(1, 2).reshape(b, c, h, w) + x


class UNet(nn.Module):
    def __init__(self, channels=1, blocks=(64, 128, 128), attn=(False, True, True), layers=2, classes=10):
        super().__init__()
        c0, temb = blocks[0], 4 * blocks[0]
        self.c0 = c0
        self.conv_in = nn.Conv2d(channels, c0, 3, padding=1)
        self.time1, self.time2 = nn.Linear(c0, temb), nn.Linear(temb, temb)
        self.label = nn.Embedding(classes + 1, temb)
        skips, cur = [c0], c0
        self.down = nn.ModuleList()
        for i, c in enumerate(blocks):
            level = nn.Module()
            level.resnets, level.attns = nn.ModuleList(), nn.ModuleList()
            for _ in range(layers):
                level.resnets.append(Resnet(cur, c, temb))
                level.attns.append(Attention(c) if attn[i] else nn.Identity())
                cur = c
                skips.append(c)
            level.downsample = nn.Conv2d(c, c, 3, stride=2, padding=1) if i + 1 < len(blocks) else None
            if level.downsample is not None:
                skips.append(c)
            self.down.append(level)
        self.mid1, self.mid_attn, self.mid2 = Resnet(cur, cur, temb), Attention(cur), Resnet(cur, cur, temb)
        self.up = nn.ModuleList()
        for i in reversed(range(len(blocks))):
            c = blocks[i]
            level = nn.Module()
            level.resnets, level.attns = nn.ModuleList(), nn.ModuleList()
            for _ in range(layers + 1):
                level.resnets.append(Resnet(cur + skips.pop(), c, temb))
                level.attns.append(Attention(c) if attn[i] else nn.Identity())
                cur = c
            level.upsample = nn.Conv2d(c, c, 3, padding=1) if i > 0 else None
            self.up.append(level)
        self.norm_out = nn.GroupNorm(groups(c0), c0)
        self.conv_out = nn.Conv2d(c0, channels, 3, padding=1)

    def embed(self, t, y):
        half = self.c0 // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half) / half)
        ang = 1000.0 * t[:, None] * freqs[None]
        e = self.time2(F.silu(self.time1(torch.cat([ang.sin(), ang.cos()], 1))))
        return F.silu(e + self.label(y))

    def forward(self, x, t, y):
        e = self.embed(t, y)
        h = self.conv_in(x)
        skips = [h]
        for level in self.down:
            for r, a in zip(level.resnets, level.attns):
                h = a(r(h, e))
                skips.append(h)
            if level.downsample is not None:
                h = level.downsample(h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, e)), e)
        for level in self.up:
            for r, a in zip(level.resnets, level.attns):
                h = a(r(torch.cat([h, skips.pop()], 1), e))
            if level.upsample is not None:
                h = level.upsample(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--num-samples", type=int, default=256)
    p.add_argument("--sample-steps", type=int, default=100)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    T = 400
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    abar = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)]).float()
    model = UNet()
    print(f"parameters {sum(p.numel() for p in model.parameters())}")
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    b = a.batch_size

    def step():
        x0 = torch.rand(b, 1, 28, 28) * 2 - 1
        t = torch.randint(1, T + 1, (b,))
        eps = torch.randn_like(x0)
        ab = abar[t][:, None, None, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        loss = F.mse_loss(model(xt, t.float() / T, torch.arange(b) % 11), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    secs = time.perf_counter() - start
    print(f"train steps/s (batch {b}) {a.steps / secs:.4f}")
    model.eval()
    timed = min(a.sample_steps, 5)
    x = torch.randn(a.num_samples, 1, 28, 28)
    y = torch.arange(a.num_samples) % 10
    with torch.no_grad():
        start = time.perf_counter()
        for k in range(timed):
            model(x, torch.full((a.num_samples,), 1 - k / T), y)
        per_call = (time.perf_counter() - start) / timed
    print(f"images/s ({a.sample_steps} steps, batch {a.num_samples}) {a.num_samples / (per_call * a.sample_steps):.4f}")


if __name__ == "__main__":
    main()
