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
