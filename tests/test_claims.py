"""The claims table: verdicts on tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hgtools import claims, reference
from hgtools.catalogue import FEATURES, TARGETS

BASES = ("ERT", "kNN", "LGBM", "NN")


def tables(pcc=None, smogn_drop=0.0, joint_gain=None, leader="LGBM", chi2=10.0, d3=1.0, z=30.0, radius_extra=0.0):
    pcc = pcc or {"stellar_mass": 0.98, "sSFR": 0.79, "radius": 0.75, "color": 0.72}
    scores = pd.DataFrame([{"target": t, "path": p, "model": "stack", "PCC": v - (smogn_drop if p == "smogn" else 0)}
                           for t, v in pcc.items() for p in ("raw", "smogn")])
    joint = pd.DataFrame({"relation": [f"{y} vs {x}" for x, y in reference.JOINT_RELATIONS]}).set_index("relation")
    gains = joint_gain or {r: g for r, g in zip(joint.index, (0.05, 0.5, 0.1, 0.3, 0.02), strict=True)}
    joint["D raw"] = 0.2
    joint["D smogn"] = [0.2 * (1 - gains[r]) for r in joint.index]
    rel = {"M_h": 100.0, "C_h": 5.0, "S_h": 2.0, "z_h": z, "Delta3_h": d3}
    features = pd.DataFrame([{"target": t, "path": "raw", "model": m, "feature": f,
                              "relative %": v + (radius_extra if t == "radius" and f != "M_h" else 0)}
                             for t in TARGETS for m in BASES for f, v in rel.items()])
    stacks = pd.DataFrame([{"target": t, "path": "raw", "model": "stack", "feature": b,
                            "importance": 1.0 if b == leader else 0.1} for t in TARGETS for b in BASES])
    index = pd.MultiIndex.from_tuples([(t, b, "raw stack") for t in TARGETS for b in (1, 2)],
                                      names=["property", "bin", "sample"])
    chi = pd.DataFrame({"chi2": chi2, "bandpowers": 22}, index=index)
    return scores, joint, features, stacks, chi


def verdicts(**kw) -> dict:
    table = claims.claims_table(*tables(**kw), synthetic=True)
    return dict(zip(table["claim of the study"], table["verdict"], strict=True))


def test_the_studys_own_numbers_pass_its_claims():
    v = verdicts(radius_extra=20.0)
    assert all(x in (claims.HOLDS, claims.UNTESTABLE) for x in v.values()), v
    assert list(v.values()).count(claims.UNTESTABLE) == 1


@pytest.mark.parametrize("change, claim, expected", [
    ({"leader": "NN"}, "LightGBM dominates", claims.FAILS),
    ({"chi2": 40.0}, "cluster like the true ones", claims.FAILS),
    ({"d3": 50.0}, "δ3 matters least", claims.FAILS),
    ({"z": 1.0}, "Formation time", claims.FAILS),
    ({"smogn_drop": 0.2}, "SMOGN costs little", claims.FAILS),
    ({"pcc": {"stellar_mass": 0.98, "sSFR": 0.95, "radius": 0.75, "color": 0.72}}, "Stellar mass is predicted best",
     claims.PARTLY),
    ({"pcc": {"stellar_mass": 0.90, "sSFR": 0.95, "radius": 0.5, "color": 0.72}}, "Stellar mass is predicted best",
     claims.FAILS),
    ({"z": 150.0}, "Halo mass is the most important", claims.FAILS),
])
def test_each_claim_can_fail(change, claim, expected):
    v = verdicts(radius_extra=20.0, **change)
    (verdict,) = [x for c, x in v.items() if claim in c]
    assert verdict == expected


def test_smogn_gains_are_ranked_against_the_studys():
    relations = [f"{y} vs {x}" for x, y in reference.JOINT_RELATIONS]
    swapped = dict(zip(relations, (0.05, 0.3, 0.1, 0.5, -0.1), strict=True))  # colour first, one worse
    v = verdicts(joint_gain=swapped, radius_extra=20.0)
    (every,) = [x for c, x in v.items() if c.startswith("SMOGN improves every")]
    (largest,) = [x for c, x in v.items() if c.startswith("The largest SMOGN gains")]
    assert every == claims.PARTLY and largest == claims.FAILS
    # the study's order, but the second "gain" is none: a ranking of losses is not the claim
    flat = dict(zip(relations, (-0.05, 0.3, -0.1, -0.001, -0.2), strict=True))
    table = claims.claims_table(*tables(joint_gain=flat, radius_extra=20.0), synthetic=True).set_index(
        "claim of the study")
    row = table.loc[[c for c in table.index if c.startswith("The largest SMOGN gains")][0]]
    assert row["verdict"] == claims.PARTLY and "no gain here for color vs stellar_mass" in row["why"]


def test_the_markdown_links_every_claim():
    table = claims.claims_table(*tables(), synthetic=False)
    text = claims.claims_markdown(table, {"fig-8": "Fig. 8"})
    assert "{ref}`Fig. 8 <fig-8>`" in text and len(text.splitlines()) == len(table) + 2
    assert claims.UNTESTABLE not in set(table["verdict"])
    assert set(FEATURES) >= {"Delta3_h", "z_h"}


def test_every_claim_that_differs_says_why():
    table = claims.claims_table(*tables(leader="NN", chi2=40.0, d3=50.0, z=1.0, smogn_drop=0.2,
                                        joint_gain=dict.fromkeys([f"{y} vs {x}" for x, y in reference.JOINT_RELATIONS],
                                                                 -0.1)), synthetic=True)
    differs = table[table["verdict"] != claims.HOLDS]
    assert len(differs) >= 6 and (differs["why"].str.len() > 20).all(), differs[["claim of the study", "why"]]


def test_a_property_that_does_not_depend_on_halo_mass_leaves_the_importance_claims_unmeasured_there():
    scores, joint, features, stacks, chi = tables(radius_extra=20.0)
    features.loc[features["target"] == "radius", "relative %"] = np.nan  # M_h's importance not positive for radius
    table = claims.claims_table(scores, joint, features, stacks, chi, synthetic=False).set_index("claim of the study")
    rows = {c.split(":")[0].split(" (")[0]: table.loc[c] for c in table.index}
    assert rows["Halo mass is the most important feature for every property"]["verdict"] == claims.PARTLY
    assert rows["δ3 matters least of the halo features"]["verdict"] == claims.PARTLY
    assert rows["Formation time"]["verdict"] == claims.HOLDS  # sSFR and colour are measured
    assert rows["Radius is the least hierarchical property"]["verdict"] == claims.UNTESTABLE
    for claim in ("Halo mass is the most important feature for every property",
                  "δ3 matters least of the halo features", "Radius is the least hierarchical property"):
        assert "M_h has no positive importance for radius" in rows[claim]["why"]
        assert "radius" not in rows[claim]["evidence here"]
