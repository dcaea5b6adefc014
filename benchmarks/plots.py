"""PNG plots for docs/benchmarks.md: accuracy vs MACs, accuracy vs params, throughput vs MACs.
Each function writes one file and returns its path; with nothing to plot it still writes a
figure that says so, so the images the README embeds always exist."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

MARKERS = {"cifar10": "o", "cifar100": "s"}


def _family_colors(families: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab20")
    return {f: cmap(i % 20) for i, f in enumerate(sorted(set(families)))}


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=11, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _label_points(ax, xs, ys, names, many: int = 40) -> None:
    size = 6 if len(names) > many else 7
    for x, y, n in zip(xs, ys, names):
        ax.annotate(n, (x, y), fontsize=size, xytext=(3, 2), textcoords="offset points", alpha=0.8)


def accuracy_plot(points: list[dict], x_key: str, x_label: str, path: Path, title: str) -> Path:
    """``points``: dicts with model, family, dataset, top1 and ``x_key``; one panel per dataset."""
    datasets = [d for d in MARKERS if any(p["dataset"] == d for p in points)]
    fig, axes = plt.subplots(1, max(1, len(datasets)), figsize=(6.5 * max(1, len(datasets)), 4.8), squeeze=False)
    if not datasets:
        _empty(axes[0][0], "No pretrained weights in weights_manifest.json yet:\n"
                           "this plot fills in as weights are published.")
        axes[0][0].set_title(title)
        return _save(fig, path)
    colors = _family_colors([p["family"] for p in points])
    for ax, ds in zip(axes[0], datasets):
        pts = [p for p in points if p["dataset"] == ds and p.get(x_key)]
        for fam in sorted({p["family"] for p in pts}):
            sel = [p for p in pts if p["family"] == fam]
            ax.scatter([p[x_key] / 1e6 for p in sel], [p["top1"] for p in sel], color=colors[fam],
                       marker=MARKERS[ds], label=fam, s=28)
        _label_points(ax, [p[x_key] / 1e6 for p in pts], [p["top1"] for p in pts], [p["model"] for p in pts])
        ax.set_xscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel(f"top-1 on {ds.upper()} test set (%)")
        ax.set_title(f"{title} ({ds.upper()})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def throughput_plot(rows: list[dict], variant: str, path: Path, title: str) -> Path:
    """Images/s of ``variant`` (inference, and training when measured) against MACs, log-log."""
    pts = [r for r in rows if r.get("macs") and (r.get("speed") or {}).get(variant, {}).get("throughput_img_s")]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    if not pts:
        _empty(ax, f"No speed measurements for variant {variant!r} in this run.")
        ax.set_title(title)
        return _save(fig, path)
    colors = _family_colors([r["family"] for r in pts])
    for fam in sorted({r["family"] for r in pts}):
        sel = [r for r in pts if r["family"] == fam]
        ax.scatter([r["macs"] / 1e6 for r in sel], [r["speed"][variant]["throughput_img_s"] for r in sel],
                   color=colors[fam], label=fam, s=28)
    _label_points(ax, [r["macs"] / 1e6 for r in pts], [r["speed"][variant]["throughput_img_s"] for r in pts],
                  [r["model"] for r in pts])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MACs per 32x32 image (M, fvcore: 1 multiply-add = 1 flop)")
    ax.set_ylabel(f"inference images/s ({variant})")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)
