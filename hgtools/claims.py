"""The study's claims, one by one, tested on a run's numbers: the evidence, a verdict and why.

Each check reads tables the chapters computed (scores, Table 1, importances,
spectra) and the study's published values (:mod:`hgtools.reference`); nothing
is typed in by hand.  Verdicts: ``holds``, ``holds partly``, ``does not hold``,
or ``not testable here`` (a claim about TNG300 itself, on synthetic data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hgtools import reference
from hgtools.catalogue import TARGETS

HOLDS, PARTLY, FAILS, UNTESTABLE = "holds", "holds partly", "does not hold", "not testable here"


def _verdict(n_true: int, n_total: int) -> str:
    return HOLDS if n_true == n_total else PARTLY if n_true > 0 else FAILS


def _relation(x: str, y: str) -> str:
    return f"{y} vs {x}"


def _ranked_gains(top_here: list[str], top_study: list[str], gain: pd.Series) -> str:
    """Verdict on "the largest SMOGN gains are A, then B": the same two in the same order, both real gains
    (holds); the same largest gain (partly); else fails.  A "gain" of zero or less is none."""
    gains = [gain[r] > 0 for r in top_here]
    if top_here == top_study and all(gains):
        return HOLDS
    return PARTLY if top_here[0] == top_study[0] and gains[0] else FAILS


def claims_table(scores: pd.DataFrame, joint: pd.DataFrame, features: pd.DataFrame, stacks: pd.DataFrame,
                 chi2: pd.DataFrame, informed: pd.DataFrame | None = None,
                 oracle_scores: pd.DataFrame | None = None, synthetic: bool = True) -> pd.DataFrame:
    """One row per claim of the study: claim, where the book shows it, evidence here, verdict, why.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`hgtools.evaluation.score_table` (models and stacks, both paths).
    joint : pandas.DataFrame
        Table 1 (:func:`hgtools.evaluation.joint_table`, index ``"<y> vs <x>"``).
    features : pandas.DataFrame
        Feature importances in % of M_h's (:func:`hgtools.importance.relative`).
    stacks : pandas.DataFrame
        Importances of the base models in each stack (Fig. 8's table).
    chi2 : pandas.DataFrame
        :func:`hgtools.clustering.chi2_table` of Fig. 9.
    informed : pandas.DataFrame, optional
        Index: targets; column ``PCC`` of the networks given galaxy inputs (Fig. 10).
    oracle_scores : pandas.DataFrame, optional
        Index: targets; column ``PCC`` of the oracle (embedded universe only).
    synthetic : bool
        The run's data are synthetic: claims about TNG300 itself are not testable.
    """
    stack = scores[scores["model"] == "stack"].set_index(["path", "target"])
    pcc = stack.loc["raw", "PCC"]
    rows = []
    law = ("importances follow the data's own law: on the embedded universe, a law fitted to TNG300-1's "
           "law tables (Fig. A4 sets its importances beside TNG300-1's)" if synthetic else "")
    relevance = ("SMOGN's effect follows its relevance function, chosen on TNG300's distributions; on "
                 "these data some targets fall back to automatic relevance (Methods)")

    others = pcc.drop("stellar_mass")
    ok = [pcc.idxmax() == "stellar_mass", bool(((others > 0.65) & (others < 0.85)).all())]
    why = ("the embedded universe's scatter is fitted to TNG300-1's law tables, so agreement here checks "
           "those tables, not the method" if synthetic else "")
    rows.append(("Stellar mass is predicted best (r ≈ 0.98); sSFR, radius and colour reach r ≈ 0.7–0.8",
                 "table-b1", ", ".join(f"{t} {v:.3f}" for t, v in pcc.items()), _verdict(sum(ok), 2), why))

    drop = stack.loc["raw", "PCC"] - stack.loc["smogn", "PCC"]
    study_drop = max(reference.STUDY_TABLE_B1["raw"][t][1] - reference.STUDY_TABLE_B1["smogn"][t][1]
                     for t in TARGETS)
    worse = drop[drop > study_drop + 0.01]
    rows.append((f"SMOGN costs little in r (at most {study_drop:.2f} in the study's Table B1)", "table-b1",
                 ", ".join(f"{t} {-v:+.3f}" for t, v in drop.items()), _verdict(len(drop) - len(worse), len(drop)),
                 "" if worse.empty else f"r drops more for {', '.join(worse.index)}"))

    gain = (joint["D raw"] - joint["D smogn"]) / joint["D raw"]
    better = gain[gain > 0]
    rows.append(("SMOGN improves every joint relation of Table 1 (smaller 2D KS distance)", "table-1",
                 ", ".join(f"{r}: {100 * v:+.0f} %" for r, v in gain.items()), _verdict(len(better), len(gain)),
                 "" if len(better) == len(gain) else
                 f"worse or unchanged: {', '.join(gain.index[gain <= 0])}; {relevance}"))

    study_gain = {_relation(x, y): (raw - smogn) / raw for (x, y), (raw, smogn) in reference.STUDY_TABLE_1.items()}
    top_study = sorted(study_gain, key=study_gain.get, reverse=True)[:2]
    top_here = list(gain.sort_values(ascending=False).index[:2])
    verdict = _ranked_gains(top_here, top_study, gain)
    why = "" if verdict == HOLDS else "; ".join([*(f"no gain here for {r}" for r in top_here if gain[r] <= 0),
                                                   relevance])
    rows.append((f"The largest SMOGN gains are {top_study[0]} ({100 * study_gain[top_study[0]]:.0f} %), then "
                 f"{top_study[1]} ({100 * study_gain[top_study[1]]:.0f} %)", "table-1",
                 f"largest here: {top_here[0]} ({100 * gain[top_here[0]]:.0f} %), {top_here[1]} "
                 f"({100 * gain[top_here[1]]:.0f} %)", verdict, why))

    raw_stacks = stacks[stacks["path"] == "raw"]
    leader = raw_stacks.loc[raw_stacks.groupby("target")["importance"].idxmax()].set_index("target")["feature"]
    lgbm = leader[leader == "LGBM"]
    rows.append(("LightGBM dominates the stacks (Fig. 8)", "fig-8",
                 ", ".join(f"{t}: {m}" for t, m in leader.items()), _verdict(len(lgbm), len(leader)),
                 "" if len(lgbm) == len(leader) else
                 "the base models' predictions are nearly collinear: shuffling one is partly made up by the "
                 "others, so the importance falls on whichever the linear stack weighs most"))

    raw_chi2 = chi2[chi2.index.get_level_values("sample") == "raw stack"]
    per_band = raw_chi2["chi2"] / raw_chi2["bandpowers"]
    below = per_band[per_band < 1]
    worst = per_band.idxmax()
    rows.append(("The predicted populations cluster like the true ones (χ² per bandpower below 1, Fig. 9)",
                 "fig-9", f"{len(below)} of {len(per_band)} bins below 1; largest {per_band.max():.1f} "
                 f"({worst[0]} bin {worst[1]})", _verdict(len(below), len(per_band)),
                 "" if len(below) == len(per_band) else
                 "a conditional mean has no scatter: galaxies of sparse extreme bins move across the bin edge"))

    raw_features = features[(features["path"] == "raw") & (features["model"] != "oracle")]
    median = raw_features.groupby(["target", "feature"])["relative %"].median()
    secondary = {t: median[t].drop("M_h") for t in TARGETS}
    measured = [t for t in TARGETS if secondary[t].notna().all()]  # else M_h's importance is not positive
    missing = [t for t in TARGETS if t not in measured]
    unmeasured = (f"M_h has no positive importance for {', '.join(missing)}, so nothing is measured relative to it "
                  "there" if missing else "")

    def because(*reasons: str) -> str:
        return "; ".join(r for r in reasons if r)

    top = {t: secondary[t].max() for t in measured}
    holds = not missing and all(v < 100 for v in top.values())
    rows.append(("Halo mass is the most important feature for every property", "fig-7",
                 ", ".join(f"{t}: next {secondary[t].idxmax()} {v:.0f} % of M_h" for t, v in top.items()),
                 _verdict(sum(v < 100 for v in top.values()), len(TARGETS)), "" if holds else because(law, unmeasured)))
    least = {t: secondary[t].idxmin() for t in measured}
    instead = ", ".join(f"{t} {v}" for t, v in least.items() if v != "Delta3_h")
    rows.append(("δ3 matters least of the halo features", "fig-7",
                 ", ".join(f"{t}: δ3 {secondary[t]['Delta3_h']:.1f} % of M_h" for t in measured),
                 _verdict(sum(v == "Delta3_h" for v in least.values()), len(TARGETS)),
                 "" if not missing and not instead else
                 because(instead and f"least important instead: {instead}", instead and law, unmeasured)))

    second = {t: secondary[t].idxmax() for t in ("sSFR", "color") if t in measured}
    holds = len(second) == 2 and all(f == "z_h" for f in second.values())
    rows.append(("Formation time (z½) matters for sSFR and colour: first after halo mass", "fig-7",
                 ", ".join(f"{t}: {f} {secondary[t][f]:.1f} %" for t, f in second.items()),
                 _verdict(sum(f == "z_h" for f in second.values()), 2), "" if holds else because(law, unmeasured)))

    spread = {t: float(secondary[t].sum()) for t in measured}
    verdict = UNTESTABLE if missing else HOLDS if max(spread, key=spread.get) == "radius" else FAILS
    rows.append(("Radius is the least hierarchical property: the secondary features matter most for it",
                 "fig-7", ", ".join(f"{t} {v:.0f} %" for t, v in spread.items()), verdict,
                 "" if verdict == HOLDS else unmeasured or law))

    if informed is not None:
        gain_in = informed["PCC"] - pcc
        ok = min(gain_in["sSFR"], gain_in["color"]) > gain_in["radius"]
        rows.append(("Galaxy properties as inputs help sSFR and colour more than radius (Fig. 10)", "fig-10",
                     ", ".join(f"{t} {v:+.3f}" for t, v in gain_in.items()), HOLDS if ok else FAILS,
                     "" if ok else "the joint scatter at fixed halo decides which properties inform each other"
                     + (" (on the embedded universe, the residual correlations fitted to TNG300-1's)"
                        if synthetic else "")))

    if synthetic:
        evidence = "" if oracle_scores is None else "the law's own ceiling here: oracle r " + ", ".join(
            f"{t} {oracle_scores.loc[t, 'PCC']:.3f}" for t in TARGETS)
        rows.append(("Some galaxy properties cannot be reproduced from halo properties alone (TNG300)",
                     "table-comparison", evidence, UNTESTABLE,
                     "a statement about TNG300's galaxies; the embedded universe's scatter is an input"))
    out = pd.DataFrame(rows, columns=["claim of the study", "label", "evidence here", "verdict", "why"])
    out["why"] = out["why"].replace("", np.nan).fillna("")
    return out


def claims_markdown(table: pd.DataFrame, numbers: dict[str, str]) -> str:
    """:func:`claims_table` as a MyST table, each claim linked to the figure or table that shows it."""
    lines = ["| claim of the study | see | evidence here | verdict | why |", "|---|---|---|---|---|"]
    for _, row in table.iterrows():
        see = f"{{ref}}`{numbers.get(row['label'], row['label'])} <{row['label']}>`"
        cells = [row["claim of the study"], see, row["evidence here"], f"**{row['verdict']}**", row["why"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


__all__ = ["FAILS", "HOLDS", "PARTLY", "UNTESTABLE", "claims_markdown", "claims_table"]
