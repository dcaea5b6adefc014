"""PNG plots for docs/benchmarks.md: accuracy vs MACs, accuracy vs params, throughput vs MACs.
Each function writes one file and returns its path; with nothing to plot it still writes a
figure that says so, so the images the README embeds always exist."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

DATASETS = ("cifar10", "cifar100")


FAMILY_MARKERS = ("o", "s", "^", "D", "v")


def _family_styles(families: list[str]) -> dict[str, dict]:
    """Colour and marker per family: 20 colours, then the next marker shape, so ~36 families
    stay distinguishable."""
    cmap = plt.get_cmap("tab20")
    return {f: {"color": cmap(i % 20), "marker": FAMILY_MARKERS[(i // 20) % len(FAMILY_MARKERS)]}
            for i, f in enumerate(sorted(set(families)))}


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


def frontier(xs, ys, x_low: bool, y_high: bool) -> set[int]:
    """Indices of the points no other point dominates, where lower x is better when ``x_low``
    and higher y is better when ``y_high`` (the Pareto frontier)."""
    def better(a, b, low):  # a at least as good as b
        return a <= b if low else a >= b

    keep = set()
    for i, (x, y) in enumerate(zip(xs, ys)):
        if not any(j != i and better(xs[j], x, x_low) and better(ys[j], y, not y_high)
                   and (xs[j], ys[j]) != (x, y) for j in range(len(xs))):
            keep.add(i)
    return keep


def _label_points(ax, xs, ys, names, label: set[int] | None = None, many: int = 30) -> None:
    """Name every point, or with more than ``many`` points only those in ``label`` (the table
    beside the plot has them all)."""
    for i, (x, y, n) in enumerate(zip(xs, ys, names)):
        if len(names) <= many or label is None or i in label:
            ax.annotate(n, (x, y), fontsize=7, xytext=(3, 2), textcoords="offset points", alpha=0.85)


def _legend(ax, n_families: int) -> None:
    if n_families > 8:  # many families: beside the axes, not over the points
        ax.legend(fontsize=7, ncol=1 + n_families // 20, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize=7, ncol=2)


def accuracy_plot(points: list[dict], x_key: str, x_label: str, path: Path, title: str) -> Path:
    """``points``: dicts with model, family, dataset, top1 and ``x_key``; one panel per dataset."""
    datasets = [d for d in DATASETS if any(p["dataset"] == d for p in points)]
    fig, axes = plt.subplots(1, max(1, len(datasets)), figsize=(6.5 * max(1, len(datasets)), 4.8), squeeze=False)
    if not datasets:
        _empty(axes[0][0], "No pretrained weights in weights_manifest.json yet:\n"
                           "this plot fills in as weights are published.")
        axes[0][0].set_title(title)
        return _save(fig, path)
    styles = _family_styles([p["family"] for p in points])
    for ax, ds in zip(axes[0], datasets):
        pts = [p for p in points if p["dataset"] == ds and p.get(x_key)]
        for fam in sorted({p["family"] for p in pts}):
            sel = [p for p in pts if p["family"] == fam]
            ax.scatter([p[x_key] / 1e6 for p in sel], [p["top1"] for p in sel], label=fam, s=28, **styles[fam])
        xs, ys = [p[x_key] / 1e6 for p in pts], [p["top1"] for p in pts]
        # many points: name the best trade-offs (no model is both cheaper and more accurate)
        _label_points(ax, xs, ys, [p["model"] for p in pts], frontier(xs, ys, x_low=True, y_high=True))
        ax.set_xscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel(f"top-1 on {ds.upper()} test set (%)")
        ax.set_title(f"{title} ({ds.upper()})")
        ax.grid(True, which="both", alpha=0.3)
        _legend(ax, len({p["family"] for p in pts}))
    return _save(fig, path)


def throughput_plot(rows: list[dict], variant: str, path: Path, title: str) -> Path:
    """Images/s of ``variant`` (inference, and training when measured) against MACs, log-log."""
    pts = [r for r in rows if r.get("macs") and (r.get("speed") or {}).get(variant, {}).get("throughput_img_s")]
    fig, ax = plt.subplots(figsize=(11, 6.5) if len(pts) > 30 else (8, 5.5))
    if not pts:
        _empty(ax, f"No speed measurements for variant {variant!r} in this run.")
        ax.set_title(title)
        return _save(fig, path)
    styles = _family_styles([r["family"] for r in pts])
    for fam in sorted({r["family"] for r in pts}):
        sel = [r for r in pts if r["family"] == fam]
        ax.scatter([r["macs"] / 1e6 for r in sel], [r["speed"][variant]["throughput_img_s"] for r in sel],
                   label=fam, s=28, **styles[fam])
    xs, ys = [r["macs"] / 1e6 for r in pts], [r["speed"][variant]["throughput_img_s"] for r in pts]
    # many points: name the fastest for their compute and the slowest for their compute
    label = frontier(xs, ys, x_low=False, y_high=True) | frontier(xs, ys, x_low=True, y_high=False)
    _label_points(ax, xs, ys, [r["model"] for r in pts], label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MACs per 32x32 image (M, fvcore: 1 multiply-add = 1 flop)")
    ax.set_ylabel(f"inference images/s ({variant})")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, len({r["family"] for r in pts}))
    ax.text(0.01, 0.01, "named: fastest and slowest models for their MACs" if len(pts) > 30 else "",
            transform=ax.transAxes, fontsize=7, alpha=0.7)
    return _save(fig, path)
