"""The Rockstar / consistent-trees hlist reader, on a small file written in the real column layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hgtools import hlist

# The column header of consistent-trees 1.01 hlist files (e.g. Bolshoi-Planck, MultiDark), as written.
COLUMNS = ("scale id desc_scale desc_id num_prog pid upid desc_pid phantom sam_mvir mvir rvir rs vrms mmp? "
           "scale_of_last_MM vmax x y z vx vy vz Jx Jy Jz Spin Breadth_first_ID Depth_first_ID Tree_root_ID "
           "Orig_halo_ID Snap_num Next_coprogenitor_depthfirst_ID Last_progenitor_depthfirst_ID "
           "Last_mainleaf_depthfirst_ID Tidal_Force Tidal_ID Rs_Klypin Mvir_all M200b M200c M500c M2500c Xoff Voff "
           "Spin_Bullock b_to_a c_to_a A[x] A[y] A[z] b_to_a(500c) c_to_a(500c) A[x](500c) A[y](500c) A[z](500c) "
           "T/|U| M_pe_Behroozi M_pe_Diemer Halfmass_Radius Macc Mpeak Vacc Vpeak Halfmass_Scale Acc_Rate_Inst "
           "Acc_Rate_100Myr Acc_Rate_1*Tdyn Acc_Rate_2*Tdyn Acc_Rate_Mpeak Mpeak_Scale Acc_Scale First_Acc_Scale "
           "First_Acc_Mvir First_Acc_Vmax Vmax@Mpeak").split()
BOX = 60.0


def write_hlist(path, n_hosts: int = 400, n_subs: int = 300, seed: int = 0) -> pd.DataFrame:
    """An hlist file (hosts and subhaloes); returns the values written, by column name."""
    rng = np.random.default_rng(seed)
    n = n_hosts + n_subs
    values = {name: rng.uniform(0.1, 1.0, n) for name in COLUMNS}
    values["scale"] = np.full(n, 1.0)
    values["id"] = rng.permutation(np.arange(10_000, 10_000 + n))
    host = np.r_[np.ones(n_hosts, bool), np.zeros(n_subs, bool)]
    values["upid"] = np.where(host, -1, rng.choice(values["id"][:n_hosts], n))
    values["pid"] = values["upid"]
    values["mvir"] = 10 ** rng.uniform(9.5, 13.5, n)
    values["M200c"] = np.where(rng.random(n) < 0.05, 0.0, values["mvir"] * rng.uniform(0.8, 0.95, n))
    values["rvir"] = 200 * (values["mvir"] / 1e12) ** (1 / 3)  # kpc/h
    values["rs"] = values["rvir"] / rng.uniform(3, 25, n)
    values["Spin_Bullock"] = rng.lognormal(np.log(0.035), 0.5, n)
    values["Halfmass_Scale"] = rng.uniform(0.2, 0.9, n)
    for axis in "xyz":
        values[axis] = rng.uniform(0, BOX, n)
    table = pd.DataFrame(values)
    header = ["#" + " ".join(f"{name}({i})" for i, name in enumerate(COLUMNS)),
              "#Omega_M = 0.307115; Omega_L = 0.692885; h0 = 0.677700",
              f"#Full box size = {BOX:.6f} Mpc/h",
              "#Scale: Scale factor of halo.", "#ID: ID of halo (unique across entire simulation)."]
    ints = {"id", "upid", "pid", "desc_id", "num_prog", "phantom", "desc_pid"}
    body = [" ".join(str(int(v)) if c in ints else f"{v:.6e}" for c, v in zip(COLUMNS, row, strict=True))
            for row in table[list(COLUMNS)].itertuples(index=False)]
    path.write_text("\n".join(header + body) + "\n")
    return table


def test_the_header_names_columns_box_and_cosmology(tmp_path):
    path = tmp_path / "hlist_1.00000.list"
    write_hlist(path)
    h = hlist.read_header(path)
    assert h.columns["x"] == 17 and h.columns["M200c"] == 40 and h.columns["Halfmass_Scale"] == 64
    assert h.box_size == BOX and h.cosmology == {"Om0": 0.307115, "h": 0.6777}


@pytest.mark.parametrize("rows", [1, 7, 64, 10_000])
def test_pieces_read_every_line_once(tmp_path, rows):
    path = tmp_path / "hlist_1.00000.list"
    written = write_hlist(path)
    pieces = hlist.pieces(path, rows)
    got = pd.concat([hlist.read_piece(p) for p in pieces], ignore_index=True)
    kept = written[written["M200c"] > 0]
    np.testing.assert_array_equal(got["ID"], kept["id"])
    if rows == 64:
        assert 8 <= len(pieces) <= 14  # about 700 lines / 64


def test_the_halo_columns_are_converted(tmp_path):
    path = tmp_path / "hlist_1.00000.list"
    written = write_hlist(path)
    w = written[written["M200c"] > 0].reset_index(drop=True)  # rockstar's M200c = 0: too small to measure
    got = hlist.read_piece(hlist.pieces(path, 10_000)[0])
    rtol = 1e-6  # the file holds 7 significant digits
    np.testing.assert_allclose(got["M_h"], np.log10(w["M200c"]), rtol=rtol)
    np.testing.assert_allclose(got["C_h"], np.log10(w["rvir"] / w["rs"]), rtol=rtol, atol=1e-6)
    np.testing.assert_allclose(got["z_h"], 1 / w["Halfmass_Scale"] - 1, rtol=1e-5)
    np.testing.assert_allclose(got["S_h"], w["Spin_Bullock"], rtol=rtol)
    np.testing.assert_allclose(got[["X_h", "Y_h", "Z_h"]], w[["x", "y", "z"]], rtol=rtol)
    np.testing.assert_array_equal(got["paint"], (w["upid"] == -1) & (np.log10(w["M200c"]) >= 10.5))
    # Mvir converted to M200c for NFW haloes: smaller at z = 0, and colossus converts it back
    from colossus.halo import mass_defs

    mv = hlist.read_piece(hlist.pieces(path, 10_000)[0], mass="Mvir")
    mvir, c = written["mvir"].to_numpy(), (written["rvir"] / written["rs"]).to_numpy()
    m200c = 10 ** mv["M_h"].to_numpy()
    assert len(mv) == len(written) and (m200c < mvir).all()
    c200 = mass_defs.changeMassDefinition(mvir, c, 0.0, "vir", "200c")[2]
    np.testing.assert_allclose(mass_defs.changeMassDefinition(m200c, c200, 0.0, "200c", "vir")[0], mvir, rtol=1e-4)


def test_bad_files_are_named(tmp_path):
    plain = tmp_path / "plain.list"
    plain.write_text("1 2 3\n4 5 6\n")
    with pytest.raises(hlist.HlistError, match="plain.list: no hlist column header"):
        hlist.read_header(plain)
    short = tmp_path / "short.list"
    short.write_text("#scale(0) id(1) upid(2) x(3) y(4) z(5)\n1 2 -1 3 4 5\n")
    with pytest.raises(hlist.HlistError, match="short.list: the hlist header lacks column"):
        hlist.read_piece(hlist.pieces(short, 10)[0])
