"""Figures of `bench/results.py`: fusion methods side by side, missing modalities, noise curves.

Each function takes the matching section of the results dict and writes one PNG.

    plot_av_digits(results["avdigits"], AV_MODELS, "docs/images/results_av_digits.png")
"""

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

import numpy as np  # noqa: E402


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _grouped_bars(ax, groups, names, title, legend_at):
    """`groups`: `{series label: [mean ± std dict per name]}`, drawn side by side per name."""
    x = np.arange(len(names))
    width = 0.8 / len(groups)
    for i, (label, rows) in enumerate(groups.items()):
        bars = ax.bar(x + (i - (len(groups) - 1) / 2) * width, [r["mean"] for r in rows], width,
                      yerr=[r["std"] for r in rows], capsize=3, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.set_xticks(x, names, rotation=20 if len(names) > 4 else 0)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.08)
    ax.set_title(title)
    ax.legend(fontsize=8, loc=legend_at)


def plot_av_digits(section, models, path):
    """Test accuracy (mean ± std over seeds) of every model, clean and degraded, as grouped bars."""
    fig = Figure(figsize=(11.0, 4.2))
    ax = fig.subplots()
    single = max(section["table"]["degraded"][m]["accuracy"]["mean"] for m in ("image only", "audio only"))
    ax.axhline(single, color="tab:orange", linestyle="--", linewidth=1, label="best single modality, degraded")
    groups = {f"{variant} (difficulty {section['variants'][variant]:g})":
              [section["table"][variant][m]["accuracy"] for m in models] for variant in ("clean", "degraded")}
    _grouped_bars(ax, groups, models, "AV-digits: single modalities vs fusion methods", "lower right")
    return _save(fig, path)


def plot_missing_modality(section, path):
    """Test accuracy with all modalities and with each one removed, per training (with/without dropout)."""
    keys = list(next(iter(section["models"].values()))["accuracy"])
    fig = Figure(figsize=(7.5, 4.0))
    groups = {label: [model["accuracy"][k] for k in keys] for label, model in section["models"].items()}
    _grouped_bars(fig.subplots(), groups, keys, "Missing modality at test time (clean AV-digits, attention fusion)",
                  "lower left")
    return _save(fig, path)


def plot_noise_curves(section, path):
    """Accuracy vs noise level, one panel per noised input (image, audio, all), one line per training."""
    models = list(section["models"])
    names = list(section["models"][models[0]]["noise_curves"])
    fig = Figure(figsize=(4.0 * len(names), 3.6))
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for label in models:
            values = section["models"][label]["noise_curves"][name]
            means = np.array([v["mean"] for v in values])
            stds = np.array([v["std"] for v in values])
            ax.plot(section["noise_levels"], means, marker="o", label=label)
            ax.fill_between(section["noise_levels"], means - stds, means + stds, alpha=0.2)
        ax.set_title(f"noise on {name}")
        ax.set_xlabel("Gaussian noise (× input std)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[0].legend(fontsize=8)
    return _save(fig, path)
