"""Published numbers the project compares against (plain data, never results).

``TNG300_SAMPLE`` holds summary statistics of the study's TNG300-1 sample (the
authors' training set, after the cuts); ``STUDY`` holds numbers the study
reports for its stacked models.  They calibrate the embedded universe and sit
beside this project's own measurements in the book, always labelled as such.
"""

from __future__ import annotations

#: Objects in the study's TNG300-1 sample after the cuts.
TNG300_N_GALAXIES = 174_527

#: Mean and standard deviation of each column in the TNG300-1 sample.
TNG300_SAMPLE: dict[str, tuple[float, float]] = {
    "M_h": (11.56, 0.46),
    "C_h": (1.016, 0.158),
    "S_h": (0.049, 0.029),
    "z_h": (1.33, 0.61),
    "Delta3_h": (2.96, 2.88),
    "stellar_mass": (9.61, 0.62),
    "sSFR": (-10.49, 1.37),
    "radius": (0.53, 0.163),
    "color": (0.69, 0.251),
}

#: Pearson correlations between targets in the TNG300-1 sample.
TNG300_CORRELATIONS: dict[tuple[str, str], float] = {
    ("color", "sSFR"): -0.81,
    ("stellar_mass", "sSFR"): -0.64,
    ("stellar_mass", "color"): 0.57,
    ("stellar_mass", "radius"): 0.49,
    # the two below are not printed in the study: TNG300-1 values of the project's calibration brief
    ("sSFR", "radius"): -0.42,
    ("color", "radius"): 0.35,
}

#: Fraction of TNG300-1 galaxies in the sample with SFR exactly zero.
TNG300_ZERO_SFR_FRACTION = 0.14

#: Pearson r of the study's stacked (raw) models on the test set (Table B1).
STUDY_STACKED_PCC: dict[str, float] = {
    "stellar_mass": 0.98, "sSFR": 0.79, "radius": 0.75, "color": 0.71,
}

#: Table B1 of the study: MSE and Pearson r of the stacked models on the TNG300 test set.
STUDY_TABLE_B1: dict[str, dict[str, tuple[float, float]]] = {
    "raw": {"stellar_mass": (0.017, 0.98), "sSFR": (0.691, 0.79), "radius": (0.012, 0.75), "color": (0.032, 0.71)},
    "smogn": {"stellar_mass": (0.018, 0.98), "sSFR": (0.747, 0.79), "radius": (0.014, 0.71),
              "color": (0.036, 0.67)},
}

#: The joint relations of the study's Fig. 6 and Table 1, as (x, y) columns.
JOINT_RELATIONS: tuple[tuple[str, str], ...] = (
    ("M_h", "stellar_mass"), ("M_h", "radius"), ("stellar_mass", "sSFR"), ("stellar_mass", "color"),
    ("color", "sSFR"),
)

#: Table 1 of the study: 2D KS distance D of the stacked predictions (raw, SMOGN), TNG300 test set.
STUDY_TABLE_1: dict[tuple[str, str], tuple[float, float]] = {
    ("M_h", "stellar_mass"): (0.065683, 0.065417),
    ("M_h", "radius"): (0.228733, 0.116850),
    ("stellar_mass", "sSFR"): (0.272300, 0.208417),
    ("stellar_mass", "color"): (0.224533, 0.164350),
    ("color", "sSFR"): (0.327667, 0.282467),
}

#: Table 2 of the study: the edges of the two bins per property used for the power spectra.
STUDY_BIN_EDGES: dict[str, tuple[float, float, float]] = {
    "stellar_mass": (8.8, 10.6, 12.7),
    "sSFR": (-16.3, -11.0, -8.3),
    "radius": (0.1, 0.9, 2.1),
    "color": (-0.23, 1.0, 1.2),
}
#: Table 2 of the study: the central values it quotes for the two bins.
STUDY_BIN_CENTRES: dict[str, tuple[float, float]] = {
    "stellar_mass": (9.7, 11.6), "sSFR": (-13.6, -9.6), "radius": (0.5, 1.5), "color": (0.4, 1.1),
}
#: Section 5 of the study: range of chi^2 of the predicted spectra (both bins, both stacks).
STUDY_CHI2_RANGE: dict[str, tuple[float, float]] = {
    "stellar_mass": (0.18, 8.88), "sSFR": (1.9, 7.6), "radius": (0.06, 13.99), "color": (6.7, 15.9),
}
#: Section 5 of the study: the "accuracy" of the predicted spectra it quotes, in per cent.
STUDY_PK_ACCURACY_PERCENT: dict[str, tuple[float, float]] = {
    "stellar_mass": (0.05, 7.6), "sSFR": (2.0, 5.1), "radius": (0.12, 11.7), "color": (4.4, 7.3),
}
#: Section 4.3 of the study: range of the Eq. 7 residuals per property and bin (low, high bin).
STUDY_RESIDUAL_RANGE: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "stellar_mass": ((1e-5, 0.12), (1.6e-3, 1.0)),
    "sSFR": ((5.5e-5, 2.9), (5e-4, 1.0)),
    "radius": ((2e-8, 0.02), (3e-6, 2.5)),
    "color": ((0.009, 1.3), (3e-5, 3.3)),
}


# ---------------------------------------------------------------------------
# TNG300-1 law tables (shipped with the package; provenance in data/tng300_law/README.md)
# ---------------------------------------------------------------------------

#: The reference tables of how TNG300-1 galaxies depend on their haloes, by name.
TNG300_LAW_TABLES = ("law_means", "law_importance", "scatter", "residual_correlations", "halo_features",
                     "halo_feature_correlations")


def tng300_law(name: str):
    """One of the TNG300-1 law tables shipped with hgtools (:data:`TNG300_LAW_TABLES`), as a DataFrame.

    They are derived from models trained on the real TNG300-1 centrals (the
    study's LightGBM models and the conditional flow of Rodrigues et al. 2025);
    ``hgtools/data/tng300_law/README.md`` says how and how far to trust them.
    """
    from importlib.resources import files

    import pandas as pd

    if name not in TNG300_LAW_TABLES:
        raise ValueError(f"unknown TNG300 law table {name!r}; available: {', '.join(TNG300_LAW_TABLES)}")
    with files("hgtools").joinpath("data", "tng300_law", f"{name}.csv").open() as fh:
        return pd.read_csv(fh)


def beyond_zero_sfr_recipe(scatter):
    """Which rows of the ``scatter`` table no law with the study's zero-SFR recipe can match.

    The study gives every galaxy with SFR = 0 a log sSFR drawn from N(-13.5, 0.5)
    (:data:`hgtools.catalogue.ZERO_SFR_MEAN`, ``ZERO_SFR_SIGMA``), which puts 2.3 % of them below
    -14.5.  The flow behind the table treats SFR = 0 its own (unpublished) way: in the
    heaviest bins it puts more than 16 % of *all* galaxies below -14.5 (its sSFR p16), and
    its intrinsic sSFR scatter there measures that treatment, not TNG300-1's physics.  Those
    sSFR rows are True; every other row is False.
    """
    from hgtools.catalogue import ZERO_SFR_MEAN, ZERO_SFR_SIGMA

    return (scatter["target"] == "sSFR") & (scatter["p16"] < ZERO_SFR_MEAN - 2 * ZERO_SFR_SIGMA)
