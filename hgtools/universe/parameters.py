"""The universe's parameter file: what the generator reads and the calibration writes.

The file (JSON, shipped at :data:`PARAMETERS_FILE`) holds ``halos`` (the fields of
:class:`~hgtools.universe.haloes.HaloModel`), ``law`` (knots and per-knot values of
:class:`~hgtools.universe.law.GalaxyLaw`) and ``calibration`` (how it was made).
``hgtools calibrate`` rewrites it; a damaged or edited file gets a
:class:`~hgtools.universe.law.ParameterError` that names the parameter.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from hgtools.universe.haloes import HaloModel
from hgtools.universe.law import GalaxyLaw, ParameterError

#: The shipped parameter file.
PARAMETERS_FILE = Path(__file__).resolve().parent.parent / "data" / "universe" / "parameters.json"
#: The halo model's per-knot fields.
_PER_KNOT = ("knots", "corr_c_s", "corr_c_z", "corr_s_z")


def halo_model_from_dict(data: dict) -> HaloModel:
    """A :class:`HaloModel` from plain data, naming any missing, unknown or invalid field."""
    if not isinstance(data, dict):
        raise ParameterError("'halos' must be a mapping of halo-model parameters")
    known = {f.name: f for f in fields(HaloModel)}
    unknown = sorted(set(data) - set(known))
    required = [n for n in _PER_KNOT if n not in data]
    if unknown or required:
        raise ParameterError(f"halo parameters: unknown {unknown}, missing {required}")
    values = {}
    for name, value in data.items():
        if name in _PER_KNOT:
            v = np.asarray(value, float)
            if v.ndim != 1 or not np.all(np.isfinite(v)):
                raise ParameterError(f"halo parameter {name!r} must be a list of finite numbers, got {value!r}")
            values[name] = tuple(float(x) for x in v)
        elif name == "fixed_amplitude":
            if not isinstance(value, bool):
                raise ParameterError(f"halo parameter {name!r} must be true or false, got {value!r}")
            values[name] = value
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ParameterError(f"halo parameter {name!r} must be a finite number, got {value!r}")
            values[name] = float(value)
    model = HaloModel(**values)
    n = len(model.knots)
    for name in _PER_KNOT[1:]:
        if len(getattr(model, name)) != n:
            raise ParameterError(f"halo parameter {name!r} needs {n} values (one per knot)")
    for name in ("concentration_scatter", "spin_median", "spin_log_scatter", "cell_size", "delta3_radius",
                 "field_smoothing", "field_peak", "formation_scatter"):
        if getattr(model, name) <= 0:
            raise ParameterError(f"halo parameter {name!r} must be positive, got {getattr(model, name)}")
    if model.peak_snapping < 0:
        raise ParameterError(f"halo parameter 'peak_snapping' must not be negative, got {model.peak_snapping}")
    if np.any(np.diff(model.knots) <= 0):
        raise ParameterError(f"halo parameter 'knots' must increase, got {list(model.knots)}")
    eig = np.linalg.eigvalsh(model.latent_correlation(np.asarray(model.knots)))
    if np.any(eig <= 1e-6):
        raise ParameterError("halo parameters corr_c_s, corr_c_z, corr_s_z do not form a valid "
                             "correlation matrix at every knot")
    return model


def parameters_from_dict(data: dict) -> tuple[HaloModel, GalaxyLaw]:
    """(HaloModel, GalaxyLaw) from the parameter file's plain data."""
    if not isinstance(data, dict) or "halos" not in data or "law" not in data:
        raise ParameterError("a universe parameter file needs 'halos' and 'law'")
    return halo_model_from_dict(data["halos"]), GalaxyLaw.from_dict(data["law"])


def parameters_to_dict(halos: HaloModel, law: GalaxyLaw) -> dict:
    """Plain data of both models (as written to the file and to a catalogue's metadata)."""
    return {"halos": asdict(halos), "law": law.to_dict()}


def read_parameters(path: str | Path | None = None) -> tuple[HaloModel, GalaxyLaw]:
    """Read a parameter file (default: the shipped one) with an error naming the file and the problem."""
    path = Path(PARAMETERS_FILE if path is None else path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ParameterError(f"{path}: no such universe parameter file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ParameterError(f"{path}: not a JSON parameter file ({err})") from None
    try:
        return parameters_from_dict(data)
    except ParameterError as err:
        raise ParameterError(f"{path}: {err}") from None


def write_parameters(path: str | Path, halos: HaloModel, law: GalaxyLaw, calibration: dict | None = None,
                     overwrite: bool = False) -> Path:
    """Write a parameter file atomically (refusing an existing file unless ``overwrite``)."""
    from hgtools.io import json_default, write_text

    data = {**parameters_to_dict(halos, law), "calibration": calibration or {}}
    return write_text(path, json.dumps(data, indent=1, default=json_default) + "\n", overwrite=overwrite)


def parameters_digest(halos: HaloModel, law: GalaxyLaw) -> str:
    """A short digest of both models: catalogues made with other parameters are told apart by it."""
    text = json.dumps(parameters_to_dict(halos, law), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


__all__ = ["PARAMETERS_FILE", "halo_model_from_dict", "parameters_digest", "parameters_from_dict",
           "parameters_to_dict", "read_parameters", "write_parameters"]
