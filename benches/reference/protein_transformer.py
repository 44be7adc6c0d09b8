#!/usr/bin/env python3
"""PyTorch reference for `diffgen bench --modality protein-angles`: diffgen's FoldingDiff-style
backbone denoiser (crates/diffgen-protein/src/model.rs) at the size of
configs/protein-cath.toml, written in plain PyTorch, with the same training step and DDPM
sampler as the Rust bench (`bench_impl` in crates/diffgen-protein/src/lib.rs).

The model: six angles per residue → Linear(6, 128); the noise level t/T as 64 sinusoidal
features (frequencies 10000^(−i/32), t scaled by 1000) → Linear(64, 128), SiLU, Linear(128, 128);
4 pre-norm transformer layers, each adding its own Linear(128, 128) of the time embedding to
its input, attention with 4 heads plus a learned bias per head for the offset j − i clipped to
±32 (an Embedding(65, 4)) and a key mask of −1e4 on padding, then a GELU feed-forward
128 → 256 → 128; final LayerNorm, Linear(128, 6), times the residue mask.

The step: cosine schedule (T = 1000, EDM's discretisation, so level 0 is slightly noisy and t
is drawn from 0..=1000), ε ~ N(0, 1) on real residues, x_t = wrap(α·x_0 + σ·ε) to [−π, π),
v-prediction (target α·ε − σ·x_0), MSE averaged over real residues × 6 angles per chain and
then over the batch; AdamW (lr 5e-4 with the config's warm-up, weight decay 0), gradient norm
clipped at 1.0, EMA 0.999 with warm-up. Sampling: ancestral DDPM over `--sample-steps`
evenly spaced levels of the EMA model, each state wrapped to [−π, π), plus the final call that
maps level 0 to x̂_0 (as diffgen's sampler does for schedules with σ_0 > 0).

Inputs are random angles, uniform in [−π, π), chains of one length (128): speed does not
depend on the data. Prints the parameter count, train steps/s (after one warm-up step, with a
checkpoint write at the end as the Rust bench times one) and backbones/s. Written for diffgen
following its Rust model; not FoldingDiff's code. Not run in CI (PyTorch is not a dependency).
    python3 benches/reference/protein_transformer.py --steps 5 --batch-size 32 --threads 2
"""
import argparse
import copy
import math
import os
import tempfile
import time

import torch
from torch import nn
import torch.nn.functional as F

# configs/protein-cath.toml
FEATURES = 6
HIDDEN = 128
LAYERS = 4
HEADS = 4
FEED_FORWARD = 256
TIME_FEATURES = 64
MAX_RELATIVE = 32
T = 1000
LR = 5e-4
WARMUP_STEPS = 500
FINAL_FACTOR = 0.05
MAX_GRAD_NORM = 1.0
EMA_DECAY = 0.999
EMA_WARMUP_POWER = 2.0 / 3.0


def wrap(x):
    """Elementwise to [−π, π)."""
    return x - torch.floor((x + math.pi) / (2 * math.pi)) * (2 * math.pi)


def cosine_alpha_bar(steps=T, offset=0.008):
    """Nichol & Dhariwal's cosine ᾱ_t for t = 0..=T in EDM's discretisation (β ≤ 0.999)."""
    n = steps + 2
    x = torch.linspace(0, n, n, dtype=torch.float64)
    f = torch.cos((x / n + offset) / (1 + offset) * math.pi / 2) ** 2
    f = f / f[0]
    beta = (1 - f[1:] / f[:-1]).clamp(0, 0.999)
    return torch.cumprod(1 - beta, 0)


class Block(nn.Module):
    """Pre-norm transformer layer with a relative-position attention bias."""

    def __init__(self, h=HIDDEN, heads=HEADS, ff=FEED_FORWARD, max_relative=MAX_RELATIVE):
        super().__init__()
        self.heads = heads
        self.time = nn.Linear(h, h)
        self.norm_attention = nn.LayerNorm(h)
        self.query, self.key, self.value, self.attention_out = (nn.Linear(h, h) for _ in range(4))
        self.relative_bias = nn.Embedding(2 * max_relative + 1, heads)
        self.norm_ff = nn.LayerNorm(h)
        self.ff_in = nn.Linear(h, ff)
        self.ff_out = nn.Linear(ff, h)

    def forward(self, h, time, relative, key_mask):
        b, l, c = h.shape
        dh = c // self.heads
        h = h + self.time(time).unsqueeze(1)
        x = self.norm_attention(h)
        split = lambda y: y.view(b, l, self.heads, dh).transpose(1, 2)  # [B, heads, L, dh]
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        bias = self.relative_bias(relative).permute(2, 0, 1).unsqueeze(0)  # [1, heads, L, L]
        scores = q @ k.transpose(2, 3) / math.sqrt(dh) + bias + key_mask
        attended = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, l, c)
        h = h + self.attention_out(attended)
        return h + self.ff_out(F.gelu(self.ff_in(self.norm_ff(h))))


class ProteinDenoiser(nn.Module):
    def __init__(self, h=HIDDEN, layers=LAYERS, time_features=TIME_FEATURES, max_relative=MAX_RELATIVE):
        super().__init__()
        self.time_features, self.max_relative = time_features, max_relative
        self.input = nn.Linear(FEATURES, h)
        self.time_in = nn.Linear(time_features, h)
        self.time_out = nn.Linear(h, h)
        self.blocks = nn.ModuleList(Block(h) for _ in range(layers))
        self.norm_out = nn.LayerNorm(h)
        self.output = nn.Linear(h, FEATURES)

    def embed(self, t):
        half = self.time_features // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half).float()
        angles = 1000.0 * t[:, None] * freqs[None]
        return torch.cat([angles.sin(), angles.cos()], 1)

    def forward(self, x, t, mask):
        """x [B, L, 6] angles, t [B] in [0, 1], mask [B, L] (1 residue, 0 padding)."""
        b, l, _ = x.shape
        time = self.time_out(F.silu(self.time_in(self.embed(t))))
        h = self.input(x)
        pos = torch.arange(l)
        relative = (pos[None, :] - pos[:, None]).clamp(-self.max_relative, self.max_relative) + self.max_relative
        key_mask = ((mask - 1.0) * 1e4).view(b, 1, 1, l)
        for block in self.blocks:
            h = block(h, time, relative, key_mask)
        return self.output(self.norm_out(h)) * mask.unsqueeze(2)


def lr_at(step, total):
    """Linear warm-up, then cosine decay to FINAL_FACTOR · LR (configs/protein-cath.toml)."""
    if step < WARMUP_STEPS:
        return LR * (step + 1) / WARMUP_STEPS
    progress = min(max((step - WARMUP_STEPS) / max(total - WARMUP_STEPS, 1), 0.0), 1.0)
    return LR * (FINAL_FACTOR + (1 - FINAL_FACTOR) * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def sample(model, b, length, steps, alpha_bar, generator):
    """diffgen's ancestral DDPM on the torus: `steps` evenly spaced levels from T to 0, then
    one call mapping level 0 (σ_0 > 0 for this schedule) to x̂_0. Returns [B, L, 6]."""
    mask = torch.ones(b, length)
    m3 = mask.unsqueeze(2)
    alpha, sigma = alpha_bar.sqrt(), (1 - alpha_bar).clamp(min=0).sqrt()
    levels = [round(k * T / steps) for k in range(steps, -1, -1)]
    x = wrap(torch.randn(b, length, FEATURES, generator=generator) * m3) * m3
    for t, s in zip(levels[:-1], levels[1:]):
        a_t, s_t, a_s, s_s = alpha[t].item(), sigma[t].item(), alpha[s].item(), sigma[s].item()
        v = model(x, torch.full((b,), t / T), mask)
        x0 = a_t * x - s_t * v
        a_ts = a_t / a_s
        var_ts = s_t * s_t - a_ts * a_ts * s_s * s_s
        mean = (a_ts * s_s * s_s / (s_t * s_t)) * x + (a_s * var_ts / (s_t * s_t)) * x0
        std = math.sqrt(max(var_ts * s_s * s_s / (s_t * s_t), 0.0))
        if std > 0:
            mean = mean + std * torch.randn(b, length, FEATURES, generator=generator) * m3
        x = wrap(mean) * m3
    v = model(x, torch.zeros(b), mask)
    return wrap(alpha[0].item() * x - sigma[0].item() * v) * m3


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5, help="train steps timed (after one warm-up)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--sample-steps", type=int, default=100)
    p.add_argument("--num-samples", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--length", type=int, default=128)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    alpha_bar = cosine_alpha_bar()  # float64, as diffgen's tables
    name = f"pytorch protein transformer {LAYERS}x{HIDDEN}"

    model = ProteinDenoiser()
    print(f"{name} parameters  {sum(q.numel() for q in model.parameters())}")
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    # As the Rust bench: 256 random chains of `length`, batches taken in turn.
    chains = (torch.rand(256, a.length, FEATURES, generator=generator) * 2 - 1) * math.pi
    b, total = a.batch_size, a.steps + 1

    def train_step(step):
        rows = torch.arange(step * b, (step + 1) * b) % len(chains)
        x0 = chains[rows]
        mask = torch.ones(b, a.length)
        m3 = mask.unsqueeze(2)
        t = torch.randint(0, T + 1, (b,), generator=generator)
        ab = alpha_bar[t].float().view(b, 1, 1)
        al, si = ab.sqrt(), (1 - ab).sqrt()
        eps = torch.randn(b, a.length, FEATURES, generator=generator) * m3
        x_t = wrap(al * x0 + si * eps) * m3
        target = al * eps - si * x0
        v = model(x_t, t.float() / T, mask)
        loss = (((v - target) ** 2) * m3).sum((1, 2)) / (mask.sum(1).clamp(min=1) * FEATURES)
        loss = loss.mean()
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"non-finite loss at step {step + 1}")
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        opt.step()
        decay = min(EMA_DECAY, 1 - (1 + step) ** -EMA_WARMUP_POWER)
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)

    if a.steps > 0:
        train_step(0)  # warm-up
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            for step in range(1, total):
                train_step(step)
            # The Rust bench's time includes writing its checkpoint (model, EMA, optimiser).
            torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict()},
                       os.path.join(tmp, "checkpoint.pt"))
            secs = time.perf_counter() - start
        print(f"{name} train steps/s, batch {b}, length {a.length}  {a.steps / secs:.4f}")
    if a.num_samples > 0:
        ema.eval()
        start = time.perf_counter()
        sample(ema, a.num_samples, a.length, a.sample_steps, alpha_bar, generator)
        secs = time.perf_counter() - start
        print(f"{name} backbones/s, {a.sample_steps} DDPM steps, batch {a.num_samples}  {a.num_samples / secs:.4f}")


if __name__ == "__main__":
    main()
