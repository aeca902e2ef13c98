"""Figures of the book, one function each, taking plain data and returning a Figure.

Every figure carries a footer naming its data source (:func:`source_label`),
so a synthetic figure can never be mistaken for a TNG300 one.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from hgtools.catalogue import FEATURES, GALAXY_INPUTS, SCHEMA, TARGETS, prediction_column

#: The smallest text of any figure at its natural size [pt] (the browser test checks it stays >= 9 pt on the page).
MIN_FONT_PT = 9.0

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
    from hgtools.sources import get_source

    try:
        return get_source(metadata.get("source")).label(metadata)
    except ValueError:
        return f"Data: {metadata.get('source', 'unknown source')}"


def _synthetic(metadata: dict) -> bool:
    from hgtools.sources import available, get_source

    return metadata.get("source") in available() and get_source(metadata["source"]).synthetic


def source_banner(metadata: dict) -> str:
    """A MyST admonition naming the data source, shown at the top of every chapter."""
    if _synthetic(metadata):
        return (":::{warning}\nEvery number and figure on this page comes from the **hgtools embedded "
                "universe**: a synthetic universe calibrated to TNG300-1 summary statistics "
                f"({metadata['box_size']:g} Mpc/h box, seed {metadata.get('seed')}). "
                "They are **not IllustrisTNG300 results**.\n:::")
    return (f":::{{note}}\nEvery number and figure on this page comes from "
            f"{source_label(metadata)[6:]}.\n:::")


def label_figure(fig: plt.Figure, metadata: dict) -> plt.Figure:
    """Write the data source at the bottom of a figure (in red when the data are synthetic)."""
    fig.text(0.5, 0.002, source_label(metadata), ha="center", va="bottom", fontsize=8,
             color="firebrick" if _synthetic(metadata) else "black")
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


def _by_bin(ax: plt.Axes, table: pd.DataFrame, key: str, colours: dict, here: str = "here",
            tng: str = "TNG300") -> None:
    """Lines of ``here`` (solid) and ``tng`` (dashed) per M_h bin, one colour per value of ``key``."""
    bins = list(dict.fromkeys(table["M_h_bin"]))
    x = [np.mean([float(v) for v in b.split("-")]) for b in bins]
    for value, colour in colours.items():
        sub = table[table[key] == value].set_index("M_h_bin").reindex(bins)
        ax.plot(x, sub[here], "-o", color=colour, ms=3, lw=1.2, label=value)
        ax.plot(x, sub[tng], "--", color=colour, lw=1.0)
    ax.set_xlabel(LABELS["M_h"])


def law_calibration(parts: dict[str, pd.DataFrame], importance: pd.DataFrame, metadata: dict) -> plt.Figure:
    """The universe's law beside TNG300-1's, per M_h bin (solid: here, dashed: TNG300-1).

    Panels: the quartile differences of each property along each secondary feature (in units of
    the property's standard deviation; :func:`hgtools.diagnostics.secondary_slopes`), the
    intrinsic scatter (ratio to TNG300-1's), the residual correlations, the quenched fraction,
    the halo-feature correlations, and the law's permutation importances.
    """
    from hgtools.diagnostics import SECONDARY
    from hgtools.reference import TNG300_SAMPLE

    feature_colours = dict(zip(SECONDARY, plt.cm.tab10.colors))
    fig, axes = plt.subplots(3, 3, figsize=(15, 12.5))
    slopes = parts["secondary dependence"].copy()
    for column, name in (("slope here", "here"), ("slope TNG300", "TNG300")):
        slopes[name] = slopes[column] * slopes["quartile gap"]
    for ax, target in zip(axes.flat[:4], TARGETS):
        sub = slopes[slopes["target"] == target].copy()
        for name in ("here", "TNG300"):
            sub[name] = sub[name] / TNG300_SAMPLE[target][1]
        _by_bin(ax, sub, "feature", feature_colours)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_ylabel(f"top - bottom quartile of the feature\n{LABELS[target]} / std", fontsize=9)
    axes.flat[0].legend(fontsize=8, title="solid: here, dashed: TNG300-1", title_fontsize=8)
    ax = axes.flat[4]
    if "intrinsic scatter" in parts:
        sc = parts["intrinsic scatter"].assign(ratio=lambda t: t["here"] / t["TNG300"], one=1.0)
        _by_bin(ax, sc, "target", dict(zip(TARGETS, plt.cm.Set1.colors)), here="ratio", tng="one")
        ax.axhspan(0.9, 1.1, color="0.9", zorder=0)
        ax.set_ylabel("intrinsic scatter / TNG300-1's")
        ax.legend(fontsize=8)
    ax = axes.flat[5]
    if "residual correlations" in parts:
        rc = parts["residual correlations"]
        _by_bin(ax, rc, "pair", dict(zip(dict.fromkeys(rc["pair"]), plt.cm.Dark2.colors)))
        ax.set_ylabel("correlation of residuals at fixed halo")
        ax.legend(fontsize=7)
    ax = axes.flat[6]
    _by_bin(ax, parts["quenched fraction"].assign(what="log sSFR < -11"), "what", {"log sSFR < -11": "firebrick"})
    ax.set_ylabel("quenched fraction")
    ax = axes.flat[7]
    hc = parts["halo-feature correlations"]
    _by_bin(ax, hc, "pair", dict(zip(dict.fromkeys(hc["pair"]), plt.cm.tab10.colors)))
    ax.set_ylabel("Spearman correlation at fixed mass")
    ax.legend(fontsize=7)
    ax = axes.flat[8]
    x = np.arange(len(TARGETS))
    secondary = [f for f in FEATURES if f != "M_h"]
    width = 0.8 / len(secondary)
    for j, feature in enumerate(secondary):
        sub = importance[importance["feature"] == feature].set_index("target").loc[list(TARGETS)]
        pos = x - 0.4 + width * (j + 0.5)
        ax.bar(pos, sub["here"], width, color=feature_colours[feature], label=feature)
        ax.scatter(pos, sub["TNG300"], marker="_", s=120, color="black", zorder=3)
    ax.set_xticks(x, list(TARGETS), fontsize=8)
    ax.set_ylabel("law importance [% of M_h]\n(bars: here, black: TNG300-1)")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
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


def delta3_thresholds(table: pd.DataFrame, metadata: dict) -> plt.Figure:
    """delta_3 against halo mass when the objects counted start at different masses (median, 16-84 % band)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for threshold, sub in table.groupby("threshold"):
        density = sub["tracer density"].iloc[0]
        line, = ax.plot(sub["M_h"], sub["delta3 median"], "o-",
                        label=rf"tracers $\log M_h \geq {threshold:.2f}$ ({density:.3f} $h^3$Mpc$^{{-3}}$)")
        ax.fill_between(sub["M_h"], sub["delta3 p16"], sub["delta3 p84"], color=line.get_color(), alpha=0.15)
    ax.set_xlabel(LABELS["M_h"])
    ax.set_ylabel(r"$\delta_3$ (median, 16–84 %)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return label_figure(fig, metadata)


def describe(catalogue: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Mean, standard deviation and range of columns, with their units."""
    d = catalogue[list(columns)].describe().T[["mean", "std", "min", "max"]]
    d.insert(0, "unit", [SCHEMA[c].unit for c in columns])
    return d


# ---------------------------------------------------------------------------
# learning: figures 1-6 and appendix A
# ---------------------------------------------------------------------------

MODEL_COLOURS = {"ERT": "tab:green", "kNN": "tab:orange", "LGBM": "tab:blue", "NN": "tab:purple",
                 "stack": "black"}


def methods_schematic() -> plt.Figure:
    """Fig. 1: the two paths, from the catalogue to the stacked predictions."""
    fig, ax = plt.subplots(figsize=(11, 4.2))
    ax.set_axis_off()
    ax.set(xlim=(0, 11), ylim=(0, 4.2))

    def box(x, y, text, colour="white"):
        ax.text(x, y, text, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": colour, "edgecolor": "0.3"})

    def arrow(x0, y0, x1, y1):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={"arrowstyle": "->", "color": "0.3"})

    box(1.0, 2.1, "catalogue\n(cuts, zero-SFR\nrecipe)", "0.92")
    box(2.9, 2.1, "split\n48 / 12 / 40 %", "0.92")
    box(5.0, 3.3, "training set\n(raw)", "#dbe9f6")
    box(5.0, 0.9, "training set\n+ SMOGN", "#fde3cf")
    for y, colour in ((3.3, "#dbe9f6"), (0.9, "#fde3cf")):
        box(7.2, y, "ERT · kNN · LGBM · NN\n(hyper-parameters on\nthe validation set)", colour)
        box(9.7, y, "linear stack\n(fitted on the\nvalidation set)", colour)
        arrow(5.8, y, 6.1, y)
        arrow(8.35, y, 8.9, y)
    arrow(1.75, 2.1, 2.2, 2.1)
    arrow(3.5, 2.4, 4.3, 3.2)
    arrow(3.5, 1.8, 4.2, 1.0)
    ax.text(9.7, 2.1, "predictions of the\nuntouched test set", ha="center", va="center", fontsize=9,
            style="italic")
    arrow(9.7, 2.75, 9.7, 2.4)
    arrow(9.7, 1.45, 9.7, 1.8)
    ax.text(5.0, 4.05, "path 1: raw", ha="center", fontsize=10, weight="bold")
    ax.text(5.0, 0.15, "path 2: SMOGN", ha="center", fontsize=10, weight="bold")
    return fig


def augmented_distributions(train: pd.DataFrame, augmented: dict[str, pd.DataFrame], metadata: dict) -> plt.Figure:
    """Appendix A: each target in the training set and after SMOGN, for each augmentation given.

    ``augmented`` maps a label (e.g. "published SMOGN") to a long table with
    columns ``target`` and ``value``.
    """
    fig, axes = plt.subplots(1, len(TARGETS), figsize=(16, 3.6))
    colours = ("tab:red", "tab:blue", "tab:green")
    for ax, t in zip(axes, TARGETS, strict=True):
        values = {label: a.loc[a["target"] == t, "value"].to_numpy() for label, a in augmented.items()}
        lo = min([train[t].min(), *(v.min() for v in values.values())])
        hi = max([train[t].max(), *(v.max() for v in values.values())])
        bins = np.linspace(lo, hi, 70)
        ax.hist(train[t], bins=bins, density=True, color="0.75", label="training set")
        for (label, v), colour in zip(values.items(), colours, strict=False):
            ax.hist(v, bins=bins, density=True, histtype="step", color=colour, lw=1.4, label=label)
        ax.set_xlabel(LABELS[t])
    axes[0].set_ylabel("PDF")
    axes[0].legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return label_figure(fig, metadata)


def prediction_histograms(pred: pd.DataFrame, metadata: dict) -> plt.Figure:
    """Fig. 2: true (filled) and predicted (lines) distributions; columns raw, SMOGN, stacks."""
    fig, axes = plt.subplots(len(TARGETS), 3, figsize=(14, 3.1 * len(TARGETS)))
    for row, t in enumerate(TARGETS):
        bins = np.linspace(*np.percentile(pred[t], [0.1, 99.9]), 60)
        for col, title in enumerate(("raw models", "SMOGN models", "stacked models")):
            ax = axes[row, col]
            ax.hist(pred[t], bins=bins, density=True, color="0.8", label="true")
            if col < 2:
                path = ("raw", "smogn")[col]
                for m in ("ERT", "kNN", "LGBM", "NN"):
                    ax.hist(pred[prediction_column(t, path, m)], bins=bins, density=True, histtype="step",
                            color=MODEL_COLOURS[m], label=m)
            else:
                for path, style in (("raw", "-"), ("smogn", "--")):
                    ax.hist(pred[prediction_column(t, path, "stack")], bins=bins, density=True, histtype="step",
                            color="black", linestyle=style, label=f"stack ({path})")
            ax.set_xlabel(LABELS[t])
            if row == 0:
                ax.set_title(title)
            if row == 0 or col == 2:
                ax.legend(fontsize=7)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return label_figure(fig, metadata)


def scores_by_model(scores: pd.DataFrame, column: str, metadata: dict,
                    reference_lines: dict[str, float] | None = None, ylabel: str | None = None) -> plt.Figure:
    """Figs. 3 and 4: a score per model (lines) and stack (large marker) for every target; raw and SMOGN."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    x = np.arange(len(TARGETS))
    for ax, path in zip(axes, ("raw", "smogn"), strict=True):
        sub = scores[scores["path"] == path]
        for m in ("ERT", "kNN", "LGBM", "NN", "stack"):
            v = [sub[(sub["target"] == t) & (sub["model"] == m)][column].item() for t in TARGETS]
            if m == "stack":
                ax.plot(x + 0.15, v, "D", color="black", ms=9, label="stack")
            else:
                ax.plot(x, v, "o-", color=MODEL_COLOURS[m], label=m)
        if reference_lines:
            ax.plot(x - 0.15, [reference_lines[t] for t in TARGETS], "*", color="firebrick", ms=11,
                    label="oracle")
        ax.set_ylabel(ylabel or column)
        ax.set_title(f"{'raw' if path == 'raw' else 'SMOGN'} models", fontsize=10)
        ax.legend(fontsize=8, ncol=3)
    axes[1].set_xticks(x, TARGETS)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return label_figure(fig, metadata)


def true_vs_predicted(pred: pd.DataFrame, metadata: dict, n: int = 30_000, seed: int = 0) -> plt.Figure:
    """Fig. 5: true against predicted (stacks), density-coloured, for ``n`` random test galaxies."""
    rows = np.random.default_rng(seed).choice(len(pred), min(n, len(pred)), replace=False)
    sub = pred.iloc[rows]
    fig, axes = plt.subplots(len(TARGETS), 2, figsize=(9, 4 * len(TARGETS)))
    for r, t in enumerate(TARGETS):
        lo, hi = np.percentile(sub[t], [0.2, 99.8])
        for c, path in enumerate(("raw", "smogn")):
            ax = axes[r, c]
            joint_density(sub[t].to_numpy(), sub[prediction_column(t, path, "stack")].to_numpy(), ax, gridsize=50)
            ax.plot([lo, hi], [lo, hi], "r--", lw=0.8)
            ax.set(xlim=(lo, hi), ylim=(lo, hi))
            ax.set_xlabel("true " + LABELS[t])
            ax.set_ylabel("predicted")
            ax.set_title(f"stacked, {'raw' if path == 'raw' else 'SMOGN'}", fontsize=10)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return label_figure(fig, metadata)


def joint_relations(pred: pd.DataFrame, metadata: dict, relations) -> plt.Figure:
    """Fig. 6: predicted joint relations (density) with the true ones (contours), raw and SMOGN stacks."""
    stacks = {f"stacked, {title}": np.column_stack([pred[prediction_column(t, path, "stack")] for t in TARGETS])
              for path, title in (("raw", "raw"), ("smogn", "SMOGN"))}
    return sampled_joint(pred, stacks, metadata, relations)


PATH_TITLES = {"raw": "raw models", "smogn": "SMOGN models"}


def feature_importances(features: pd.DataFrame, metadata: dict) -> plt.Figure:
    """Fig. 7: permutation importance of the halo features, per cent of halo mass's.

    One row per target, raw and SMOGN columns; bars per model with the spread
    of the shuffles; where a row with ``model == "oracle"`` exists (the
    embedded universe), its value is drawn as a black bar outline: the
    importance under the generator's own law.
    """
    fig, axes = plt.subplots(len(TARGETS), 2, figsize=(12, 2.9 * len(TARGETS)), sharey="row")
    x = np.arange(len(FEATURES))
    names = [m for m in MODEL_COLOURS if m in set(features["model"])]
    width = 0.8 / len(names)
    for r, t in enumerate(TARGETS):
        truth = features[(features["target"] == t) & (features["model"] == "oracle")].set_index("feature")
        for c, path in enumerate(("raw", "smogn")):
            ax = axes[r, c]
            for j, m in enumerate(names):
                sub = features[(features["target"] == t) & (features["path"] == path)
                               & (features["model"] == m)].set_index("feature").loc[list(FEATURES)]
                ax.bar(x - 0.4 + width * (j + 0.5), sub["relative %"], width, yerr=sub["relative std %"],
                       color=MODEL_COLOURS[m], label=m, error_kw={"lw": 0.8})
            if not truth.empty:
                ax.bar(x, truth.loc[list(FEATURES), "relative %"], 0.86, fill=False, edgecolor="black",
                       lw=1.3, label="generator's law (oracle)")
            ax.set_xticks(x, [LABELS[f] for f in FEATURES], fontsize=8)
            ax.set_yscale("symlog", linthresh=1.0)
            low = features.loc[features["target"] == t, "relative %"].min()
            ax.set_ylim(min(-0.5, 1.5 * low), 200)
            ax.axhline(0, color="0.5", lw=0.6)
            if c == 0:
                ax.set_ylabel(f"{t}\nimportance [% of M_h]", fontsize=9)
            if r == 0:
                ax.set_title(PATH_TITLES[path])
    axes[0, 1].legend(fontsize=7, ncol=2)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return label_figure(fig, metadata)


def stack_importances(stacks: pd.DataFrame, metadata: dict) -> plt.Figure:
    """Fig. 8: permutation importance of each model inside the stacks, per cent of LightGBM's."""
    fig, axes = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    x = np.arange(len(TARGETS))
    names = [m for m in ("NN", "kNN", "LGBM", "ERT") if m in set(stacks["feature"])]
    width = 0.8 / len(names)
    for ax, path in zip(axes, ("raw", "smogn"), strict=True):
        for j, m in enumerate(names):
            sub = stacks[(stacks["path"] == path) & (stacks["feature"] == m)].set_index("target").loc[list(TARGETS)]
            ax.bar(x - 0.4 + width * (j + 0.5), sub["relative %"], width, yerr=sub["relative std %"],
                   color=MODEL_COLOURS[m], label=m, error_kw={"lw": 0.8})
        ax.set_yscale("symlog", linthresh=1.0)
        ax.axhline(100, color="0.5", lw=0.6, ls=":")
        ax.set_ylabel("importance [% of LGBM]")
        ax.set_title(f"stacked {PATH_TITLES[path]}", fontsize=10)
        ax.legend(fontsize=8, ncol=4)
    axes[1].set_xticks(x, TARGETS)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return label_figure(fig, metadata)


SAMPLE_STYLES = {"true": {"ls": "-", "lw": 1.6}, "raw stack": {"ls": "--", "lw": 1.3},
                 "SMOGN stack": {"ls": ":", "lw": 1.6}, "oracle": {"ls": "-.", "lw": 0.9},
                 "painted, same haloes": {"ls": "--", "lw": 1.3}, "painted, own M* cut": {"ls": ":", "lw": 1.6}}
BIN_COLOURS = ("tab:blue", "tab:red")


def power_spectra(spectra: pd.DataFrame, chi2: pd.DataFrame, centres: dict[str, tuple[float, float]],
                  metadata: dict) -> plt.Figure:
    """Fig. 9: power spectra of the two bins of each property, true vs predicted, with Eq. 7 residuals.

    The true spectra carry their Eq. 6 error band; the legends give the bin
    centres and, per predicted sample, the χ² of each bin.
    """
    props = list(dict.fromkeys(spectra["property"]))
    fig = plt.figure(figsize=(13, 10))
    outer = fig.add_gridspec(2, 2, hspace=0.3, wspace=0.22)
    for i, prop in enumerate(props):
        inner = outer[i // 2, i % 2].subgridspec(2, 1, height_ratios=(3, 1.2), hspace=0.05)
        ax, res = fig.add_subplot(inner[0]), fig.add_subplot(inner[1])
        sub = spectra[spectra["property"] == prop]
        lines = []
        for b, colour in zip(sorted(set(sub["bin"])), BIN_COLOURS, strict=False):
            for sample in dict.fromkeys(sub["sample"]):
                s = sub[(sub["bin"] == b) & (sub["sample"] == sample)]
                if s.empty:  # no galaxy of this sample in the bin
                    continue
                line, = ax.plot(s["k"], s["P"], color=colour, **SAMPLE_STYLES.get(sample, {}))
                if sample == "true":
                    ax.fill_between(s["k"], s["P"] - s["sigma"], s["P"] + s["sigma"], color=colour, alpha=0.15)
                    lines.append((line, f"bin {b}: centre {centres[prop][b - 1]:g}"))
                else:
                    res.plot(s["k"], s["residual"], color=colour, **SAMPLE_STYLES.get(sample, {}))
                    lines.append((line, f"bin {b} {sample}: χ² = {chi2.loc[(prop, b, sample), 'chi2']:.2f}"))
        ax.set(xscale="log", yscale="log", title=LABELS[prop])
        ax.set_ylabel(r"$P(k)\ [h^{-3}{\rm Mpc}^3]$")
        ax.tick_params(labelbottom=False)
        ax.legend(*zip(*lines, strict=True), fontsize=6.5, ncol=2, loc="lower left")
        res.set(xscale="log", yscale="log", xlim=ax.get_xlim())
        for axis in (res.xaxis, res.yaxis):
            axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        res.set_xlabel(r"$k\ [h\,{\rm Mpc}^{-1}]$")
        res.set_ylabel("Eq. 7", fontsize=8)
    return label_figure(fig, metadata)


#: Colours of the density models and the stacks in the "Beyond the conditional mean" chapter.
DENSITY_COLOURS = {"flow": "tab:blue", "gaussian": "tab:orange", "residual": "tab:green",
                   "raw stack": "black", "SMOGN stack": "0.45", "sampled": "tab:blue"}


def sampled_distributions(truth: pd.DataFrame, samples: dict[str, np.ndarray], metadata: dict) -> plt.Figure:
    """True (filled) and sampled or predicted (lines) distributions of the four properties.

    ``samples``: label -> (n, 4) values (one draw per halo, or a point model's predictions).
    """
    fig, axes = plt.subplots(1, len(TARGETS), figsize=(15, 3.6))
    for j, (ax, t) in enumerate(zip(axes, TARGETS)):
        bins = np.linspace(*np.percentile(truth[t], [0.1, 99.9]), 60)
        ax.hist(truth[t], bins=bins, density=True, color="0.8", label="true")
        for label, values in samples.items():
            ax.hist(values[:, j], bins=bins, density=True, histtype="step", lw=1.3,
                    color=DENSITY_COLOURS.get(label, None), ls="--" if "stack" in label else "-", label=label)
        ax.set_xlabel(LABELS[t])
    axes[0].set_ylabel("probability density")
    axes[0].legend(fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return label_figure(fig, metadata)


def sampled_joint(truth: pd.DataFrame, samples: dict[str, np.ndarray], metadata: dict, relations) -> plt.Figure:
    """Joint relations of sampled or predicted populations (density) with the true ones (contours), as Fig. 6."""
    values = {label: pd.DataFrame(v, columns=list(TARGETS)).assign(M_h=truth["M_h"].to_numpy())
              for label, v in samples.items()}
    fig, axes = plt.subplots(len(relations), len(values), figsize=(4.6 * len(values), 3.4 * len(relations)),
                             squeeze=False)
    for r, (x, y) in enumerate(relations):
        tx, ty = truth[x].to_numpy(), truth[y].to_numpy()
        xr, yr = np.percentile(tx, [0.5, 99.5]), np.percentile(ty, [0.5, 99.5])
        h, xe, ye = np.histogram2d(tx, ty, bins=40, range=[xr, yr])
        levels = np.quantile(h[h > 0], [0.5, 0.8, 0.95])
        for c, (label, table) in enumerate(values.items()):
            ax = axes[r, c]
            joint_density(table[x].to_numpy(), table[y].to_numpy(), ax, gridsize=45)
            ax.contour(0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), h.T, levels=levels, colors="k",
                       linewidths=0.8)
            ax.set(xlim=xr, ylim=yr, xlabel=LABELS[x], ylabel=LABELS[y])
            ax.set_title(f"{label} (contours: true)", fontsize=10)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return label_figure(fig, metadata)


def density_calibration(coverage: pd.DataFrame, pit: pd.DataFrame, metadata: dict) -> plt.Figure:
    """PIT histograms (top) and interval coverage per M_h bin (bottom), per property and model."""
    fig, axes = plt.subplots(2, len(TARGETS), figsize=(15, 7), sharey="row")
    models = list(dict.fromkeys(pit["model"]))
    for j, t in enumerate(TARGETS):
        ax = axes[0, j]
        for model in models:
            p = pit[(pit["target"] == t) & (pit["model"] == model)]
            ax.stairs(p["density"], np.r_[p["lo"].to_numpy(), p["hi"].to_numpy()[-1]],
                      color=DENSITY_COLOURS.get(model), lw=1.5, label=model)
        ax.axhline(1, color="k", lw=0.8, ls=":")
        ax.set(title=LABELS[t], xlabel="PIT (rank of the truth among the draws)")
        ax = axes[1, j]
        bins = [b for b in dict.fromkeys(coverage["M_h_bin"]) if b != "all"]
        centres = [np.mean([float(v) for v in b.split("-")]) for b in bins]
        for model in models:
            for level, marker in zip(sorted(set(coverage["level"])), ("o", "s")):
                c = coverage[(coverage["target"] == t) & (coverage["model"] == model) & (coverage["level"] == level)]
                c = c.set_index("M_h_bin").reindex(bins)
                ax.plot(centres, 100 * (c["coverage"] - level), marker=marker, color=DENSITY_COLOURS.get(model),
                        lw=1, label=f"{model}, {level:.0%}" if j == 0 else None)
        ax.axhspan(-2, 2, color="0.9", zorder=0)
        ax.axhline(0, color="k", lw=0.8)
        ax.set(xlabel=LABELS["M_h"])
    axes[0, 0].set_ylabel("density")
    axes[1, 0].set_ylabel("coverage − nominal [points]")
    axes[0, 0].legend(fontsize=9)
    axes[1, 0].legend(fontsize=8, ncol=2)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return label_figure(fig, metadata)


def sampled_power_spectra(spectra: pd.DataFrame, centres: dict[str, tuple[float, float]],
                          metadata: dict) -> plt.Figure:
    """Two-bin power spectra: truth (band: Eq. 6), sampled populations (band: spread of the draws), raw stack.

    Lower panels: P / P_true.  Legends give the χ² per bandpower of the draws and of the stack.
    """
    props = list(dict.fromkeys(spectra["property"]))
    fig = plt.figure(figsize=(14, 10))
    outer = fig.add_gridspec(2, 2, hspace=0.32, wspace=0.22)
    styles = {"true": "-", "sampled": "-.", "raw stack": "--"}
    for i, prop in enumerate(props):
        inner = outer[i // 2, i % 2].subgridspec(2, 1, height_ratios=(3, 1.2), hspace=0.05)
        ax, ratio = fig.add_subplot(inner[0]), fig.add_subplot(inner[1])
        sub = spectra[spectra["property"] == prop]
        for b, colour in zip(sorted(set(sub["bin"])), BIN_COLOURS, strict=False):
            true = sub[(sub["bin"] == b) & (sub["sample"] == "true")]
            if true.empty:
                continue
            ax.fill_between(true["k"], true["P"] - true["sigma"], true["P"] + true["sigma"], color=colour, alpha=0.15)
            for sample in ("true", "sampled", "raw stack"):
                s = sub[(sub["bin"] == b) & (sub["sample"] == sample)]
                if s.empty:
                    continue
                chi2 = s["chi2 per bandpower"].iloc[0] if sample != "true" else np.nan
                label = (f"bin {b} (centre {centres[prop][b - 1]:g}): true" if sample == "true"
                         else f"bin {b} {sample}: χ²/bandpower {chi2:.2f}" if np.isfinite(chi2)
                         else f"bin {b} {sample}")
                ax.plot(s["k"], s["P"], color=colour, ls=styles[sample], lw=1.4, label=label)
                if sample == "sampled":
                    ax.fill_between(s["k"], s["P"] - s["P_std"], s["P"] + s["P_std"], color=colour, alpha=0.3)
                if sample != "true":
                    ratio.plot(s["k"], s["P"].to_numpy() / true["P"].to_numpy(), color=colour, ls=styles[sample])
        ax.set(xscale="log", yscale="log", title=LABELS[prop])
        ax.set_ylabel(r"$P(k)\ [h^{-3}{\rm Mpc}^3]$")
        ax.tick_params(labelbottom=False)
        ax.legend(fontsize=8, loc="lower left")
        ratio.axhline(1, color="k", lw=0.8)
        ratio.set(xscale="log", xlim=ax.get_xlim(), ylim=(0.5, 1.5), xlabel=r"$k\ [h\,{\rm Mpc}^{-1}]$")
        ratio.set_ylabel(r"$P / P_{\rm true}$", fontsize=10)
    return label_figure(fig, metadata)


def galaxy_assembly_bias(table: pd.DataFrame, metadata: dict) -> plt.Figure:
    """b(top quartile) / b(bottom quartile) at fixed halo mass, per split, for truth, draws and stack."""
    bins = list(dict.fromkeys(table["M_h_bin"]))
    fig, axes = plt.subplots(1, len(bins), figsize=(7 * len(bins), 4.2), squeeze=False)
    styles = {"haloes": ("o", "tab:purple"), "true": ("o", "0.3"), "sampled": ("s", "tab:blue"),
              "raw stack": ("D", "black")}
    for ax, label in zip(axes[0], bins):
        sub = table[table["M_h_bin"] == label]
        splits = list(dict.fromkeys(sub["split"]))
        for k, sample in enumerate(("haloes", "true", "sampled", "raw stack")):
            s = sub[sub["sample"] == sample].set_index("split").reindex(splits)
            marker, colour = styles[sample]
            ax.errorbar(np.arange(len(splits)) + 0.15 * (k - 1.5), s["ratio"], s["error"], fmt=marker,
                        color=colour, label=sample, capsize=2)
        ax.axhline(1, color="k", lw=0.8)
        ax.set_xticks(range(len(splits)), [LABELS[s] for s in splits], fontsize=9)
        ax.set(title=f"{label} " + r"$\log_{10} M_{\rm vir}$", ylabel="b(top quartile) / b(bottom quartile)")
    axes[0, 0].legend(fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return label_figure(fig, metadata)


def galaxy_inputs(pred: pd.DataFrame, metadata: dict, halo_only_pcc: dict[str, float] | None = None) -> plt.Figure:
    """Fig. 10: true vs predicted by networks given halo and galaxy properties, with Pearson r."""
    fig, axes = plt.subplots(1, len(TARGETS), figsize=(4.2 * len(TARGETS), 4.2))
    for ax, t in zip(axes, TARGETS, strict=True):
        truth, guess = pred[t].to_numpy(), pred[prediction_column(t, GALAXY_INPUTS, "NN")].to_numpy()
        lo, hi = np.percentile(truth, [0.2, 99.8])
        joint_density(truth, guess, ax, gridsize=50)
        ax.plot([lo, hi], [lo, hi], "r--", lw=0.8)
        ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="true " + LABELS[t], ylabel="predicted")
        text = f"r = {np.corrcoef(truth, guess)[0, 1]:.3f}"
        if halo_only_pcc:
            text += f"\n(halo inputs only: {halo_only_pcc[t]:.3f})"
        ax.text(0.04, 0.96, text, transform=ax.transAxes, va="top", fontsize=9,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return label_figure(fig, metadata)
