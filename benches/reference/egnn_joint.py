#!/usr/bin/env python3
"""PyTorch reference for the joint molecule model of `diffgen bench --modality molecule`
(configs/molecule-qm9-joint.toml): EDM's EGNN blocks plus a pair-feature stream, written
densely over [B, N, N, ·] pair tensors as PyTorch joint models (MiDi, EQGAT-diff) are.

The network, per block l (h: atom features, e: pair features, x: coordinates):
  gate, coord = G_l e, C_l e                          (per-pair inputs of the two edge MLPs)
  m_ij = silu(W2 silu(W1 [h_i, h_j, r_ij, r0_ij] + gate_ij)), gated by sigmoid(a·m_ij)
  h_i += node_mlp([h_i, Σ_j m_ij])
  x_i += Σ_j (x_i − x_j)/(|x_i − x_j| + 1) · 15 tanh(φ([h_i, h_j, r_ij, r0_ij] + coord_ij))
  e_ij += silu(A_l h_i + A_l h_j + E_l e_ij + D_l |x_i − x_j|²)
and outputs x̂₀ (centred), type and charge logits per atom, and bond logits from
(e_ij + e_ji)/2. Training: flow matching on positions (t ~ Beta(1, 2) on the prior-side
clock), categorical corruption of types, charges and bonds towards uniform draws, the
x₀ loss with weights 3 / 0.4 / 1 / 2, self-conditioning in half the steps (one extra
forward pass without gradients), AdamW with AMSGrad.

Bonds of QM9 here come from covalent radii (single bonds only): they fill the one-hots for
timing; their chemistry does not change the cost. Prints seconds per train step at batch 64
and molecules sampled per second (Euler, one padded batch). Written for diffgen.
"""
import argparse
import gzip
import os
import time

import torch
from torch import nn
from torch.nn.functional import cross_entropy, silu

ELEMENTS = {"H": 0, "C": 1, "N": 2, "O": 3, "F": 4}
RADII = {"H": 0.31, "C": 0.76, "N": 0.71, "O": 0.66, "F": 0.57}
TYPES, CHARGES, BONDS = 5, 3, 4


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
    """Positions [B, N, 3], type/charge classes [B, N], bond classes [B, N, N], masks."""
    b, n = len(molecules), max(len(m) for m in molecules)
    x = torch.zeros(b, n, 3)
    types = torch.zeros(b, n, dtype=torch.long)
    charges = torch.ones(b, n, dtype=torch.long)  # class 1: neutral
    bonds = torch.zeros(b, n, n, dtype=torch.long)
    node = torch.zeros(b, n, 1)
    for k, m in enumerate(molecules):
        pos = torch.tensor([[a[1], a[2], a[3]] for a in m])
        x[k, : len(m)] = pos - pos.mean(0)
        node[k, : len(m)] = 1.0
        for i, a in enumerate(m):
            types[k, i] = ELEMENTS[a[0]]
        d = torch.cdist(pos, pos)
        r = torch.tensor([RADII[a[0]] for a in m])
        bonded = (d < 1.25 * (r[:, None] + r[None, :])) & ~torch.eye(len(m), dtype=torch.bool)
        bonds[k, : len(m), : len(m)] = bonded.long()
    edge = node * node.transpose(1, 2) * (1 - torch.eye(n)).unsqueeze(0)  # [B, N, N]
    return x, types, charges, bonds, node, edge.unsqueeze(-1)


def pairs(h):
    """[B, N, H] → [B, N, N, 2H]: [h_i, h_j] for every pair."""
    b, n, f = h.shape
    return torch.cat([h.unsqueeze(2).expand(b, n, n, f), h.unsqueeze(1).expand(b, n, n, f)], -1)


class Block(nn.Module):
    def __init__(self, nf, ne):
        super().__init__()
        self.edge_mlp_0, self.edge_mlp_2 = nn.Linear(2 * nf + 2, nf), nn.Linear(nf, nf)
        self.att = nn.Linear(nf, 1)
        self.node_mlp = nn.Sequential(nn.Linear(2 * nf, nf), nn.SiLU(), nn.Linear(nf, nf))
        self.coord_mlp_0 = nn.Linear(2 * nf + 2, nf)
        self.coord_mlp = nn.Sequential(nn.SiLU(), nn.Linear(nf, nf), nn.SiLU(), nn.Linear(nf, 1, bias=False))
        self.gate_pair, self.coord_pair = nn.Linear(ne, nf), nn.Linear(ne, nf)
        self.from_atoms, self.from_edge, self.from_distance = nn.Linear(nf, ne), nn.Linear(ne, ne), nn.Linear(1, ne)

    def forward(self, h, x, e, radial0, node, edge):
        diff = x.unsqueeze(2) - x.unsqueeze(1)  # [B, N, N, 3]
        radial = (diff**2).sum(-1, keepdim=True)
        diff = diff / (torch.sqrt(radial + 1e-8) + 1.0)
        geometry = torch.cat([radial, radial0], -1)
        m = silu(self.edge_mlp_0(torch.cat([pairs(h), geometry], -1)) + self.gate_pair(e))
        m = silu(self.edge_mlp_2(m))
        m = m * torch.sigmoid(self.att(m)) * edge
        h = (h + self.node_mlp(torch.cat([h, m.sum(2)], -1))) * node
        phi = self.coord_mlp(self.coord_mlp_0(torch.cat([pairs(h), geometry], -1)) + self.coord_pair(e))
        x = (x + (diff * torch.tanh(phi) * 15.0 * edge).sum(2)) * node
        he = self.from_atoms(h)
        d = ((x.unsqueeze(2) - x.unsqueeze(1)) ** 2).sum(-1, keepdim=True)
        update = he.unsqueeze(2) + he.unsqueeze(1) + self.from_edge(e) + self.from_distance(d)
        e = (e + silu(update)) * edge
        return h, x, e


class JointEgnn(nn.Module):
    def __init__(self, layers, nf, ne):
        super().__init__()
        atom_classes = TYPES + CHARGES
        self.embedding = nn.Linear(2 * atom_classes + 1, nf)
        self.edge_in = nn.Linear(2 * BONDS, ne)
        self.blocks = nn.ModuleList(Block(nf, ne) for _ in range(layers))
        self.embedding_out = nn.Linear(nf, atom_classes)
        self.bond_out = nn.Linear(ne, BONDS)

    def forward(self, x, atoms, bonds, t, node, edge, previous):
        b, n, _ = x.shape
        p_atoms, p_bonds = previous
        time = t.view(b, 1, 1).expand(b, n, 1)
        h = self.embedding(torch.cat([atoms, p_atoms, time], -1)) * node
        e = self.edge_in(torch.cat([bonds, p_bonds], -1)) * edge
        radial0 = ((x.unsqueeze(2) - x.unsqueeze(1)) ** 2).sum(-1, keepdim=True)
        x_cur = x
        for block in self.blocks:
            h, x_cur, e = block(h, x_cur, e, radial0, node, edge)
        atom_logits = self.embedding_out(h) * node
        bond_logits = self.bond_out((e + e.transpose(1, 2)) / 2) * edge
        x_cur = x_cur * node
        x_cur = x_cur - x_cur.sum(1, keepdim=True) / node.sum(1, keepdim=True) * node
        return x_cur, atom_logits, bond_logits


def one_hot(classes, k):
    return nn.functional.one_hot(classes, k).float()


def corrupt(classes, k, t, generator):
    """Keep each class with probability 1 − t, else a uniform draw."""
    keep = torch.rand(classes.shape, generator=generator) >= t.view(-1, *([1] * (classes.dim() - 1)))
    noise = torch.randint(0, k, classes.shape, generator=generator)
    return torch.where(keep, classes, noise)


def train_step(model, optim, molecules, generator, self_condition):
    x, types, charges, bonds, node, edge = batch(molecules)
    b, n, _ = x.shape
    t = torch.distributions.Beta(1.0, 2.0).sample((b,))
    noise = torch.randn(b, n, 3, generator=generator) * node
    noise = noise - noise.sum(1, keepdim=True) / node.sum(1, keepdim=True) * node
    x_t = (1 - t.view(b, 1, 1)) * x + t.view(b, 1, 1) * noise
    atoms_t = torch.cat([one_hot(corrupt(types, TYPES, t, generator), TYPES),
                         one_hot(corrupt(charges, CHARGES, t, generator), CHARGES)], -1) * node
    bonds_t = one_hot(corrupt(bonds, BONDS, t, generator), BONDS) * edge
    previous = (torch.zeros_like(atoms_t), torch.zeros_like(bonds_t))
    if self_condition:
        with torch.no_grad():
            _, a, bl = model(x_t, atoms_t, bonds_t, t, node, edge, previous)
            previous = (torch.cat([a[..., :TYPES].softmax(-1), a[..., TYPES:].softmax(-1)], -1) * node,
                        bl.softmax(-1) * edge)
    x0, atom_logits, bond_logits = model(x_t, atoms_t, bonds_t, t, node, edge, previous)
    mask = node.squeeze(-1).bool()
    pair_mask = edge.squeeze(-1).bool()
    loss = 3.0 * (((x0 - x) ** 2).sum(-1)[mask]).mean()
    loss = loss + 0.4 * cross_entropy(atom_logits[..., :TYPES][mask], types[mask])
    loss = loss + 1.0 * cross_entropy(atom_logits[..., TYPES:][mask], charges[mask])
    loss = loss + 2.0 * cross_entropy(bond_logits[pair_mask], bonds[pair_mask])
    optim.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1e4)
    optim.step()
    return loss.item()


@torch.no_grad()
def sample(model, sizes, steps, generator):
    """Euler from the prior (t = 1) to the data (t = 0), with self-conditioning."""
    b, n = len(sizes), max(sizes)
    node = torch.zeros(b, n, 1)
    for k, size in enumerate(sizes):
        node[k, :size] = 1.0
    edge = (node * node.transpose(1, 2) * (1 - torch.eye(n)).unsqueeze(0)).unsqueeze(-1)
    x = torch.randn(b, n, 3, generator=generator) * node
    x = x - x.sum(1, keepdim=True) / node.sum(1, keepdim=True) * node
    atoms = torch.cat([one_hot(torch.randint(0, TYPES, (b, n), generator=generator), TYPES),
                       one_hot(torch.randint(0, CHARGES, (b, n), generator=generator), CHARGES)], -1) * node
    bonds = one_hot(torch.randint(0, BONDS, (b, n, n), generator=generator), BONDS) * edge
    previous = (torch.zeros_like(atoms), torch.zeros_like(bonds))
    for k in range(steps):
        t, s = 1 - k / steps, 1 - (k + 1) / steps
        x0, a, bl = model(x, atoms, bonds, torch.full((b,), t), node, edge, previous)
        x = x + (s - t) / t * (x - x0)  # Euler on x_t = (1 − t) x₀ + t ε
        pa = torch.cat([a[..., :TYPES].softmax(-1), a[..., TYPES:].softmax(-1)], -1) * node
        pb = bl.softmax(-1) * edge
        previous = (pa, pb)
        # Move each class towards the estimate with probability (t − s)/t, as the ancestral step.
        jump = torch.rand(b, n, 1, generator=generator) < (t - s) / t
        draw_t = one_hot(torch.multinomial(pa[..., :TYPES].reshape(-1, TYPES) + 1e-9, 1, generator=generator).view(b, n), TYPES)
        draw_c = one_hot(torch.multinomial(pa[..., TYPES:].reshape(-1, CHARGES) + 1e-9, 1, generator=generator).view(b, n), CHARGES)
        atoms = torch.where(jump, torch.cat([draw_t, draw_c], -1), atoms) * node
        jump_b = torch.rand(b, n, n, 1, generator=generator) < (t - s) / t
        draw_b = one_hot(torch.multinomial(pb.reshape(-1, BONDS) + 1e-9, 1, generator=generator).view(b, n, n), BONDS)
        bonds = torch.where(jump_b, draw_b, bonds) * edge
    return x, atoms, bonds


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("DIFFGEN_DATA", "../shared/datasets"))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--sample-steps", default="100", help="comma-separated step counts")
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--edge-hidden", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    molecules = read_qm9(os.path.join(args.data, "qm9", "qm9_valid.xyz.gz"), 5000)
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    shape = f"{args.layers}x{args.hidden} + pair features {args.edge_hidden}"
    model = JointEgnn(args.layers, args.hidden, args.edge_hidden)
    if args.steps > 0:
        optim = torch.optim.AdamW(model.parameters(), lr=5e-4, amsgrad=True, weight_decay=1e-12)
        order = torch.randperm(len(molecules), generator=generator).tolist()
        pick = lambda k: [molecules[i] for i in order[k * args.batch_size : (k + 1) * args.batch_size]]
        train_step(model, optim, pick(0), generator, True)  # warm-up
        start = time.perf_counter()
        for k in range(1, args.steps + 1):
            train_step(model, optim, pick(k), generator, k % 2 == 0)
        per_step = (time.perf_counter() - start) / args.steps
        print(f"pytorch joint EGNN {shape} train step, batch {args.batch_size} of QM9 (s)  {per_step:.4f}")
    if args.num_samples > 0:
        model.eval()
        pick = torch.randperm(len(molecules), generator=generator)[: args.num_samples].tolist()
        sizes = [len(molecules[i]) for i in pick]
        sample(model, sizes, 2, generator)  # warm-up
        for steps in [int(v) for v in args.sample_steps.split(",")]:
            start = time.perf_counter()
            sample(model, sizes, steps, generator)
            rate = len(sizes) / (time.perf_counter() - start)
            print(f"pytorch joint EGNN {shape} molecules/s, {steps} Euler steps  {rate:.4f}")


if __name__ == "__main__":
    main()
