"""Download the group-catalogue fields hgtools needs from the IllustrisTNG web API.

Only chunks that are missing locally, or that lack a needed field, are fetched;
each is written to a temporary file and renamed into the standard layout
(``BASE/groups_NNN/fof_subhalo_tab_NNN.K.hdf5``) once it is complete.  The API
key comes from the caller or the ``TNG_API_KEY`` environment variable and is
sent in the ``api-key`` header.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from hgtools.io import atomic_write
from hgtools.sources.tng import GROUP_FIELDS, SUBHALO_FIELDS, TNGError, group_file, read_chunk_header

DEFAULT_API_URL = "https://www.tng-project.org/api"


def _has_fields(path: Path, group_fields, subhalo_fields) -> bool:
    """Whether a local chunk is complete (the builder's own check passes)."""
    try:
        read_chunk_header(path, group_fields, subhalo_fields)
    except (TNGError, OSError):
        return False
    return True


def _get(url: str, api_key: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"api-key": api_key})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as err:
        why = "the API key was refused" if err.code in (401, 403) else "the request failed"
        raise TNGError(f"TNG API: {why} (HTTP {err.code}) for {url}") from None
    except urllib.error.URLError as err:
        raise TNGError(f"TNG API unreachable at {url}: {err.reason}") from None


def fetch_group_catalogue(base_path: str | Path, simulation: str, snapshot: int = 99, *,
                          api_key: str | None = None, api_url: str = DEFAULT_API_URL,
                          group_fields=GROUP_FIELDS, subhalo_fields=SUBHALO_FIELDS,
                          timeout: float = 120.0) -> list[Path]:
    """Fetch the missing group-catalogue chunks of one snapshot, with only the needed fields.

    Parameters
    ----------
    base_path : path
        The run's ``output`` folder; chunks go to ``groups_NNN/`` in it.
    simulation : str
        The API's name of the run, e.g. ``"TNG300-1"``.
    api_key : str, optional
        Defaults to the ``TNG_API_KEY`` environment variable.

    Returns
    -------
    list of pathlib.Path
        The chunk files written (empty if nothing was missing).
    """
    key = api_key or os.environ.get("TNG_API_KEY")
    if not key:
        raise TNGError("a TNG API key is needed to download: pass --api-key or set TNG_API_KEY")
    listing_url = f"{api_url.rstrip('/')}/{simulation}/files/groupcat-{snapshot}/"
    body = _get(listing_url, key, timeout)
    try:
        files = json.loads(body)["files"]
    except (KeyError, ValueError, TypeError):
        raise TNGError(f"TNG API: {listing_url} did not return a file listing") from None
    query = urllib.parse.urlencode({"Group": ",".join(group_fields), "Subhalo": ",".join(subhalo_fields)})
    written = []
    for chunk, url in enumerate(files):
        target = group_file(Path(base_path), snapshot, chunk)
        if target.exists() and _has_fields(target, group_fields, subhalo_fields):
            continue
        data = _get(f"{url}?{query}", key, timeout)
        with atomic_write(target) as tmp:  # replaces a chunk that lacks fields
            tmp.write_bytes(data)
            if not _has_fields(tmp, group_fields, subhalo_fields):
                raise TNGError(f"TNG API: {url} did not return an HDF5 chunk with the needed fields")
        written.append(target)
    return written
