#!/usr/bin/env python3
"""PyTorch reference for `diffgen bench --modality protein`: diffgen's Cα-trace denoiser
(crates/diffgen-protein/src/ca/model.rs, readout.rs, chirality.rs) written in plain PyTorch,
with the same flow-matching training step (crates/diffgen-core/src/process/loss.rs, train/)
and Euler sampler (sampler/euler.rs, driver.rs), timed as crates/diffgen-core/src/pipeline/
bench.rs times them.

The settings: with `--config`, those of a diffgen Cα TOML ([model], [diffusion], [loss],
[training]; diffgen's defaults where a key is absent); without, those of
runs/protein-ca-chiral/config.toml (copied below). `--readout` overrides the config's
readout. `diffgen bench` measures its default config, configs/protein-cath-ca.toml (the
chiral recipe, as runs/protein-ca-chiral), so run.sh passes that file here.

The model (sizes of both configs: hidden 128, 4 layers, 4 heads, feed-forward 256, 64 time
features, offsets clipped to ±32, 16 radial basis functions up to 2 nm): t as 64 sinusoidal
features (frequencies 10000^(−i/32), t scaled by 1000) → Linear(64, 128), SiLU,
Linear(128, 128); the pairwise distances of the noisy trace x and of the previous estimate
(zeros when there is none) each in a Gaussian radial basis exp(−((d − μ_k)/Δ)²),
d = √(|x_i − x_j|² + 1e-8), μ_k = kΔ, Δ = 2/15; one Linear(32, heads·sets) of the two bases
gives every block its own per-chain attention bias (sets = layers, plus one for the
readout when it is not absolute). Residue input: absolute: Linear(6, 128) of [x, previous];
equivariant: for each trace, the basis of the distances to residues i ± 1, 2, 3 and the
basis summed over all residues / 8 (pairs with padding zeroed), Linear(224, 128); chiral:
plus for each trace the (cos, sin, present) of the Cα pseudo-dihedrals of the four windows
of four consecutive residues holding i, Linear(248, 128). 4 pre-norm transformer blocks,
each adding its own Linear(128, 128) of the time embedding, attention with 4 heads biased
by the pair bias plus a learned bias per head for the offset j − i (Embedding(65, 4)) and a
key mask of −1e4 on padding, GELU feed-forward 128 → 256 → 128; final LayerNorm (ε 1e-5).
Output: absolute: Linear(128, 3) × mask. Otherwise a coordinate readout: attention over
residues (query and key Linear(128, 128), its own distance bias and offset Embedding(65, 4))
whose weights average the trace: field_i = Σ_h g_ih (Σ_j w_hij x_j − x_i) + g_i0 x_i
(gates Linear(128, 5), zero-initialised); chiral: plus gates Linear(128, 3) (zero) on the
bonds x_{i+1} − x_i, x_{i−1} − x_i and their normal (cross product over the lengths' product
+ 1e-6); the field masked and centred; x̂₀ = x + field (objective `sample`). Linear(128, 3)
exists in every readout (unused but for the absolute one), as in the Rust model, so the
parameter counts agree. With `[model] fold_class` (a label per chain), an Embedding(5, 128)
(zero-initialised; index 4 the null label) is added to the time embedding; the timed steps
draw random classes (dropped at the config's rate), sampling draws one class per chain.
With `[model] radial_field`, the readout adds Σ_h Σ_j w_hij ψ_h(d_ij)(x_i − x_j)/d_ij, ψ_h a
bias-free Linear(16, 4) of the trace's radial basis (zero-initialised), the diagonal left out.

The step: a batch of chains, each centred, rotated uniformly at random and scaled Å → nm;
t per chain from the config's time distribution (Beta(1, 2), clamped to [1e-5, 1 − 1e-5]);
ε ~ N(0, 1) with zero centre of mass, rotated onto each chain (Kabsch, `align_prior`);
x_t = (1 − t)·x₀ + t·ε, centred; self-conditioning in every other step (diffgen flips a coin,
p = 1/2): one pass without gradients whose x̂₀ is fed back; squared error of the objective's
target averaged over residues × 3, times the weighting (flow_velocity: min(1/t², 100));
plus the local-distance loss (weight 25 · Σ (|x̂_i − x̂_j| − d⁰_ij)² over the pairs i ≠ j
within 0.6 nm in the data, over their count, for chains with t < 0.25; `[loss] contacts`:
the same over the pairs |i − j| ≥ 4 alone); mean over the batch;
AdamW (lr 5e-4, warm-up and cosine decay over the run, weight decay 0), gradient norm
clipped at 1.0, EMA 0.999 with diffusers' warm-up. Sampling: Euler over `--sample-steps`
evenly spaced times from 1 to 0 with the EMA weights, each state centred, the previous x̂₀
fed back, the result moved to the host in Å (diffgen also rebuilds N, C and O there, which
is not modelled).

Timing as `diffgen bench`: two untimed train steps, then `--steps` timed ones (each step's
batch, forward passes, backward, update and EMA; nothing is written); sampling: one untimed
draw of one backbone in two steps, then `--num-samples` backbones in one batch, timed whole.
Data: as the Rust bench, 256 random chains of `--length` residues with coordinates N(0, 1)
× 10 Å, batches from a fresh permutation each epoch; speed does not depend on the data.
Written for diffgen following its Rust model; not from any other project. Not run in CI
(PyTorch is not a dependency).
    python3 benches/reference/protein_ca.py --steps 5 --batch-size 32 --threads 2
    python3 benches/reference/protein_ca.py --config configs/protein-cath-ca.toml --steps 5
"""
import argparse
import copy
import math
import time
import tomllib

import torch
from torch import nn
import torch.nn.functional as F

# runs/protein-ca-chiral/config.toml: the settings used when no --config is given.
CHIRAL_RUN = """
[model]
hidden = 128
layers = 4
heads = 4
feed_forward = 256
time_features = 64
max_relative = 32
rbf = 16
rbf_max = 2.0
self_conditioning = true
readout = "chiral"

[diffusion]
objective = "sample"
flow = { time = { kind = "beta", a = 1.0, b = 2.0 }, steps = 100, align_prior = true }
weighting = { kind = "flow_velocity", max_weight = 100.0 }

[loss]
local_distances = { weight = 25.0, cutoff = 0.6, max_time = 0.25 }

[training]
batch_size = 32
optimizer = { kind = "adamw", lr = 5e-4, weight_decay = 0.0 }
lr_schedule = { warmup_steps = 500, decay = "cosine", final_factor = 0.05 }
grad_clip = { kind = "norm", max_norm = 1.0 }
ema = { decay = 0.999 }
"""

LAYER_NORM_EPSILON = 1e-5  # crate::model::LAYER_NORM_EPSILON
NM_PER_ANGSTROM = 0.1
LOCAL_OFFSETS = [-3, -2, -1, 1, 2, 3]  # readout.rs
DIHEDRAL_WINDOWS = [-3, -2, -1, 0]  # chirality.rs
DIHEDRAL_FEATURES = 3 * len(DIHEDRAL_WINDOWS)
FOLD_CLASSES = 4  # fold_class::FoldClass::ALL (mainly α, mainly β, α/β, few SS); index 4 is null
WARMUP_STEPS = 2  # pipeline/bench.rs
CHAINS = 256  # ca/mod.rs bench_cases


class Settings:
    """The parts of a diffgen Cα config the step and the sampler read, with diffgen's
    defaults (ca/model.rs, process/, forward.rs, train/config.rs) for absent keys."""

    def __init__(self, toml):
        m = toml["model"]
        self.hidden, self.layers = m["hidden"], m["layers"]
        self.heads, self.feed_forward = m["heads"], m["feed_forward"]
        self.time_features = m.get("time_features", 64)
        self.max_relative = m.get("max_relative", 32)
        self.rbf, self.rbf_max = m.get("rbf", 16), float(m.get("rbf_max", 2.0))
        self.self_conditioning = m.get("self_conditioning", True)
        self.readout = m.get("readout", "absolute")
        self.fold_class = m.get("fold_class")  # {dropout}: a label per chain, or None
        self.radial_field = m.get("radial_field", False)
        d = toml["diffusion"]
        if "flow" not in d:
            raise SystemExit("only flow matching ([diffusion.flow]) is modelled, as the Cα configs use")
        self.objective = d.get("objective", "epsilon")
        if self.objective not in ("sample", "flow_velocity"):
            raise SystemExit(f"flow matching predicts `sample` or `flow_velocity`, not {self.objective!r}")
        flow = d["flow"]
        self.time = flow.get("time", {"kind": "uniform"})
        self.flow_steps = flow.get("steps", 100)
        self.align_prior = flow.get("align_prior", False)
        self.weighting = d.get("weighting", {"kind": "uniform"})
        loss = toml.get("loss", {})
        self.local = loss.get("local_distances")
        if self.local is not None:
            self.local = {"cutoff": 0.6, "max_time": 0.25, "min_separation": 1, **self.local}
        self.contacts = loss.get("contacts")
        if self.contacts is not None:
            self.contacts = {"cutoff": 0.6, "max_time": 0.25, "min_separation": 4, **self.contacts}
        t = toml["training"]
        o = t.get("optimizer", {})
        self.lr = o.get("lr", 1e-4)
        self.betas = (o.get("beta1", 0.9), o.get("beta2", 0.999))
        self.epsilon = o.get("epsilon", 1e-8)
        self.weight_decay = o.get("weight_decay", 0.0)
        self.amsgrad = o.get("amsgrad", False)
        s = t.get("lr_schedule", {})
        self.warmup_steps = s.get("warmup_steps", 0)
        self.decay = s.get("decay", "constant")
        self.final_factor = s.get("final_factor", 0.0)
        self.decay_start = s.get("decay_start")
        self.grad_clip = t.get("grad_clip", {"kind": "none"})
        e = t.get("ema", {})
        self.ema_decay, self.ema_warmup_power = e.get("decay", 0.999), e.get("warmup_power", 2.0 / 3.0)

    def lr_at(self, step, total):
        """LrSchedule::rate: linear warm-up, then constant, linear or cosine decay."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        start = max(self.decay_start if self.decay_start is not None else self.warmup_steps, self.warmup_steps)
        progress = min(max(max(step - start, 0) / max(total - start, 1), 0.0), 1.0)
        f = self.final_factor
        factor = {
            "constant": 1.0,
            "linear": 1.0 - (1.0 - f) * progress,
            "cosine": f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * progress)),
        }[self.decay]
        return self.lr * factor

    def ema_at(self, step):
        """EmaConfig::decay_at."""
        if self.ema_warmup_power > 0:
            return min(self.ema_decay, 1.0 - (1.0 + step) ** -self.ema_warmup_power)
        return self.ema_decay

    def draw_times(self, n):
        """TimeSampler::draw, float64 [n], kept inside (0, 1)."""
        kind = self.time.get("kind", "uniform")
        if kind == "uniform":
            t = torch.rand(n, dtype=torch.float64)
        elif kind == "beta":
            beta = torch.distributions.Beta(torch.tensor(float(self.time["a"]), dtype=torch.float64),
                                            torch.tensor(float(self.time["b"]), dtype=torch.float64))
            t = beta.sample((n,))
        elif kind == "logit_normal":
            t = torch.sigmoid(self.time["mean"] + self.time["std"] * torch.randn(n, dtype=torch.float64))
        else:
            raise SystemExit(f"unknown time distribution {kind!r}")
        return t.clamp(1e-5, 1.0 - 1e-5)

    def weights(self, alpha, sigma):
        """LossWeighting::weight per sample (float64), from SNR = α²/σ²."""
        kind = self.weighting.get("kind", "uniform")
        snr = alpha * alpha / (sigma * sigma)
        if kind == "uniform":
            return torch.ones_like(snr)
        on_line = (1.0 + snr.sqrt()) ** 2
        if kind == "min_snr":
            clipped = snr.clamp(max=self.weighting["gamma"])
            return clipped if self.objective == "sample" else clipped / on_line
        if kind == "flow_velocity":
            x0_weight = on_line.clamp(max=self.weighting["max_weight"])
            return x0_weight if self.objective == "sample" else x0_weight / on_line
        raise SystemExit(f"unknown weighting {kind!r}")


def remove_mean_with_mask(x, mask3):
    """diffgen_core::space::remove_mean_with_mask: x [B, L, 3] minus its mean over real
    residues (mask3 [B, L, 1]), padding kept at zero."""
    return x - x.sum(1, keepdim=True) / mask3.sum(1, keepdim=True) * mask3


def rotate_noise_onto(noise, x0):
    """diffgen_core::space::rotate_noise_onto: each chain's noise rotated by the proper
    rotation R minimising Σ|R·ε_i − x_i|² (Kabsch, in float64; padding rows are zero)."""
    e, x = noise.double(), x0.double()
    h = e.transpose(1, 2) @ x  # [B, 3, 3], H = Σ ε_i x_iᵀ
    u, _, vt = torch.linalg.svd(h)
    v = vt.transpose(1, 2)
    d = torch.ones(len(h), 3, dtype=torch.float64)
    d[:, 2] = torch.sign(torch.linalg.det(v @ u.transpose(1, 2)))
    rotation = v @ torch.diag_embed(d) @ u.transpose(1, 2)
    return (e @ rotation.transpose(1, 2)).float()


def distance_rbf(x, centres, farthest):
    """Gaussian radial basis of pairwise distances: x [B, L, 3] → [B, L, L, K]."""
    diff = x.unsqueeze(2) - x.unsqueeze(1)  # [B, L, L, 3]
    distance = (diff.pow(2).sum(3, keepdim=True) + 1e-8).sqrt()
    step = farthest / (centres - 1)
    mu = torch.arange(centres, dtype=x.dtype) * step
    return torch.exp(-(((distance - mu) / step) ** 2))


def local_features(rbf):
    """readout.rs local_features: each residue's basis of the distances to residues i ± 1,
    2, 3 (zero past the chain's ends) and its neighbour histogram (the basis summed over
    all residues, / 8): [B, L, L, K] → [B, L, 7K]. Gathered from the diagonals, as diffgen
    selects them from the flattened pair axis."""
    b, l, _, k = rbf.shape
    i = torch.arange(l)
    local = []
    for offset in LOCAL_OFFSETS:
        j = i + offset
        inside = ((j >= 0) & (j < l)).to(rbf.dtype).view(1, l, 1)
        local.append(rbf[:, i, j.clamp(0, l - 1)] * inside)  # [B, L, K]
    local.append(rbf.sum(2) / 8.0)
    return torch.cat(local, 2)


def shift(x, offset):
    """chirality.rs shift: out[:, i] = x[:, i + offset], zero past either end."""
    b, l, c = x.shape
    by = abs(offset)
    if by == 0:
        return x
    if by >= l:
        return x.new_zeros(b, l, c)
    zeros = x.new_zeros(b, by, c)
    return torch.cat([x[:, by:], zeros], 1) if offset > 0 else torch.cat([zeros, x[:, : l - by]], 1)


def dot(a, b):
    return (a * b).sum(2, keepdim=True)


def dihedral_features(x, mask):
    """chirality.rs dihedral_features: for each residue, (cos φ, sin φ, present) of the
    pseudo-dihedral of every window of four consecutive residues holding it: [B, L, 12]."""
    mask = mask.unsqueeze(2)
    features = []
    for start in DIHEDRAL_WINDOWS:
        p = [shift(x, start + k) for k in range(4)]
        present = shift(mask, start) * shift(mask, start + 1) * shift(mask, start + 2) * shift(mask, start + 3)
        b1, b2, b3 = p[1] - p[0], p[2] - p[1], p[3] - p[2]
        n2 = torch.linalg.cross(b2, b3, dim=2)
        along = dot(torch.linalg.cross(b1, b2, dim=2), n2)
        across = dot(b2, b2).sqrt() * dot(b1, n2)
        radius = (along.pow(2) + across.pow(2) + 1e-12).sqrt()
        features += [along / radius * present, across / radius * present, present]
    return torch.cat(features, 2)


def bond_frame(x, mask):
    """chirality.rs bond_frame: (x_{i+1} − x_i, x_{i−1} − x_i, their cross product over
    the product of their lengths + 1e-6), zero where a neighbour is missing."""
    mask = mask.unsqueeze(2)
    bond = lambda offset: (shift(x, offset) - x) * (shift(mask, offset) * mask)
    following, preceding = bond(1), bond(-1)
    scale = dot(following, following).sqrt() * dot(preceding, preceding).sqrt()
    return following, preceding, torch.linalg.cross(following, preceding, dim=2) / (scale + 1e-6)


def relative_offsets(max_relative, l):
    """Offsets j − i clipped to ±max_relative, as embedding indices [L, L]."""
    pos = torch.arange(l)
    return (pos[None, :] - pos[:, None]).clamp(-max_relative, max_relative) + max_relative


class Block(nn.Module):
    """crate::model::TransformerBlock: pre-norm transformer layer with a relative-position
    attention bias and an optional per-chain pair bias."""

    def __init__(self, h, heads, ff, max_relative):
        super().__init__()
        self.heads = heads
        self.time = nn.Linear(h, h)
        self.norm_attention = nn.LayerNorm(h, eps=LAYER_NORM_EPSILON)
        self.query, self.key, self.value, self.attention_out = (nn.Linear(h, h) for _ in range(4))
        self.relative_bias = nn.Embedding(2 * max_relative + 1, heads)
        self.norm_ff = nn.LayerNorm(h, eps=LAYER_NORM_EPSILON)
        self.ff_in = nn.Linear(h, ff)
        self.ff_out = nn.Linear(ff, h)

    def forward(self, h, time, relative, pair_bias, key_mask):
        b, l, c = h.shape
        dh = c // self.heads
        h = h + self.time(time).unsqueeze(1)
        x = self.norm_attention(h)
        split = lambda y: y.view(b, l, self.heads, dh).transpose(1, 2)  # [B, heads, L, dh]
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        bias = self.relative_bias(relative).permute(2, 0, 1).unsqueeze(0)  # [1, heads, L, L]
        scores = q @ k.transpose(2, 3) / math.sqrt(dh) + (pair_bias + bias) + key_mask
        attended = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, l, c)
        h = h + self.attention_out(attended)
        return h + self.ff_out(F.gelu(self.ff_in(self.norm_ff(h))))


def zero_linear(i, o):
    layer = nn.Linear(i, o)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class CoordinateReadout(nn.Module):
    """readout.rs CoordinateReadout: attention whose weights average the trace's positions,
    per-head gates, a gate on the position itself and (chiral) gates on the bond frame."""

    def __init__(self, h, heads, max_relative, chiral, radial_basis=None):
        super().__init__()
        self.heads = heads
        self.query, self.key = nn.Linear(h, h), nn.Linear(h, h)
        self.gates = zero_linear(h, heads + 1)
        self.relative_bias = nn.Embedding(2 * max_relative + 1, heads)
        self.frame_gates = zero_linear(h, 3) if chiral else None
        # The radial field: per head a function of distance over the radial basis (no bias).
        self.radial = None
        if radial_basis:
            self.radial = nn.Linear(radial_basis, heads, bias=False)
            nn.init.zeros_(self.radial.weight)

    def forward(self, h, x, bias, relative, key_mask, mask, radial=None):
        """radial: (basis [B, L, L, K], distance [B, L, L]) of the trace, with a radial field."""
        b, l, c = h.shape
        dh = c // self.heads
        split = lambda y: y.view(b, l, self.heads, dh).transpose(1, 2)
        q, k = split(self.query(h)), split(self.key(h))
        offsets = self.relative_bias(relative).permute(2, 0, 1).unsqueeze(0)
        logits = q @ k.transpose(2, 3) / math.sqrt(dh) + bias + offsets + key_mask  # [B, h, L, L]
        weights = torch.softmax(logits, dim=3)
        toward = weights @ x.unsqueeze(1) - x.unsqueeze(1)  # [B, h, L, 3]
        gates = self.gates(h)  # [B, L, 1 + h]
        per_head = gates[:, :, 1:].transpose(1, 2).unsqueeze(3)  # [B, h, L, 1]
        field = (toward * per_head).sum(1) + x * gates[:, :, :1]
        if self.radial is not None:
            basis, distance = radial
            psi = self.radial(basis).permute(0, 3, 1, 2)  # [B, h, L, L]
            eye = torch.eye(l, dtype=x.dtype).unsqueeze(0)
            m = (weights * psi).sum(1) / distance * (1.0 - eye)  # [B, L, L]
            field = field + x * m.sum(2, keepdim=True) - m @ x
        if self.frame_gates is not None:
            frame = self.frame_gates(h)  # [B, L, 3]
            for k, direction in enumerate(bond_frame(x, mask)):
                field = field + direction * frame[:, :, k : k + 1]
        mask3 = mask.unsqueeze(2)
        return remove_mean_with_mask(field * mask3, mask3)


class CaDenoiser(nn.Module):
    """ca/model.rs CaDenoiser."""

    def __init__(self, s, readout):
        super().__init__()
        h = s.hidden
        self.s, self.readout_kind = s, readout
        inputs, bias_sets = {
            "absolute": (6, s.layers),
            "equivariant": (2 * 7 * s.rbf, s.layers + 1),
            "chiral": (2 * (7 * s.rbf + DIHEDRAL_FEATURES), s.layers + 1),
        }[readout]
        self.input = nn.Linear(inputs, h)
        self.time_in = nn.Linear(s.time_features, h)
        self.time_out = nn.Linear(h, h)
        self.pair = nn.Linear(2 * s.rbf, s.heads * bias_sets)
        self.blocks = nn.ModuleList(Block(h, s.heads, s.feed_forward, s.max_relative) for _ in range(s.layers))
        self.norm_out = nn.LayerNorm(h, eps=LAYER_NORM_EPSILON)
        self.output = nn.Linear(h, 3)
        self.readout = (CoordinateReadout(h, s.heads, s.max_relative, readout == "chiral",
                                          s.rbf if s.radial_field else None)
                        if readout != "absolute" else None)
        # Fold classes (4 and a null label), zero-initialised as in ca/model.rs.
        self.label = nn.Embedding(FOLD_CLASSES + 1, h) if s.fold_class else None
        if self.label is not None:
            nn.init.zeros_(self.label.weight)

    def embed(self, t):
        """diffgen_nn::sinusoidal_embedding."""
        half = self.s.time_features // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half).float()
        angles = 1000.0 * t[:, None] * freqs[None]
        return torch.cat([angles.sin(), angles.cos()], 1)

    def forward(self, x, t, mask, previous=None, labels=None):
        """x [B, L, 3] noisy trace (nm), t [B], mask [B, L], previous the last x̂₀ or None,
        labels [B] fold classes (None: the null label)."""
        s = self.s
        b, l, _ = x.shape
        if not s.self_conditioning or previous is None:
            previous = torch.zeros_like(x)
        time = self.time_out(F.silu(self.time_in(self.embed(t))))  # [B, H]
        if self.label is not None:
            if labels is None:
                labels = torch.full((b,), FOLD_CLASSES, dtype=torch.long)
            time = time + self.label(labels)
        rbf_x = distance_rbf(x, s.rbf, s.rbf_max)
        rbf_previous = distance_rbf(previous, s.rbf, s.rbf_max)
        if self.readout is not None:
            pairs = (mask.unsqueeze(2) * mask.unsqueeze(1)).unsqueeze(3)
            features = [local_features(rbf_x * pairs), local_features(rbf_previous * pairs)]
            if self.readout.frame_gates is not None:
                features += [dihedral_features(x, mask), dihedral_features(previous, mask)]
            h = self.input(torch.cat(features, 2))
        else:
            h = self.input(torch.cat([x, previous], 2))
        biases = self.pair(torch.cat([rbf_x, rbf_previous], 3)).permute(0, 3, 1, 2)  # [B, sets·heads, L, L]
        relative = relative_offsets(s.max_relative, l)
        key_mask = ((mask - 1.0) * 1e4).view(b, 1, 1, l)
        for k, block in enumerate(self.blocks):
            h = block(h, time, relative, biases[:, k * s.heads : (k + 1) * s.heads], key_mask)
        h = self.norm_out(h)
        if self.readout is None:
            return self.output(h) * mask.unsqueeze(2)
        bias = biases[:, s.layers * s.heads :]
        radial = None
        if self.readout.radial is not None:
            distance = torch.sqrt(((x.unsqueeze(2) - x.unsqueeze(1)) ** 2).sum(3) + 1e-8)
            radial = (rbf_x, distance)
        field = self.readout(h, x, bias, relative, key_mask, mask, radial)
        return x + field if s.objective == "sample" else field


def estimate(s, x_t, prediction, sigma):
    """x̂₀ of a prediction (process/loss.rs estimate); sigma per sample [B, 1, 1]."""
    return prediction if s.objective == "sample" else x_t - prediction * sigma


def local_distance_loss(local, clean, x0, t, mask):
    """One distance term of ca/space.rs auxiliary_loss (`local_distances`, or `contacts`:
    pairs at least `min_separation` apart in sequence): [B], or None when no chain has
    t < max_time."""
    gate = (t < local["max_time"]).float()
    if not bool(gate.any()):
        return None
    with torch.no_grad():  # diffgen computes the data's side on the host
        target = (x0.unsqueeze(2) - x0.unsqueeze(1)).pow(2).sum(3).sqrt()  # [B, L, L]
        l = x0.shape[1]
        index = torch.arange(l)
        apart = ((index.unsqueeze(1) - index.unsqueeze(0)).abs() >= local["min_separation"]).float()
        pairs = (mask.unsqueeze(2) * mask.unsqueeze(1)) * apart
        pairs = pairs * (target < local["cutoff"]).float()
        counts = pairs.sum((1, 2))
    distance = ((clean.unsqueeze(2) - clean.unsqueeze(1)).pow(2).sum(3) + 1e-10).sqrt()
    summed = ((distance - target).pow(2) * pairs).sum((1, 2))
    return summed * (gate * local["weight"] / counts.clamp(min=1))


def random_rotations(n):
    """Uniform rotations [n, 3, 3] from normalised Gaussian quaternions (ca/data.rs)."""
    q = torch.randn(n, 4, dtype=torch.float64)
    w, x, y, z = (q / q.norm(dim=1, keepdim=True)).unbind(1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], 1).view(n, 3, 3)


def make_batch(chains, rows):
    """ca/data.rs batch: each chain centred, randomly rotated, Å → nm (float64 on the way)."""
    x = chains[rows].double()
    x = x - x.mean(1, keepdim=True)
    return ((x @ random_rotations(len(rows)).transpose(1, 2)) * NM_PER_ANGSTROM).float()


@torch.no_grad()
def sample(model, s, n, length, steps):
    """driver.rs with euler.rs: Euler over `steps` evenly spaced times from 1 to 0, each state
    centred, x̂₀ of each step fed back to the next. Returns the traces in Å (host)."""
    mask = torch.ones(n, length)
    m3 = mask.unsqueeze(2)
    x = remove_mean_with_mask(torch.randn(n, length, 3) * m3, m3)
    x = remove_mean_with_mask(x * m3, m3)
    previous = None
    labels = torch.randint(0, FOLD_CLASSES, (n,)) if s.fold_class else None
    grid = [k / steps for k in range(steps, -1, -1)]
    for t, s_next in zip(grid[:-1], grid[1:]):
        alpha, sigma = 1.0 - t, t
        prediction = model(x, torch.full((n,), t), mask, previous, labels)
        if s.objective == "sample":
            x0, eps = prediction, (x - prediction * alpha) / sigma
        else:
            x0, eps = x - prediction * sigma, x + prediction * alpha
        velocity = eps - x0  # dα/dt · x̂₀ + dσ/dt · ε̂ on the line
        x = remove_mean_with_mask((x + velocity * (s_next - t)) * m3, m3)
        previous = x0 if s.self_conditioning else None
    return (x / NM_PER_ANGSTROM).tolist()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5, help="train steps timed (after two warm-up steps)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--sample-steps", type=int, default=100)
    p.add_argument("--num-samples", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--readout", choices=["absolute", "equivariant", "chiral"], default=None,
                   help="the network's readout (default: the config's; chiral without --config)")
    p.add_argument("--config", default=None,
                   help="a diffgen Cα TOML to read the settings from (default: runs/protein-ca-chiral's)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.config is None:
        s = Settings(tomllib.loads(CHIRAL_RUN))
    else:
        with open(a.config, "rb") as f:
            s = Settings(tomllib.load(f))
    readout = a.readout or s.readout
    name = f"pytorch C-alpha transformer {s.layers}x{s.hidden} with distance bias, {readout} readout"

    model = CaDenoiser(s, readout)
    print(f"{name} parameters  {sum(q.numel() for q in model.parameters())}")
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, betas=s.betas, eps=s.epsilon,
                            weight_decay=s.weight_decay, amsgrad=s.amsgrad)
    chains = torch.randn(CHAINS, a.length, 3) * 10.0  # Å
    b, total = a.batch_size, WARMUP_STEPS + a.steps
    per_epoch = max(CHAINS // b, 1)
    order = {}
    clip_history = [s.grad_clip.get("initial", 3000.0)]

    def rows_at(step):
        epoch, k = divmod(step, per_epoch)
        if epoch not in order:
            order[epoch] = torch.randperm(CHAINS)
        return order[epoch][k * b : (k + 1) * b]

    def clip():
        params = [q for q in model.parameters() if q.grad is not None]
        kind = s.grad_clip.get("kind", "none")
        if kind == "norm":
            torch.nn.utils.clip_grad_norm_(params, s.grad_clip["max_norm"])
        elif kind == "adaptive":  # clip.rs: 1.5·mean + 2·std of the recent norms
            mean = sum(clip_history) / len(clip_history)
            std = math.sqrt(sum((v - mean) ** 2 for v in clip_history) / len(clip_history))
            threshold = 1.5 * mean + 2.0 * std
            norm = torch.nn.utils.clip_grad_norm_(params, threshold).item()
            clip_history.append(min(norm, threshold))
            del clip_history[: max(len(clip_history) - s.grad_clip.get("window", 50), 0)]

    def train_step(step, self_condition):
        x0 = make_batch(chains, rows_at(step))  # [B, L, 3] nm
        n, l, _ = x0.shape
        mask = torch.ones(n, l)
        m3 = mask.unsqueeze(2)
        t = s.draw_times(n)  # float64
        eps = remove_mean_with_mask(torch.randn(n, l, 3) * m3, m3)
        if s.align_prior:
            eps = rotate_noise_onto(eps, x0)
        alpha, sigma = 1.0 - t, t
        weights = s.weights(alpha, sigma).float()
        alpha3, sigma3 = alpha.float().view(n, 1, 1), sigma.float().view(n, 1, 1)
        x_t = remove_mean_with_mask((alpha3 * x0 + sigma3 * eps) * m3, m3)
        t32 = t.float()
        labels = None
        if s.fold_class:
            # Random classes stand in for the data's (speed does not depend on them).
            labels = torch.randint(0, FOLD_CLASSES, (n,))
            labels[torch.rand(n) < s.fold_class.get("dropout", 0.0)] = FOLD_CLASSES
        previous = None
        if s.self_conditioning and self_condition:
            with torch.no_grad():
                previous = estimate(s, x_t, model(x_t, t32, mask, None, labels), sigma3)
        prediction = model(x_t, t32, mask, previous, labels)
        target = x0 if s.objective == "sample" else eps - x0
        loss = (((prediction - target) ** 2) * m3).sum((1, 2)) / (mask.sum(1).clamp(min=1) * 3) * weights
        for term in (s.local, s.contacts):
            if term is None:
                continue
            extra = local_distance_loss(term, estimate(s, x_t, prediction, sigma3), x0, t, mask)
            if extra is not None:
                loss = loss + extra
        loss = loss.mean()
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"non-finite loss at step {step + 1}")
        for g in opt.param_groups:
            g["lr"] = s.lr_at(step, total)
        opt.zero_grad()
        loss.backward()
        clip()
        opt.step()
        decay = s.ema_at(step)
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)

    if a.steps > 0:
        # Self-conditioning in every other step: diffgen's coin (p = 1/2) in expectation.
        conditioned = lambda step: step % 2 == 1
        for step in range(WARMUP_STEPS):
            train_step(step, conditioned(step))
        seconds = 0.0
        for step in range(WARMUP_STEPS, total):
            start = time.perf_counter()
            train_step(step, conditioned(step))
            seconds += time.perf_counter() - start
        timed = sum(conditioned(step) for step in range(WARMUP_STEPS, total))
        print(f"{name} self-conditioned timed steps  {timed}")
        print(f"{name} train steps/s, batch {b}, length {a.length}  {a.steps / seconds:.4f}")
    if a.num_samples > 0 and a.sample_steps > 0:
        ema.eval()
        sample(ema, s, 1, a.length, 2)  # warm-up
        start = time.perf_counter()
        sample(ema, s, a.num_samples, a.length, a.sample_steps)
        secs = time.perf_counter() - start
        print(f"{name} backbones/s, {a.sample_steps} Euler steps, batch {a.num_samples}  {a.num_samples / secs:.4f}")


if __name__ == "__main__":
    main()
