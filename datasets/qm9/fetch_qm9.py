#!/usr/bin/env python3
"""Download QM9 from its canonical figshare release and write diffgen's split files.

Writes qm9_train.xyz.gz, qm9_valid.xyz.gz and qm9_test.xyz.gz (EDM's split) into --out.
Requires numpy (for the split permutation, which must match numpy's MT19937 stream).
"""
import argparse
import gzip
import os
import tarfile
import urllib.request

import numpy as np

RELEASE = "https://springernature.figshare.com/ndownloader/files/3195389"  # dsgdb9nsd.xyz.tar.bz2
UNCHARACTERIZED = "https://springernature.figshare.com/ndownloader/files/3195404"  # uncharacterized.txt
N_TOTAL = 133885
N_TRAIN, N_VALID = 100000, 17748


def fetch(url, path):
    if not os.path.exists(path):
        print(f"downloading {url} -> {path}")
        urllib.request.urlretrieve(url, path)
    return path


def uncharacterized_indices(path):
    """0-based GDB indices listed in uncharacterized.txt (3,054 of them)."""
    indices = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            # As EDM reads it: the first token of each line, where it is an integer.
            if fields and fields[0].isdigit():
                indices.append(int(fields[0]) - 1)
    assert len(indices) == 3054, len(indices)
    return set(indices)


def frames(tar_path):
    """(gdb index, frame text without the Mulliken column and trailing lines)."""
    with tarfile.open(tar_path, "r:bz2") as tar:
        for member in tar:
            if not member.isfile():
                continue
            text = tar.extractfile(member).read().decode()
            lines = text.splitlines()
            n = int(lines[0])
            props = lines[1].rstrip("\t")
            index = int(props.split()[1])
            atoms = []
            for line in lines[2 : 2 + n]:
                el, x, y, z = line.split()[:4]
                atoms.append("\t".join([el] + [v.replace("*^", "e") for v in (x, y, z)]))
            yield index, "\n".join([str(n), props] + atoms) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tar_path = fetch(RELEASE, os.path.join(args.out, "dsgdb9nsd.xyz.tar.bz2"))
    unchar_path = fetch(UNCHARACTERIZED, os.path.join(args.out, "uncharacterized.txt"))

    excluded = uncharacterized_indices(unchar_path)
    included = [i for i in range(N_TOTAL) if i not in excluded]
    np.random.seed(0)
    perm = np.random.permutation(len(included))
    split_of = {}
    for position, p in enumerate(perm):
        split = "train" if position < N_TRAIN else "valid" if position < N_TRAIN + N_VALID else "test"
        split_of[included[p] + 1] = split  # 1-based GDB index

    texts = {"train": {}, "valid": {}, "test": {}}
    for index, frame in frames(tar_path):
        split = split_of.get(index)
        if split is not None:
            texts[split][index] = frame
    for split, by_index in texts.items():
        path = os.path.join(args.out, f"qm9_{split}.xyz.gz")
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            for index in sorted(by_index):
                f.write(by_index[index].encode())
        print(f"{path}: {len(by_index)} molecules")


if __name__ == "__main__":
    main()
