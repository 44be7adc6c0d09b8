#!/usr/bin/env python3
"""PyTorch reference for `diffgen bench --modality molecule`: EDM's EGNN in EDM's own
formulation (flat edge lists over B·N·N pairs, concatenated [h_i, h_j, e_ij] edge inputs,
segment sums), trained with EDM's l2 loss on padded batches of real QM9 molecules.

Prints seconds per train step (forward + backward + AdamW/AMSGrad) for 4×128 and 9×256 at
batch 64, the shapes diffgen's bench uses, and molecules sampled per second by EDM's ancestral
sampler (one padded batch, as EDM samples) at the given step counts, for the bundled model's
shape (4×64 by default). Written for diffgen; the architecture follows
Hoogeboom et al. (2022) as described in diffgen's reference notes.
"""
import argparse
import gzip
import math
import os
import time

import torch
from torch import nn

ELEMENTS = {"H": 0, "C": 1, "N": 2, "O": 3, "F": 4}
CHARGES = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}


def read_qm9(path, limit):
    molecules = []
    with gzip.open(path, "rt") as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines) and len(molecules) < limit:
        n = int(lines[i])
        atoms = [l.split("\t") for l in lines[i + 2 : i + 2 + n]]
        molecules.append([(a[0], float(a[1]), float(a[2]), float(a[3])) for a in atoms])
        i += n + 2
    return molecules


def batch(molecules):
    n = max(len(m) for m in molecules)
    b = len(molecules)
    xh = torch.zeros(b, n, 9)
    node_mask = torch.zeros(b, n, 1)
    for k, m in enumerate(molecules):
        pos = torch.tensor([[a[1], a[2], a[3]] for a in m])
        pos = pos - pos.mean(0)
        for i, a in enumerate(m):
            xh[k, i, :3] = pos[i]
            xh[k, i, 3 + ELEMENTS[a[0]]] = 0.25
            xh[k, i, 8] = CHARGES[a[0]] / 10.0
            node_mask[k, i] = 1.0
    edge_mask = node_mask * node_mask.transpose(1, 2) * (1 - torch.eye(n)).unsqueeze(0)
    return xh, node_mask, edge_mask.reshape(b * n * n, 1)


def segment_sum(data, index, count):
    out = data.new_zeros((count, data.size(1)))
    return out.index_add_(0, index, data)


class Gcl(nn.Module):
    def __init__(self, nf):
        super().__init__()
        self.edge_mlp = nn.Sequential(nn.Linear(2 * nf + 2, nf), nn.SiLU(), nn.Linear(nf, nf), nn.SiLU())
        self.node_mlp = nn.Sequential(nn.Linear(2 * nf, nf), nn.SiLU(), nn.Linear(nf, nf))
        self.att_mlp = nn.Sequential(nn.Linear(nf, 1), nn.Sigmoid())

    def forward(self, h, rows, cols, edge_attr, node_mask, edge_mask):
        m = self.edge_mlp(torch.cat([h[rows], h[cols], edge_attr], dim=1))
        m = m * self.att_mlp(m) * edge_mask
        agg = segment_sum(m, rows, h.size(0))
        return (h + self.node_mlp(torch.cat([h, agg], dim=1))) * node_mask


class EquivariantUpdate(nn.Module):
    def __init__(self, nf):
        super().__init__()
        last = nn.Linear(nf, 1, bias=False)
        nn.init.xavier_uniform_(last.weight, gain=0.001)
        self.coord_mlp = nn.Sequential(nn.Linear(2 * nf + 2, nf), nn.SiLU(), nn.Linear(nf, nf), nn.SiLU(), last)

    def forward(self, h, x, rows, cols, diff, edge_attr, node_mask, edge_mask):
        phi = self.coord_mlp(torch.cat([h[rows], h[cols], edge_attr], dim=1))
        trans = diff * torch.tanh(phi) * 15.0 * edge_mask
        return (x + segment_sum(trans, rows, x.size(0))) * node_mask


class Egnn(nn.Module):
    def __init__(self, layers, nf):
        super().__init__()
        self.embedding = nn.Linear(7, nf)
        self.gcl = nn.ModuleList(Gcl(nf) for _ in range(layers))
        self.equiv = nn.ModuleList(EquivariantUpdate(nf) for _ in range(layers))
        self.embedding_out = nn.Linear(nf, 7)

    def forward(self, xh, t, node_mask, edge_mask):
        b, n, _ = xh.shape
        idx = torch.arange(b * n).view(b, n)
        rows = idx.unsqueeze(2).expand(b, n, n).reshape(-1)
        cols = idx.unsqueeze(1).expand(b, n, n).reshape(-1)
        mask = node_mask.view(b * n, 1)
        xh = xh.view(b * n, -1) * mask
        x = xh[:, :3].clone()
        h = torch.cat([xh[:, 3:], t.view(b, 1).repeat(1, n).view(b * n, 1)], dim=1)
        radial0 = ((x[rows] - x[cols]) ** 2).sum(1, keepdim=True)
        h = self.embedding(h)
        x_cur = x
        for gcl, equiv in zip(self.gcl, self.equiv):
            diff = x_cur[rows] - x_cur[cols]
            radial = (diff**2).sum(1, keepdim=True)
            diff = diff / (torch.sqrt(radial + 1e-8) + 1.0)
            edge_attr = torch.cat([radial, radial0], dim=1)
            h = gcl(h, rows, cols, edge_attr, mask, edge_mask)
            x_cur = equiv(h, x_cur, rows, cols, diff, edge_attr, mask, edge_mask)
            h = h * mask
        h = self.embedding_out(h) * mask
        vel = ((x_cur - x) * mask).view(b, n, 3)
        vel = vel - vel.sum(1, keepdim=True) / node_mask.sum(1, keepdim=True) * node_mask
        return torch.cat([vel, h[:, :6].view(b, n, 6)], dim=2)


def gamma_table(steps=1000, s=1e-5):
    x = torch.linspace(0, steps + 1, steps + 1, dtype=torch.float64)
    a2 = (1 - (x / (steps + 1)) ** 2) ** 2
    a2 = torch.cat([torch.ones(1, dtype=torch.float64), a2])
    ratio = (a2[1:] / a2[:-1]).clamp(0.001, 1)
    a2 = (1 - 2 * s) * torch.cumprod(ratio, 0) + s
    return (torch.log(1 - a2) - torch.log(a2)).float()


def train_step(model, optim, gamma, molecules, generator):
    xh, node_mask, edge_mask = batch(molecules)
    b, n, _ = xh.shape
    t_int = torch.randint(0, 1001, (b,), generator=generator)
    g = gamma[t_int].view(b, 1, 1)
    alpha, sigma = torch.sqrt(torch.sigmoid(-g)), torch.sqrt(torch.sigmoid(g))
    eps = torch.randn(b, n, 9, generator=generator) * node_mask
    eps[..., :3] = eps[..., :3] - eps[..., :3].sum(1, keepdim=True) / node_mask.sum(1, keepdim=True) * node_mask
    z = alpha * xh + sigma * eps
    out = model(z, t_int.float() / 1000, node_mask, edge_mask)
    loss = 0.5 * ((eps - out) ** 2).sum((1, 2)) / (9 * n)
    loss = loss.mean()
    optim.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1e4)
    optim.step()
    return loss.item()


def centred_noise(b, n, node_mask, generator):
    eps = torch.randn(b, n, 9, generator=generator) * node_mask
    eps[..., :3] = eps[..., :3] - eps[..., :3].sum(1, keepdim=True) / node_mask.sum(1, keepdim=True) * node_mask
    return eps


@torch.no_grad()
def sample(model, sizes, steps, generator):
    """EDM's sample_p_zs_given_zt from t = 1 down to 0 over `steps` levels, then x = z_0."""
    b, n = len(sizes), max(sizes)
    node_mask = torch.zeros(b, n, 1)
    for k, size in enumerate(sizes):
        node_mask[k, :size] = 1.0
    edge_mask = (node_mask * node_mask.transpose(1, 2) * (1 - torch.eye(n)).unsqueeze(0)).reshape(b * n * n, 1)
    gamma = gamma_table(steps)
    z = centred_noise(b, n, node_mask, generator)
    for s in reversed(range(steps)):
        g_s, g_t = gamma[s], gamma[s + 1]
        sigma2_t_given_s = -torch.expm1(nn.functional.softplus(g_s) - nn.functional.softplus(g_t))
        alpha_t_given_s = torch.exp(0.5 * (nn.functional.logsigmoid(-g_t) - nn.functional.logsigmoid(-g_s)))
        sigma_s, sigma_t = torch.sqrt(torch.sigmoid(g_s)), torch.sqrt(torch.sigmoid(g_t))
        t = torch.full((b,), (s + 1) / steps)
        eps = model(z, t, node_mask, edge_mask)
        mu = z / alpha_t_given_s - (sigma2_t_given_s / alpha_t_given_s / sigma_t) * eps
        sigma = torch.sqrt(sigma2_t_given_s) * sigma_s / sigma_t
        z = mu + sigma * centred_noise(b, n, node_mask, generator)
    return z


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("DIFFGEN_DATA", "../shared/datasets"))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--sample-steps", default="100", help="comma-separated step counts")
    parser.add_argument("--sample-layers", type=int, default=4)
    parser.add_argument("--sample-hidden", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    molecules = read_qm9(os.path.join(args.data, "qm9", "qm9_valid.xyz.gz"), 17748)
    generator = torch.Generator().manual_seed(0)
    gamma = gamma_table()
    shapes = [(4, 128), (9, 256)] if args.steps > 0 else []
    for layers, nf in shapes:
        steps = args.steps if nf <= 128 else min(args.steps, 3)
        torch.manual_seed(0)
        model = Egnn(layers, nf)
        optim = torch.optim.AdamW(model.parameters(), lr=1e-4, amsgrad=True, weight_decay=1e-12)
        order = torch.randperm(len(molecules), generator=generator).tolist()
        pick = lambda k: [molecules[i] for i in order[k * args.batch_size : (k + 1) * args.batch_size]]
        train_step(model, optim, gamma, pick(0), generator)  # warm-up
        start = time.perf_counter()
        for k in range(1, steps + 1):
            train_step(model, optim, gamma, pick(k), generator)
        per_step = (time.perf_counter() - start) / steps
        print(f"pytorch EGNN {layers}x{nf} train step, batch {args.batch_size} of QM9 (s)  {per_step:.4f}")
    if args.num_samples > 0:
        torch.manual_seed(0)
        model = Egnn(args.sample_layers, args.sample_hidden).eval()
        pick = torch.randperm(len(molecules), generator=generator)[: args.num_samples].tolist()
        sizes = [len(molecules[i]) for i in pick]
        sample(model, sizes, 2, generator)  # warm-up
        for steps in [int(v) for v in args.sample_steps.split(",")]:
            start = time.perf_counter()
            sample(model, sizes, steps, generator)
            rate = len(sizes) / (time.perf_counter() - start)
            print(f"pytorch EGNN {args.sample_layers}x{args.sample_hidden} molecules/s, {steps} DDPM steps  {rate:.4f}")


if __name__ == "__main__":
    main()
