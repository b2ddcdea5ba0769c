"""Reference values for tests/drift.rs, computed with SciPy and NumPy the way Evidently
does, on scikit-learn's bundled datasets.

Usage: python3 drift_reference.py OUT_DIR
Writes OUT_DIR/{small,large}_{reference,current}.csv and OUT_DIR/expected.json.
"""

import csv
import json
import sys

import numpy as np
from scipy import stats
from scipy.spatial import distance
from sklearn import datasets


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def psi(ref, cur):
    both = np.concatenate([ref, cur])
    edges = np.histogram_bin_edges(both, bins="sturges")
    r = np.histogram(ref, edges)[0] / len(ref)
    c = np.histogram(cur, edges)[0] / len(cur)
    r = np.where(r == 0, 0.0001, r)
    c = np.where(c == 0, 0.0001, c)
    return float(np.sum((r - c) * np.log(r / c)))


def chi(ref, cur):
    keys = sorted(set(ref) | set(cur))
    k = len(cur) / len(ref)
    obs = [list(cur).count(x) for x in keys]
    exp = [list(ref).count(x) * k for x in keys]
    s, p = stats.chisquare(obs, exp)
    return float(s), float(p)


def column(name, ref, cur, numeric):
    n_values = len(set(ref) | set(cur))
    out = {"column": name}
    if numeric and n_values > 5:
        if len(ref) <= 1000:
            r = stats.ks_2samp(ref, cur)
            out.update(test="ks", statistic=float(r.statistic), p_value=float(r.pvalue))
            out["drifted"] = out["p_value"] < 0.05
        else:
            w = stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
            out.update(test="wasserstein", statistic=float(w), drifted=bool(w >= 0.1))
    elif len(ref) <= 1000:
        assert n_values > 2, "the fixtures have no binary columns"
        s, p = chi(ref, cur)
        out.update(test="chisquare", statistic=s, p_value=p, drifted=p < 0.05)
    else:
        if numeric:
            edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=30)
            r = np.histogram(ref, edges)[0] / len(ref)
            c = np.histogram(cur, edges)[0] / len(cur)
        else:
            keys = sorted(set(ref) | set(cur))
            r = np.array([list(ref).count(x) for x in keys]) / len(ref)
            c = np.array([list(cur).count(x) for x in keys]) / len(cur)
        js = float(distance.jensenshannon(r, c))
        out.update(test="jensenshannon", statistic=js, drifted=js >= 0.1)
    if numeric:
        out["psi"] = psi(np.asarray(ref, float), np.asarray(cur, float))
    return out


def split(name, data, target_names, mask, out_dir):
    """Reference rows where mask holds, current rows where it does not."""
    x = data.data
    header = list(data.feature_names) + ["label"]
    labels = [str(target_names[t]) for t in data.target]
    rows = [list(map(float, x[i])) + [labels[i]] for i in range(len(x))]
    ref = [r for r, m in zip(rows, mask) if m]
    cur = [r for r, m in zip(rows, mask) if not m]
    write_csv(f"{out_dir}/{name}_reference.csv", header, ref)
    write_csv(f"{out_dir}/{name}_current.csv", header, cur)
    cols = []
    for j, h in enumerate(header):
        numeric = h != "label"
        r = [row[j] for row in ref]
        c = [row[j] for row in cur]
        cols.append(column(h, r, c, numeric))
    drifted = sum(c["drifted"] for c in cols)
    return {"columns": cols, "dataset_drift": drifted >= 0.5 * len(cols)}


def main():
    out_dir = sys.argv[1]
    expected = {}
    # Wine, 178 rows: reference and current differ in class mix (KS, chi-squared).
    wine = datasets.load_wine()
    mask = np.arange(len(wine.target)) % 3 != 0
    mask &= (wine.target != 2) | (np.arange(len(wine.target)) % 4 == 1)
    expected["small"] = split("small", wine, wine.target_names, mask, out_dir)
    # Digits, 1797 rows: 1200 of reference (Wasserstein and Jensen-Shannon).
    digits = datasets.load_digits()
    mask = np.arange(len(digits.target)) < 1200
    expected["large"] = split("large", digits, [f"d{i}" for i in range(10)], mask, out_dir)
    with open(f"{out_dir}/expected.json", "w") as f:
        json.dump(expected, f)


main()
