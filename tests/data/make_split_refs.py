#!/usr/bin/python3
"""Reference vectors for tests/test_splits.c, made by real NumPy (legacy RandomState).

Run by hand from the repository root (needs numpy; Debian: apt-get install python3-numpy):
    /usr/bin/python3 tests/data/make_split_refs.py
It prints the C literals that test_splits.c holds; the tests themselves need neither Python
nor NumPy. Made with NumPy 1.24.2.

The split procedure below follows SPEC.md 2.4 (the official one, with a stable argsort).
"""
import json
import math

import numpy as np


def c_array(name, values, per_line=16):
    items = [str(int(v)) for v in values]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    body = ",\n    ".join(lines)
    print(f"static const size_t {name}[{len(items)}] = {{\n    {body}}};")


def permutation(seed, k):
    np.random.seed(seed)
    return np.random.permutation(k)


def entropy(t):
    """SPEC 2.4: s = 1 + t - min t, summed over the sorted s in float64."""
    s = sorted(1 + int(x) - min(int(y) for y in t) for x in t)
    total = float(sum(s))
    h = 0.0
    for x in s:
        p = x / total
        h -= p * math.log(p + 1e-6)
    return h


def splits(tasks, criterion):
    unique = np.unique(tasks, axis=0)
    crit = np.array([criterion(t) for t in unique])
    ordered = unique[np.argsort(crit, kind="stable")]
    n = len(unique)
    num_train, num_val = int(n * (1 - 0.15 - 0.15)), int(n * 0.15)
    num_ood = n - num_train - num_val
    ood = ordered[-num_ood:]
    perm = permutation(1, num_train + num_val)
    train, val = ordered[perm[:num_train]], ordered[perm[num_train:]]
    perm2 = permutation(2, num_ood)
    keep = num_ood // 2
    return {"train": train, "val": val, "ood": ood,
            "downstream_train": np.concatenate([train, ood[perm2[keep:]]]),
            "downstream_ood": ood[perm2[:keep]]}


def task_index(t):
    return (t[1] + 3) * 36 + (t[2] + 3) * 6 + (t[3] + 3)


# --- MT19937 words and permutations -----------------------------------------------------------
words = np.random.RandomState(5489)._bit_generator.random_raw(10000)
print("/* MT19937 seed 5489: words 1..6 and 10000 */", [int(w) for w in words[:6]], int(words[-1]))
for seed, k in [(1, 8), (2, 2), (1, 2), (2, 33), (1, 183), (2, 150), (1, 850)]:
    c_array(f"perm_s{seed}_k{k}", permutation(seed, k))

# --- formal languages: run r has task (r * 97) % 216 in 9 rows ---------------------------------
grid = np.array([(0, b, c, d) for b in range(-3, 3) for c in range(-3, 3) for d in range(-3, 3)])
rows = np.repeat(grid[(np.arange(216) * 97) % 216], 9, axis=0)
assert (np.unique(rows, axis=0) == grid).all()     # np.unique(axis=0) is lexicographic
lists = splits(rows, entropy)
assert (lists["downstream_train"][:151] == lists["train"]).all()
lists["moved"] = lists.pop("downstream_train")[151:]             # the OOD tasks that join train
for key, tasks in lists.items():
    c_array(f"formal_{key}", [task_index(t) for t in tasks])

# --- MNIST: run r has angle ((r * 7) % 1000) * 0.36 in 9 rows; sorted = unique = j * 0.36 ------
angles = np.repeat(((np.arange(1000) * 7) % 1000) * 0.36, 9).reshape(-1, 1)
lists = splits(angles, lambda t: t[0])
p1, p2 = permutation(1, 850), permutation(2, 150)
assert (lists["train"][:, 0] == p1[:700] * 0.36).all() and (lists["val"][:, 0] == p1[700:] * 0.36).all()
assert (lists["downstream_ood"][:, 0] == (850 + p2[:75]) * 0.36).all()
print("/* MNIST angles: the lists are j * 0.36 with j from perm_s1_k850 and 850 + perm_s2_k150 */")

# --- the tiny splits.json texts ---------------------------------------------------------------
tiny_formal = np.array([(0, 2, 2, 2), (0, -3, 2, 1), (0, 0, 0, 0), (0, -3, 2, 1), (0, 1, -1, 0)])
tiny_angles = np.array([[12.5], [0.1], [359.75], [0.1], [200.0]])
for rows, crit, cast in [(tiny_formal, entropy, lambda t: [int(x) for x in t]),
                         (tiny_angles, lambda t: t[0], lambda t: float(t[0]))]:
    lists = splits(rows, crit)
    print(json.dumps({key: [cast(t) for t in tasks] for key, tasks in lists.items()}))
