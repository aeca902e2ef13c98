"""Figures of the book, one function each, taking plain data and returning a Figure.

Every figure carries a footer naming its data source (:func:`source_label`),
so a synthetic figure can never be mistaken for a TNG300 one.

Every figure is drawn for the page: :data:`PAGE_WIDTH_IN` wide at :data:`FIGURE_DPI`, in the house
style :data:`STYLE`, with no text below :data:`MIN_FONT_PT` — so the book shows it at its natural
size and its text at ≥ 9 pt (``tests/test_plots.py`` checks every figure function;
the browser test in ``tests/test_book.py`` checks the rendered pages).
"""

from __future__ import annotations

import functools

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.text
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from hgtools.catalogue import FEATURES, GALAXY_INPUTS, SCHEMA, TARGETS, prediction_column

#: The smallest text of any figure at its natural size [pt].
MIN_FONT_PT = 9.0
#: Resolution of the figures [dots per inch].
FIGURE_DPI = 100
#: Width of every figure [inches]: the book's text column is 784 CSS px in a 1,400 px window, and a figure
#: this wide, saved at :data:`FIGURE_DPI` with 0.1 in of padding on each side, fits it at its natural size.
PAGE_WIDTH_IN = 7.6
#: The house style (matplotlib rcParams) every figure function draws in.
STYLE = {"figure.dpi": FIGURE_DPI, "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10,
         "xtick.labelsize": MIN_FONT_PT, "ytick.labelsize": MIN_FONT_PT, "legend.fontsize": MIN_FONT_PT,
         "legend.title_fontsize": MIN_FONT_PT, "figure.titlesize": 11}

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
#: Short names for crowded axes (matrices, ticks), with their units where they have one.
SHORT_LABELS = {"M_h": r"$\log M_{\rm vir}$", "C_h": r"$\log c$", "S_h": r"$\lambda$", "z_h": r"$z_{1/2}$",
                "Delta3_h": r"$\delta_3$", "stellar_mass": r"$\log M_*$", "sSFR": r"$\log$ sSFR",
                "radius": r"$\log R_{1/2}$", "color": r"$g-i$"}


def readability(fig: plt.Figure) -> tuple[float, float]:
    """The smallest visible text of a figure [pt] and the width of its saved image (tight box) [inches]."""
    renderer = fig.canvas.get_renderer()
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text().strip() and t.get_window_extent(renderer).width > 0
             and (t.axes is None or t.axes.get_visible())]
    return min(sizes, default=np.inf), fig.get_tightbbox(renderer).width


def house_style(function):
    """Draw a figure function's figure in :data:`STYLE`, and refuse one a reader could not read.

    Raises
    ------
    ValueError
        If the figure has text below :data:`MIN_FONT_PT` or is wider than :data:`PAGE_WIDTH_IN`
        (it would be shrunk on the page).
    """
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        # only the style's own settings are set and restored: plt.rc_context would also restore
        # "interactive", which the notebook backend turns on when the first figure is made
        before = {key: matplotlib.rcParams[key] for key in STYLE}
        matplotlib.rcParams.update(STYLE)
        try:
            fig = function(*args, **kwargs)
            for ax in fig.axes:
                ax.tick_params(which="both", labelsize=MIN_FONT_PT)
            smallest, width = readability(fig)
        finally:
            matplotlib.rcParams.update(before)
        if smallest < MIN_FONT_PT or width > PAGE_WIDTH_IN + 0.05:
            plt.close(fig)
            raise ValueError(f"plots.{function.__name__}: text at {smallest:g} pt (minimum {MIN_FONT_PT:g}) or "
                             f"{width:.2f} in wide (page: {PAGE_WIDTH_IN:g} in) would be unreadable in the book")
        return fig
    return wrapper


def page_figure(nrows: int, ncols: int, panel_height: float, **kwargs) -> tuple[plt.Figure, np.ndarray]:
    """A page-wide figure of ``nrows`` x ``ncols`` panels, each ``panel_height`` inches tall (axes: 2-D array)."""
    return plt.subplots(nrows, ncols, figsize=(PAGE_WIDTH_IN, panel_height * nrows + 0.3), squeeze=False, **kwargs)


def finish(fig: plt.Figure, metadata: dict, hexbins: list | None = None,
           colour_label: str = "galaxies per hexagon", legend: plt.Axes | None = None, ncol: int = 4) -> plt.Figure:
    """Lay a figure out and add the source footer; optionally one log colour bar shared by its
    ``hexbins`` and, above the panels, one legend of the artists of the axes ``legend``."""
    top = 0.0
    if legend is not None:
        handles, labels = legend.get_legend_handles_labels()
        rows = int(np.ceil(len(labels) / ncol))
        top = 0.12 + 0.2 * rows  # inches
        fig.set_figheight(fig.get_figheight() + top)
        fig.legend(handles, labels, loc="upper center", ncol=ncol, frameon=False)
    height = fig.get_figheight()
    bottom, right = 0.3 / height, 0.86 if hexbins else 1.0
    fig.tight_layout(rect=(0, bottom, right, 1 - top / height))
    if hexbins:
        norm = LogNorm(1, max(2.0, max(float(np.max(h.get_array())) for h in hexbins)))
        for h in hexbins:
            h.set_norm(norm)
        cax = fig.add_axes((right + 0.03, bottom + 0.15, 0.025, 0.7 - bottom))
        fig.colorbar(hexbins[0], cax=cax, label=colour_label)
    return label_figure(fig, metadata)


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
    fig.text(0.5, 0.002, source_label(metadata), ha="center", va="bottom", fontsize=MIN_FONT_PT,
             color="firebrick" if _synthetic(metadata) else "black")
    return fig


@house_style
def distributions(catalogue: pd.DataFrame, columns: tuple[str, ...], metadata: dict,
                  ncols: int = 2, bins: int = 60) -> plt.Figure:
    """Histograms (probability density) of the given columns."""
    nrows = int(np.ceil(len(columns) / ncols))
    fig, axes = page_figure(nrows, ncols, 2.5)
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
    return finish(fig, metadata)


@house_style
def correlation_matrix(catalogue: pd.DataFrame, metadata: dict) -> plt.Figure:
    """Pearson correlation of the halo features and galaxy targets."""
    cols = list(FEATURES) + list(TARGETS)
    corr = catalogue[cols].corr().to_numpy()
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 6.6))
    im = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
    names = [SHORT_LABELS[c] for c in cols]
    ax.set_xticks(range(len(cols)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(cols)), names)
    for i in range(len(cols)):
        for j in range(len(cols)):
            ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=MIN_FONT_PT,
                    color="white" if abs(corr[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, label="Pearson r")
    return finish(fig, metadata)


@house_style
def zero_sfr(catalogue: pd.DataFrame, metadata: dict) -> plt.Figure:
    """log sSFR of galaxies with SFR > 0 and of those given a value by the zero-SFR recipe."""
    zero = catalogue["sfr_zero"].to_numpy()
    bins = np.linspace(catalogue["sSFR"].min(), catalogue["sSFR"].max(), 70)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 4))
    ax.hist(catalogue["sSFR"][~zero], bins=bins, color="steelblue", alpha=0.8, label="SFR > 0")
    ax.hist(catalogue["sSFR"][zero], bins=bins, color="firebrick", alpha=0.7,
            label=f"SFR = 0: drawn from N(-13.5, 0.5) ({zero.mean():.1%})")
    ax.set_xlabel(LABELS["sSFR"])
    ax.set_ylabel("galaxies")
    ax.legend()
    return finish(fig, metadata)


def joint_density(x: np.ndarray, y: np.ndarray, ax: plt.Axes, gridsize: int = 60):
    """Density of y against x: galaxies per hexagon on a log colour scale (returns the hexbin collection)."""
    return ax.hexbin(x, y, gridsize=gridsize, cmap="viridis", mincnt=1, norm=LogNorm())


@house_style
def law_relations(catalogue: pd.DataFrame, metadata: dict) -> plt.Figure:
    """Key relations of the embedded universe: SHMR, c-M, z_1/2-M, size-M_h, colour-M*, sSFR-M*."""
    pairs = [("M_h", "stellar_mass"), ("M_h", "C_h"), ("M_h", "z_h"),
             ("M_h", "radius"), ("stellar_mass", "color"), ("stellar_mass", "sSFR")]
    fig, axes = page_figure(3, 2, 2.9)
    hexbins = []
    for ax, (a, b) in zip(axes.flat, pairs):
        hexbins.append(joint_density(catalogue[a].to_numpy(), catalogue[b].to_numpy(), ax, gridsize=45))
        ax.set_xlabel(LABELS[a])
        ax.set_ylabel(LABELS[b])
    return finish(fig, metadata, hexbins)


@house_style
def oracle_vs_truth(catalogue: pd.DataFrame, oracle: pd.DataFrame, metadata: dict) -> plt.Figure:
    """True targets against E[target | halo features], with Pearson r."""
    fig, axes = page_figure(2, 2, 3.2)
    hexbins = []
    for ax, t in zip(axes.flat, TARGETS):
        x, y = catalogue[t].to_numpy(), oracle[t].to_numpy()
        hexbins.append(joint_density(x, y, ax, gridsize=45))
        lo, hi = np.percentile(np.r_[x, y], [0.1, 99.9])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel("true " + LABELS[t])
        ax.set_ylabel("oracle")
        ax.set_title(f"r = {np.corrcoef(x, y)[0, 1]:.3f}")
    return finish(fig, metadata, hexbins)


def _bin_centres(labels) -> list[float]:
    """Centres [log10 Msun/h] of M_h bins labelled ``lo-hi``."""
    return [np.mean([float(v) for v in label.split("-")]) for label in labels]


def _by_bin(ax: plt.Axes, table: pd.DataFrame, key: str, colours: dict, here: str = "here",
            tng: str = "TNG300") -> None:
    """Lines of ``here`` (solid) and ``tng`` (dashed) per M_h bin, one colour per value of ``key``."""
    bins = list(dict.fromkeys(table["M_h_bin"]))
    x = _bin_centres(bins)
    for value, colour in colours.items():
        sub = table[table[key] == value].set_index("M_h_bin").reindex(bins)
        name = " – ".join(SHORT_LABELS.get(v, v) for v in str(value).split("~"))  # a pair "a~b" or one name
        ax.plot(x, sub[here], "-o", color=colour, ms=3, lw=1.2, label=name)
        ax.plot(x, sub[tng], "--", color=colour, lw=1.0)
    ax.set_xlabel(LABELS["M_h"])


@house_style
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
    fig, axes = page_figure(5, 2, 3.0)
    slopes = parts["secondary dependence"].copy()
    for column, name in (("slope here", "here"), ("slope TNG300", "TNG300")):
        slopes[name] = slopes[column] * slopes["quartile gap"]
    for ax, target in zip(axes.flat[:4], TARGETS):
        sub = slopes[slopes["target"] == target].copy()
        for name in ("here", "TNG300"):
            sub[name] = sub[name] / TNG300_SAMPLE[target][1]
        _by_bin(ax, sub, "feature", feature_colours)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_title(f"{SHORT_LABELS[target]}: top − bottom quartile of the feature")
        ax.set_ylabel("difference / property std")
    axes.flat[0].legend(title="solid: here, dashed: TNG300-1", ncol=2)
    ax = axes.flat[4]
    if "intrinsic scatter" in parts:
        sc = parts["intrinsic scatter"].assign(ratio=lambda t: t["here"] / t["TNG300"], one=1.0)
        _by_bin(ax, sc, "target", dict(zip(TARGETS, plt.cm.Set1.colors)), here="ratio", tng="one")
        if "comparable" in sc:
            off = sc[~sc["comparable"].astype(bool)]
            ax.plot(_bin_centres(off["M_h_bin"]), off["ratio"], "x",
                    color="black", ms=7, label="not a goal")
        ax.axhspan(0.9, 1.1, color="0.9", zorder=0)
        ax.set_ylabel("intrinsic scatter / TNG300-1's")
        ax.legend(ncol=2)
    ax = axes.flat[5]
    if "residual correlations" in parts:
        rc = parts["residual correlations"]
        _by_bin(ax, rc, "pair", dict(zip(dict.fromkeys(rc["pair"]), plt.cm.Dark2.colors)))
        ax.set_ylabel("correlation of residuals\nat fixed halo")
        ax.legend(ncol=2)
    ax = axes.flat[6]
    _by_bin(ax, parts["quenched fraction"].assign(what="log sSFR < -11"), "what", {"log sSFR < -11": "firebrick"})
    ax.set_ylabel("quenched fraction")
    ax = axes.flat[7]
    hc = parts["halo-feature correlations"]
    _by_bin(ax, hc, "pair", dict(zip(dict.fromkeys(hc["pair"]), plt.cm.tab10.colors)))
    ax.set_ylabel("Spearman correlation\nat fixed mass")
    ax.legend(ncol=2)
    ax = axes.flat[8]
    x = np.arange(len(TARGETS))
    secondary = [f for f in FEATURES if f != "M_h"]
    width = 0.8 / len(secondary)
    for j, feature in enumerate(secondary):
        sub = importance[importance["feature"] == feature].set_index("target").loc[list(TARGETS)]
        pos = x - 0.4 + width * (j + 0.5)
        ax.bar(pos, sub["here"], width, color=feature_colours[feature], label=SHORT_LABELS[feature])
        ax.scatter(pos, sub["TNG300"], marker="_", s=120, color="black", zorder=3)
    ax.set_xticks(x, [SHORT_LABELS[t] for t in TARGETS])
    ax.set_ylabel("law importance [% of M_h]\n(bars: here, black: TNG300-1)")
    axes.flat[9].set_visible(False)
    return finish(fig, metadata)


@house_style
def bias_by_mass(masses: np.ndarray, measured: np.ndarray, errors: np.ndarray,
                 models: dict[str, np.ndarray], metadata: dict,
                 assembly: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> plt.Figure:
    """Relative large-scale bias against halo mass, measured and predicted; optional assembly bias panel."""
    fig, axes = page_figure(1 if assembly is None else 2, 1, 3.6)
    ax = axes[0, 0]
    ax.errorbar(masses, measured, errors, fmt="o", color="k", label="embedded universe (measured)")
    for name, curve in models.items():
        ax.plot(masses, curve, label=name)
    ax.set_xlabel(LABELS["M_h"])
    ax.set_ylabel("b / b(lowest-mass bin)")
    ax.legend()
    if assembly is not None:
        m, ratio, err = assembly
        ax = axes[1, 0]
        ax.errorbar(m, ratio, err, fmt="s", color="firebrick")
        ax.axhline(1, color="k", lw=0.8)
        ax.set_xlabel(LABELS["M_h"])
        ax.set_ylabel(r"b(oldest 25% in $z_{1/2}$) / b(youngest 25%)")
    return finish(fig, metadata)


@house_style
def delta3_thresholds(table: pd.DataFrame, metadata: dict) -> plt.Figure:
    """delta_3 against halo mass when the objects counted start at different masses (median, 16-84 % band)."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 4.6))
    for threshold, sub in table.groupby("threshold"):
        density = sub["tracer density"].iloc[0]
        line, = ax.plot(sub["M_h"], sub["delta3 median"], "o-",
                        label=rf"tracers $\log M_h \geq {threshold:.2f}$ ({density:.3f} $h^3$Mpc$^{{-3}}$)")
        ax.fill_between(sub["M_h"], sub["delta3 p16"], sub["delta3 p84"], color=line.get_color(), alpha=0.15)
    ax.set_xlabel(LABELS["M_h"])
    ax.set_ylabel(r"$\delta_3$ (median, 16–84 %)")
    ax.set_ylim(bottom=0)
    ax.legend()
    return finish(fig, metadata)


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
#: How the study's published values are drawn onto this run's figures.
STUDY_MARKER = {"marker": "*", "color": "goldenrod", "ms": 13, "mec": "black", "mew": 0.6, "ls": "none"}


@house_style
def methods_schematic() -> plt.Figure:
    """Fig. 1: the two paths, from the catalogue to the stacked predictions."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 4.4))
    ax.set_axis_off()
    ax.set(xlim=(0, PAGE_WIDTH_IN), ylim=(0, 4.4))

    def box(x, y, text, colour="white"):
        ax.text(x, y, text, ha="center", va="center", fontsize=MIN_FONT_PT,
                bbox={"boxstyle": "round,pad=0.3", "facecolor": colour, "edgecolor": "0.3"})

    def arrow(x0, y0, x1, y1):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={"arrowstyle": "->", "color": "0.3"})

    box(0.55, 2.2, "catalogue\n(cuts,\nzero-SFR\nrecipe)", "0.92")
    box(1.75, 2.2, "split\n48 / 12 / 40 %", "0.92")
    box(3.05, 3.4, "training set\n(raw)", "#dbe9f6")
    box(3.05, 1.0, "training set\n+ SMOGN", "#fde3cf")
    for y, colour in ((3.4, "#dbe9f6"), (1.0, "#fde3cf")):
        box(4.75, y, "ERT · kNN · LGBM · NN\n(hyper-parameters\non the validation set)", colour)
        box(6.85, y, "linear stack\n(fitted on the\nvalidation set)", colour)
        arrow(3.65, y, 3.85, y)
        arrow(5.7, y, 6.2, y)
    arrow(1.0, 2.2, 1.2, 2.2)
    arrow(2.2, 2.5, 2.7, 3.1)
    arrow(2.2, 1.9, 2.7, 1.3)
    ax.text(6.85, 2.2, "predictions of the\nuntouched test set", ha="center", va="center", fontsize=MIN_FONT_PT,
            style="italic")
    arrow(6.85, 2.85, 6.85, 2.5)
    arrow(6.85, 1.55, 6.85, 1.9)
    ax.text(4.75, 4.2, "path 1: raw", ha="center", fontsize=10, weight="bold")
    ax.text(4.75, 0.1, "path 2: SMOGN", ha="center", fontsize=10, weight="bold")
    return fig


@house_style
def augmented_distributions(train: pd.DataFrame, augmented: dict[str, pd.DataFrame], metadata: dict) -> plt.Figure:
    """Appendix A: each target in the training set and after SMOGN, for each augmentation given.

    ``augmented`` maps a label (e.g. "published SMOGN") to a long table with
    columns ``target`` and ``value``.
    """
    fig, axes = page_figure(2, 2, 2.8)
    colours = ("tab:red", "tab:blue", "tab:green")
    for ax, t in zip(axes.flat, TARGETS, strict=True):
        values = {label: a.loc[a["target"] == t, "value"].to_numpy() for label, a in augmented.items()}
        lo = min([train[t].min(), *(v.min() for v in values.values())])
        hi = max([train[t].max(), *(v.max() for v in values.values())])
        bins = np.linspace(lo, hi, 70)
        ax.hist(train[t], bins=bins, density=True, color="0.75", label="training set")
        for (label, v), colour in zip(values.items(), colours, strict=False):
            ax.hist(v, bins=bins, density=True, histtype="step", color=colour, lw=1.4, label=label)
        ax.set_xlabel(LABELS[t])
        ax.set_ylabel("PDF")
    return finish(fig, metadata, legend=axes[0, 0])


@house_style
def prediction_histograms(pred: pd.DataFrame, metadata: dict) -> plt.Figure:
    """Fig. 2: true (filled) and predicted (lines) distributions; columns raw, SMOGN, stacks."""
    fig, axes = page_figure(len(TARGETS), 3, 2.3)
    for row, t in enumerate(TARGETS):
        bins = np.linspace(*np.percentile(pred[t], [0.1, 99.9]), 60)
        for col in range(3):
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
                            color="black", linestyle=style, label=f"stack ({PATH_NAMES[path]})")
            ax.set_xlabel(LABELS[t])
            ax.set_yticks([])
            if row == 0:
                ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.02), ncol=2 if col < 2 else 1, frameon=False,
                          title=("raw models", "SMOGN models", "stacked models")[col])
    axes[0, 0].set_ylabel("PDF")
    return finish(fig, metadata)


@house_style
def scores_by_model(scores: pd.DataFrame, column: str, metadata: dict,
                    reference_lines: dict[str, float] | None = None, ylabel: str | None = None,
                    study: dict[str, dict[str, float]] | None = None) -> plt.Figure:
    """Figs. 3 and 4: a score per model (lines) and stack (large marker) for every target; raw and SMOGN.

    ``reference_lines``: the oracle's score per target (red stars); ``study``: the study's published
    score of the stacks, per path and target (gold stars; Table B1).
    """
    fig, axes = page_figure(2, 1, 3.2, sharex=True)
    x = np.arange(len(TARGETS))
    for ax, path in zip(axes[:, 0], ("raw", "smogn"), strict=True):
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
        if study:
            ax.plot(x + 0.3, [study[path][t] for t in TARGETS], label="study's stack (TNG300)", **STUDY_MARKER)
        ax.set_ylabel(ylabel or column)
        ax.set_title(f"{PATH_TITLES[path]}")
    axes[1, 0].set_xticks(x, [SHORT_LABELS[t] for t in TARGETS])
    return finish(fig, metadata, legend=axes[0, 0])


@house_style
def true_vs_predicted(pred: pd.DataFrame, metadata: dict, n: int = 30_000, seed: int = 0) -> plt.Figure:
    """Fig. 5: true against predicted (stacks), density-coloured, for ``n`` random test galaxies."""
    rows = np.random.default_rng(seed).choice(len(pred), min(n, len(pred)), replace=False)
    sub = pred.iloc[rows]
    fig, axes = page_figure(len(TARGETS), 2, 3.3)
    hexbins = []
    for r, t in enumerate(TARGETS):
        lo, hi = np.percentile(sub[t], [0.2, 99.8])
        for c, path in enumerate(("raw", "smogn")):
            ax = axes[r, c]
            hexbins.append(joint_density(sub[t].to_numpy(), sub[prediction_column(t, path, "stack")].to_numpy(),
                                         ax, gridsize=45))
            ax.plot([lo, hi], [lo, hi], "r--", lw=0.8)
            ax.set(xlim=(lo, hi), ylim=(lo, hi))
            ax.set_xlabel("true " + LABELS[t])
            ax.set_ylabel("predicted")
            ax.set_title(f"stacked, {PATH_NAMES[path]}")
    return finish(fig, metadata, hexbins)


def joint_relations(pred: pd.DataFrame, metadata: dict, relations) -> plt.Figure:
    """Fig. 6: predicted joint relations (density) with the true ones (contours), raw and SMOGN stacks."""
    stacks = {f"stacked, {PATH_NAMES[path]}": np.column_stack([pred[prediction_column(t, path, "stack")]
                                                                for t in TARGETS])
              for path in ("raw", "smogn")}
    return sampled_joint(pred, stacks, metadata, relations)


PATH_NAMES = {"raw": "raw", "smogn": "SMOGN"}
PATH_TITLES = {path: f"{name} models" for path, name in PATH_NAMES.items()}


@house_style
def feature_importances(features: pd.DataFrame, metadata: dict, tng300: pd.DataFrame | None = None) -> plt.Figure:
    """Fig. 7: permutation importance of the halo features, per cent of halo mass's.

    One row per target, raw and SMOGN columns; bars per model with the spread
    of the shuffles; where a row with ``model == "oracle"`` exists (the
    embedded universe), its value is drawn as a black bar outline: the
    importance under the generator's own law.  ``tng300`` (the reference table ``law_importance``:
    a ``target`` column and one column per feature, per cent of M_h's): TNG300-1's law, drawn as
    gold stars.
    """
    fig, axes = page_figure(len(TARGETS), 2, 2.6, sharey="row")
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
            if tng300 is not None:
                ax.plot(x, tng300.set_index("target").loc[t, list(FEATURES)], label="TNG300-1 law (reference)",
                        **STUDY_MARKER)
            ax.set_xticks(x, [SHORT_LABELS[f] for f in FEATURES])
            ax.set_yscale("symlog", linthresh=1.0)
            low = features.loc[features["target"] == t, "relative %"].min()
            ax.set_ylim(min(-0.5, 1.5 * low), 200)
            ax.axhline(0, color="0.5", lw=0.6)
            if c == 0:
                ax.set_ylabel(f"{SHORT_LABELS[t]}\n[% of M_h]")
            if r == 0:
                ax.set_title(PATH_TITLES[path])
    return finish(fig, metadata, legend=axes[0, 0])


@house_style
def stack_importances(stacks: pd.DataFrame, metadata: dict, coefficients: pd.DataFrame | None = None) -> plt.Figure:
    """Fig. 8: each model's share of the stack's permutation importance, per target and path [%].

    The importances (mean squared change when a model's predictions are shuffled) are normalised
    to sum to 100 % per stack, so that four collinear inputs can be compared on one linear axis.
    ``coefficients`` (columns ``path``, ``target`` and one per model): the stack's linear weights,
    drawn beside the shares.
    """
    names = [m for m in ("NN", "kNN", "LGBM", "ERT") if m in set(stacks["feature"])]
    ncols = 1 if coefficients is None else 2
    fig, axes = page_figure(2, ncols, 3.0, sharex=True)
    x = np.arange(len(TARGETS))
    width = 0.8 / len(names)
    for r, path in enumerate(("raw", "smogn")):
        table = stacks[stacks["path"] == path].pivot_table(index="target", columns="feature", values="importance")
        positive = table.clip(lower=0)
        share = 100 * positive.div(positive.sum(axis=1), axis=0).reindex(list(TARGETS))
        ax = axes[r, 0]
        for j, m in enumerate(names):
            ax.bar(x - 0.4 + width * (j + 0.5), share[m], width, color=MODEL_COLOURS[m], label=m)
        ax.set(ylim=(0, 100), ylabel="share of the stack's\nimportance [%]", title=f"stacked {PATH_TITLES[path]}")
        if coefficients is not None:
            ax = axes[r, 1]
            weights = coefficients[coefficients["path"] == path].set_index("target").reindex(list(TARGETS))
            for j, m in enumerate(names):
                ax.bar(x - 0.4 + width * (j + 0.5), weights[m], width, color=MODEL_COLOURS[m], label=m)
            ax.axhline(0, color="0.5", lw=0.6)
            ax.set(ylabel="stack coefficient", title=f"weights, {PATH_NAMES[path]} stack")
    for ax in axes[1]:
        ax.set_xticks(x, [SHORT_LABELS[t] for t in TARGETS])
    axes[0, 0].legend(ncol=2)
    return finish(fig, metadata)


SAMPLE_STYLES = {"true": {"ls": "-", "lw": 1.6}, "raw stack": {"ls": "--", "lw": 1.3},
                 "SMOGN stack": {"ls": ":", "lw": 1.6}, "oracle": {"ls": "-.", "lw": 0.9},
                 "painted, same haloes": {"ls": "--", "lw": 1.3}, "painted, own M* cut": {"ls": ":", "lw": 1.6}}
BIN_COLOURS = ("tab:blue", "tab:red")


def _spectrum_panels(props: list[str], centres: dict[str, tuple[float, float]]) -> tuple[plt.Figure, list]:
    """A page-wide grid of (P(k), lower) panel pairs, one per property, titled with its bins' centres."""
    fig = plt.figure(figsize=(PAGE_WIDTH_IN, 4.3 * int(np.ceil(len(props) / 2)) + 0.9))
    outer = fig.add_gridspec(int(np.ceil(len(props) / 2)), 2, hspace=0.45, wspace=0.35)
    panels = []
    for i, prop in enumerate(props):
        inner = outer[i // 2, i % 2].subgridspec(2, 1, height_ratios=(3, 1.3), hspace=0.08)
        ax, low = fig.add_subplot(inner[0]), fig.add_subplot(inner[1])
        first, second = centres[prop]
        ax.set_title(f"{SHORT_LABELS[prop]}: bins at {first:g} (blue), {second:g} (red)")
        ax.set_ylabel(r"$P(k)\ [h^{-3}{\rm Mpc}^3]$")
        ax.tick_params(labelbottom=False)
        low.set_xlabel(r"$k\ [h\,{\rm Mpc}^{-1}]$")
        panels.append((prop, ax, low))
    return fig, panels


def _legend_of_styles(fig: plt.Figure, styles: dict[str, dict]) -> None:
    """One legend at the top of the figure for the samples' line styles (colours are the bins)."""
    handles = [plt.Line2D([], [], color="0.2", **style) for style in styles.values()]
    fig.legend(handles, list(styles), loc="upper center", ncol=min(4, len(styles)), frameon=False)


@house_style
def power_spectra(spectra: pd.DataFrame, chi2: pd.DataFrame, centres: dict[str, tuple[float, float]],
                  metadata: dict) -> plt.Figure:
    """Fig. 9: power spectra of the two bins of each property, true vs predicted, with Eq. 7 residuals.

    The true spectra carry their Eq. 6 error band; colours are the two bins of each property
    (centres in the titles), line styles the samples; the χ² of each bin and sample are in the
    table beside the figure (``chi2``, :func:`hgtools.clustering.chi2_table`).
    """
    props = list(dict.fromkeys(spectra["property"]))
    fig, panels = _spectrum_panels(props, centres)
    samples = list(dict.fromkeys(spectra["sample"]))
    for prop, ax, res in panels:
        sub = spectra[spectra["property"] == prop]
        for b, colour in zip(sorted(set(sub["bin"])), BIN_COLOURS, strict=False):
            for sample in samples:
                s = sub[(sub["bin"] == b) & (sub["sample"] == sample)]
                if s.empty:  # no galaxy of this sample in the bin
                    continue
                ax.plot(s["k"], s["P"], color=colour, **SAMPLE_STYLES.get(sample, {}))
                if sample == "true":
                    ax.fill_between(s["k"], s["P"] - s["sigma"], s["P"] + s["sigma"], color=colour, alpha=0.15)
                else:
                    res.plot(s["k"], s["residual"], color=colour, **SAMPLE_STYLES.get(sample, {}))
        ax.set(xscale="log", yscale="log")
        res.set(xscale="log", yscale="log", xlim=ax.get_xlim())
        for axis in (res.xaxis, res.yaxis):
            axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        res.set_ylabel("Eq. 7")
    _legend_of_styles(fig, {s: SAMPLE_STYLES.get(s, {}) for s in samples})
    fig.subplots_adjust(left=0.12, right=0.98, top=1 - 0.75 / fig.get_figheight(), bottom=0.75 / fig.get_figheight())
    return label_figure(fig, metadata)


#: Colours of the density models and the stacks in the "Beyond the conditional mean" chapter.
DENSITY_COLOURS = {"flow": "tab:blue", "gaussian": "tab:orange", "residual": "tab:green",
                   "raw stack": "black", "SMOGN stack": "0.45", "sampled": "tab:blue",
                   "true law": "0.6"}


@house_style
def sampled_distributions(truth: pd.DataFrame, samples: dict[str, np.ndarray], metadata: dict) -> plt.Figure:
    """True (filled) and sampled or predicted (lines) distributions of the four properties.

    ``samples``: label -> (n, 4) values (one draw per halo, or a point model's predictions).
    """
    fig, axes = page_figure(2, 2, 2.8)
    for j, (ax, t) in enumerate(zip(axes.flat, TARGETS)):
        bins = np.linspace(*np.percentile(truth[t], [0.1, 99.9]), 60)
        ax.hist(truth[t], bins=bins, density=True, color="0.8", label="true")
        for label, values in samples.items():
            ax.hist(values[:, j], bins=bins, density=True, histtype="step", lw=1.3,
                    color=DENSITY_COLOURS.get(label, None), ls="--" if "stack" in label else "-", label=label)
        ax.set_xlabel(LABELS[t])
        ax.set_ylabel("probability density")
    return finish(fig, metadata, legend=axes[0, 0], ncol=len(samples) + 1)


@house_style
def sampled_joint(truth: pd.DataFrame, samples: dict[str, np.ndarray], metadata: dict, relations) -> plt.Figure:
    """Joint relations of sampled or predicted populations (density) with the true ones (contours), as Fig. 6."""
    values = {label: pd.DataFrame(v, columns=list(TARGETS)).assign(M_h=truth["M_h"].to_numpy())
              for label, v in samples.items()}
    panel = 0.86 * PAGE_WIDTH_IN / len(values)
    fig, axes = page_figure(len(relations), len(values), min(2.6, max(1.9, 0.95 * panel)))
    hexbins = []
    for r, (x, y) in enumerate(relations):
        tx, ty = truth[x].to_numpy(), truth[y].to_numpy()
        xr, yr = np.percentile(tx, [0.5, 99.5]), np.percentile(ty, [0.5, 99.5])
        h, xe, ye = np.histogram2d(tx, ty, bins=40, range=[xr, yr])
        levels = np.quantile(h[h > 0], [0.5, 0.8, 0.95])
        for c, (label, table) in enumerate(values.items()):
            ax = axes[r, c]
            hexbins.append(joint_density(table[x].to_numpy(), table[y].to_numpy(), ax, gridsize=40))
            ax.contour(0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), h.T, levels=levels, colors="k",
                       linewidths=0.8)
            ax.set(xlim=xr, ylim=yr, xlabel=SHORT_LABELS[x], ylabel=SHORT_LABELS[y] if c == 0 else "")
            if r == 0:
                ax.set_title(label)
    return finish(fig, metadata, hexbins)


@house_style
def density_calibration(coverage: pd.DataFrame, pit: pd.DataFrame, metadata: dict) -> plt.Figure:
    """PIT histograms (left) and interval coverage per M_h bin (right), per property (rows) and model."""
    fig, axes = page_figure(len(TARGETS), 2, 2.5, sharex="col")
    models = list(dict.fromkeys(pit["model"]))
    for j, t in enumerate(TARGETS):
        ax = axes[j, 0]
        for model in models:
            p = pit[(pit["target"] == t) & (pit["model"] == model)]
            ax.stairs(p["density"], np.r_[p["lo"].to_numpy(), p["hi"].to_numpy()[-1]],
                      color=DENSITY_COLOURS.get(model), lw=1.5, label=model)
        ax.axhline(1, color="k", lw=0.8, ls=":")
        ax.set_ylabel(f"{SHORT_LABELS[t]}\nPIT density")
        ax = axes[j, 1]
        bins = [b for b in dict.fromkeys(coverage["M_h_bin"]) if b != "all"]
        centres = _bin_centres(bins)
        for model in models:
            for level, marker in zip(sorted(set(coverage["level"])), ("o", "s")):
                c = coverage[(coverage["target"] == t) & (coverage["model"] == model) & (coverage["level"] == level)]
                c = c.set_index("M_h_bin").reindex(bins)
                ax.plot(centres, 100 * (c["coverage"] - level), marker=marker, color=DENSITY_COLOURS.get(model),
                        lw=1, label=f"{model}, {level:.0%}")
        ax.axhspan(-2, 2, color="0.9", zorder=0)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_ylabel("coverage − nominal\n[points]")
    axes[-1, 0].set_xlabel("PIT (rank of the truth among the draws)")
    axes[-1, 1].set_xlabel(LABELS["M_h"])
    axes[0, 0].legend()
    return finish(fig, metadata, legend=axes[0, 1], ncol=3)


@house_style
def sampled_power_spectra(spectra: pd.DataFrame, centres: dict[str, tuple[float, float]],
                          metadata: dict) -> plt.Figure:
    """Two-bin power spectra: truth (band: Eq. 6), sampled populations (band: spread of the draws), raw stack.

    Lower panels: P / P_true.  The χ² per bandpower of the draws and of the stack are in the table
    beside the figure.
    """
    props = list(dict.fromkeys(spectra["property"]))
    fig, panels = _spectrum_panels(props, centres)
    styles = {"true": {"ls": "-", "lw": 1.4}, "sampled": {"ls": "-.", "lw": 1.4}, "raw stack": {"ls": "--", "lw": 1.4}}
    for prop, ax, ratio in panels:
        sub = spectra[spectra["property"] == prop]
        for b, colour in zip(sorted(set(sub["bin"])), BIN_COLOURS, strict=False):
            true = sub[(sub["bin"] == b) & (sub["sample"] == "true")]
            if true.empty:
                continue
            ax.fill_between(true["k"], true["P"] - true["sigma"], true["P"] + true["sigma"], color=colour, alpha=0.15)
            for sample, style in styles.items():
                s = sub[(sub["bin"] == b) & (sub["sample"] == sample)]
                if s.empty:
                    continue
                ax.plot(s["k"], s["P"], color=colour, **style)
                if sample == "sampled":
                    ax.fill_between(s["k"], s["P"] - s["P_std"], s["P"] + s["P_std"], color=colour, alpha=0.3)
                if sample != "true":
                    ratio.plot(s["k"], s["P"].to_numpy() / true["P"].to_numpy(), color=colour, **style)
        ax.set(xscale="log", yscale="log")
        ratio.axhline(1, color="k", lw=0.8)
        ratio.set(xscale="log", xlim=ax.get_xlim(), ylim=(0.5, 1.5))
        ratio.set_ylabel(r"$P / P_{\rm true}$")
    _legend_of_styles(fig, styles)
    fig.subplots_adjust(left=0.12, right=0.98, top=1 - 0.75 / fig.get_figheight(), bottom=0.75 / fig.get_figheight())
    return label_figure(fig, metadata)


@house_style
def galaxy_assembly_bias(table: pd.DataFrame, metadata: dict) -> plt.Figure:
    """b(top quartile) / b(bottom quartile) at fixed halo mass, per split, for truth, draws and stack."""
    bins = list(dict.fromkeys(table["M_h_bin"]))
    fig, axes = page_figure(len(bins), 1, 3.0)
    styles = {"haloes": ("o", "tab:purple"), "true": ("o", "0.3"), "sampled": ("s", "tab:blue"),
              "raw stack": ("D", "black")}
    for ax, label in zip(axes[:, 0], bins):
        sub = table[table["M_h_bin"] == label]
        splits = list(dict.fromkeys(sub["split"]))
        for k, sample in enumerate(("haloes", "true", "sampled", "raw stack")):
            s = sub[sub["sample"] == sample].set_index("split").reindex(splits)
            marker, colour = styles[sample]
            ax.errorbar(np.arange(len(splits)) + 0.15 * (k - 1.5), s["ratio"], s["error"], fmt=marker,
                        color=colour, label=sample, capsize=2)
        ax.axhline(1, color="k", lw=0.8)
        ax.set_xticks(range(len(splits)), [LABELS[s] for s in splits])
        ax.set(title=f"{label} " + r"$\log_{10} M_{\rm vir}$", ylabel="b(top quartile) /\nb(bottom quartile)")
    axes[0, 0].legend(ncol=4)
    return finish(fig, metadata)


@house_style
def galaxy_inputs(pred: pd.DataFrame, metadata: dict, halo_only_pcc: dict[str, float] | None = None) -> plt.Figure:
    """Fig. 10: true vs predicted by networks given halo and galaxy properties, with Pearson r."""
    fig, axes = page_figure(2, 2, 3.2)
    hexbins = []
    for ax, t in zip(axes.flat, TARGETS, strict=True):
        truth, guess = pred[t].to_numpy(), pred[prediction_column(t, GALAXY_INPUTS, "NN")].to_numpy()
        lo, hi = np.percentile(truth, [0.2, 99.8])
        hexbins.append(joint_density(truth, guess, ax, gridsize=45))
        ax.plot([lo, hi], [lo, hi], "r--", lw=0.8)
        ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="true " + LABELS[t], ylabel="predicted")
        text = f"r = {np.corrcoef(truth, guess)[0, 1]:.3f}"
        if halo_only_pcc:
            text += f"\n(halo inputs only: {halo_only_pcc[t]:.3f})"
        ax.text(0.04, 0.96, text, transform=ax.transAxes, va="top", fontsize=MIN_FONT_PT,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    return finish(fig, metadata, hexbins)
