"""Figures of the book, one function each, taking plain data and returning a Figure.

Every figure carries a footer naming its data source (:func:`source_label`),
so a synthetic figure can never be mistaken for a TNG300 one.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hgtools.catalogue import FEATURES, SCHEMA, TARGETS

#: Axis labels with units, by column.
LABELS = {
    "M_h": r"$\log_{10} M_{\rm vir}\ [h^{-1}M_\odot]$",
    "C_h": r"$\log_{10} c_{\rm vir}$",
    "S_h": r"spin $\lambda$",
    "z_h": r"$z_{1/2}$",
    "Delta3_h": r"$\delta_3$",
    "stellar_mass": r"$\log_{10} M_*\ [h^{-1}M_\odot]$",
    "sSFR": r"$\log_{10}\,{\rm sSFR}\ [h\,{\rm yr}^{-1}]$",
    "radius": r"$\log_{10} R_{1/2}^{(*)}\ [h^{-1}{\rm kpc}]$",
    "color": r"$g-i$ [mag]",
}


def source_label(metadata: dict) -> str:
    """One line naming the data source of a catalogue, for figures and pages."""
    box = metadata.get("box_size")
    if metadata.get("source") == "mock":
        return (f"Data: hgtools embedded universe (SYNTHETIC, TNG300-calibrated), "
                f"{box:g} Mpc/h box, seed {metadata.get('seed')}")
    if metadata.get("source") == "tng":
        return f"Data: IllustrisTNG ({metadata.get('simulation', 'TNG')}), {box:g} Mpc/h box"
    return f"Data: {metadata.get('source', 'unknown source')}"


def source_banner(metadata: dict) -> str:
    """A MyST admonition naming the data source, shown at the top of every chapter."""
    if metadata.get("source") == "mock":
        return (":::{warning}\nEvery number and figure on this page comes from the **hgtools embedded "
                "universe**: a synthetic universe calibrated to TNG300-1 summary statistics "
                f"({metadata['box_size']:g} Mpc/h box, seed {metadata.get('seed')}). "
                "They are **not IllustrisTNG300 results**.\n:::")
    return (f":::{{note}}\nEvery number and figure on this page comes from "
            f"{source_label(metadata)[6:]}.\n:::")


def label_figure(fig: plt.Figure, metadata: dict) -> plt.Figure:
    """Write the data source at the bottom of a figure."""
    fig.text(0.5, 0.002, source_label(metadata), ha="center", va="bottom", fontsize=8,
             color="firebrick" if metadata.get("source") == "mock" else "black")
    return fig


def distributions(catalogue: pd.DataFrame, columns: tuple[str, ...], metadata: dict,
                  ncols: int = 3, bins: int = 60) -> plt.Figure:
    """Histograms (probability density) of the given columns."""
    nrows = int(np.ceil(len(columns) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows + 0.4), squeeze=False)
    for ax, col in zip(axes.flat, columns):
        x = catalogue[col].to_numpy()
        if col == "Delta3_h":
            x = np.log10(x + 0.1)
            ax.set_xlabel(r"$\log_{10}(\delta_3 + 0.1)$")
        else:
            ax.set_xlabel(LABELS.get(col, col))
        ax.hist(x, bins=bins, density=True, color="0.35", histtype="stepfilled", alpha=0.8)
        ax.set_ylabel("PDF")
    for ax in list(axes.flat)[len(columns):]:
        ax.set_visible(False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return label_figure(fig, metadata)


def correlation_matrix(catalogue: pd.DataFrame, metadata: dict) -> plt.Figure:
    """Pearson correlation of the halo features and galaxy targets."""
    cols = list(FEATURES) + list(TARGETS)
    corr = catalogue[cols].corr().to_numpy()
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(cols)), cols)
    for i in range(len(cols)):
        for j in range(len(cols)):
            ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(corr[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, label="Pearson r")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return label_figure(fig, metadata)


def zero_sfr(catalogue: pd.DataFrame, metadata: dict) -> plt.Figure:
    """log sSFR of galaxies with SFR > 0 and of those given a value by the zero-SFR recipe."""
    zero = catalogue["sfr_zero"].to_numpy()
    bins = np.linspace(catalogue["sSFR"].min(), catalogue["sSFR"].max(), 70)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.hist(catalogue["sSFR"][~zero], bins=bins, color="steelblue", alpha=0.8, label="SFR > 0")
    ax.hist(catalogue["sSFR"][zero], bins=bins, color="firebrick", alpha=0.7,
            label=f"SFR = 0: drawn from N(-13.5, 0.5) ({zero.mean():.1%})")
    ax.set_xlabel(LABELS["sSFR"])
    ax.set_ylabel("galaxies")
    ax.legend()
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return label_figure(fig, metadata)


def joint_density(x: np.ndarray, y: np.ndarray, ax: plt.Axes, gridsize: int = 60) -> None:
    """Log-scaled hexbin density of y against x."""
    ax.hexbin(x, y, gridsize=gridsize, bins="log", cmap="viridis", mincnt=1)


def law_relations(catalogue: pd.DataFrame, metadata: dict) -> plt.Figure:
    """Key relations of the embedded universe: SHMR, c-M, z_1/2-M, size-M_h, colour-M*, sSFR-M*."""
    pairs = [("M_h", "stellar_mass"), ("M_h", "C_h"), ("M_h", "z_h"),
             ("M_h", "radius"), ("stellar_mass", "color"), ("stellar_mass", "sSFR")]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.6))
    for ax, (a, b) in zip(axes.flat, pairs):
        joint_density(catalogue[a].to_numpy(), catalogue[b].to_numpy(), ax)
        ax.set_xlabel(LABELS[a])
        ax.set_ylabel(LABELS[b])
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return label_figure(fig, metadata)


def oracle_vs_truth(catalogue: pd.DataFrame, oracle: pd.DataFrame, metadata: dict) -> plt.Figure:
    """True targets against E[target | halo features], with Pearson r."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
    for ax, t in zip(axes, TARGETS):
        x, y = catalogue[t].to_numpy(), oracle[t].to_numpy()
        joint_density(x, y, ax)
        lo, hi = np.percentile(np.r_[x, y], [0.1, 99.9])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel("true " + LABELS[t])
        ax.set_ylabel("oracle")
        ax.set_title(f"r = {np.corrcoef(x, y)[0, 1]:.3f}")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return label_figure(fig, metadata)


def bias_by_mass(masses: np.ndarray, measured: np.ndarray, errors: np.ndarray,
                 models: dict[str, np.ndarray], metadata: dict,
                 assembly: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> plt.Figure:
    """Relative large-scale bias against halo mass, measured and predicted; optional assembly bias panel."""
    ncols = 2 if assembly is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 4.2), squeeze=False)
    ax = axes[0, 0]
    ax.errorbar(masses, measured, errors, fmt="o", color="k", label="embedded universe (measured)")
    for name, curve in models.items():
        ax.plot(masses, curve, label=name)
    ax.set_xlabel(LABELS["M_h"])
    ax.set_ylabel("b / b(lowest-mass bin)")
    ax.legend(fontsize=8)
    if assembly is not None:
        m, ratio, err = assembly
        ax = axes[0, 1]
        ax.errorbar(m, ratio, err, fmt="s", color="firebrick")
        ax.axhline(1, color="k", lw=0.8)
        ax.set_xlabel(LABELS["M_h"])
        ax.set_ylabel(r"b(oldest 25% in $z_{1/2}$) / b(youngest 25%)")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return label_figure(fig, metadata)


def describe(catalogue: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Mean, standard deviation and range of columns, with their units."""
    d = catalogue[list(columns)].describe().T[["mean", "std", "min", "max"]]
    d.insert(0, "unit", [SCHEMA[c].unit for c in columns])
    return d
