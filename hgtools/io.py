"""The one way hgtools writes a file or a folder: atomically, never over what it should not.

Every writer of the package goes through :func:`atomic_write`:

>>> with atomic_write("data/table.parquet", overwrite=False) as tmp:   # doctest: +SKIP
...     table.to_parquet(tmp)

The content is written to a temporary name *in the target's folder* (so the
final rename never crosses a file system), flushed to disk, given the
permissions the process's umask allows (not the 0600 / 0700 of a temporary
file) and renamed into place.  On any exception, Ctrl-C or SIGTERM the
temporary is removed and the target is left as it was; a temporary left by a
process that was killed outright (SIGKILL, power loss) is removed by the next
write to the same target once it is :data:`STALE_AFTER_S` old.

:func:`check_output` is the check a command runs *before* any long work: the
target must not exist unless ``overwrite`` is given, and must never be one of
the command's own inputs.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Marker in the names of temporaries, followed by the writing process's id.
TEMP_MARK = ".hgtools-tmp-"
#: A temporary of a process that no longer runs is removed once it is this old [s] (the age guards
#: against a writer whose process id this process cannot see, e.g. in another container).
STALE_AFTER_S = 600.0

_umask_lock = threading.Lock()


class OutputExistsError(FileExistsError):
    """The output exists and ``overwrite`` was not given."""


def current_umask() -> int:
    """The process's umask (read without changing it for other threads for long)."""
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def check_output(path: str | os.PathLike, *, overwrite: bool = False,
                 inputs: Iterable[str | os.PathLike] = (), what: str = "output") -> Path:
    """Check, before any work, that ``path`` may be written; return it.

    Parameters
    ----------
    path : path-like
        The file or folder about to be written.
    overwrite : bool
        Replace an existing ``path`` (else :class:`OutputExistsError`).
    inputs : iterable of path-like
        The command's inputs: ``path`` may never be one of them, even with
        ``overwrite``.
    what : str
        How the error names the path (e.g. ``"--out"``).

    Raises
    ------
    ValueError
        If ``path`` is one of ``inputs`` or lies inside an input folder.
    OutputExistsError
        If ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    target = path.resolve()
    for source in inputs:
        source = Path(source).resolve()
        if target == source or source in target.parents:
            raise ValueError(f"{what} {path} is an input of this command; write the result elsewhere")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{what} {path} already exists; pass --overwrite to replace it "
                                "(or choose another path)")
    folder = target.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"{what} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{what} {path}: cannot write in {folder}")
    return path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporaries of ``path`` left by processes that no longer run (and older than
    :data:`STALE_AFTER_S`); return them."""
    import time

    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for tmp in path.parent.glob(f".{path.name}{TEMP_MARK}*"):
        pid = tmp.name[len(f".{path.name}{TEMP_MARK}"):].split(".")[0]
        try:
            age = time.time() - tmp.stat().st_mtime
        except FileNotFoundError:  # finished meanwhile
            continue
        if pid.isdigit() and int(pid) != os.getpid() and age > STALE_AFTER_S and not _pid_alive(int(pid)):
            _remove(tmp)
            removed.append(tmp)
    return removed


def _fsync_one(path: Path) -> None:
    """Flush one file, or one folder's entries, to disk."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a folder
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    """Flush what was written: a file, or a folder with everything in it."""
    if path.is_dir():
        for item in path.rglob("*"):
            _fsync_one(item)
    _fsync_one(path)


def _set_permissions(path: Path, mask: int) -> None:
    if path.is_dir():
        os.chmod(path, 0o777 & ~mask)
        for item in path.rglob("*"):
            os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~mask)
    else:
        os.chmod(path, 0o666 & ~mask)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while a write runs (main thread only), so it cleans up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except (ValueError, AttributeError):
        yield
        return
    if previous not in (signal.SIG_DFL, None):
        yield  # the program has its own handler: leave it alone
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def atomic_write(path: str | os.PathLike, *, overwrite: bool = True, folder: bool = False,
                 inputs: Iterable[str | os.PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary path to write; move it to ``path`` when the block succeeds.

    Parameters
    ----------
    path : path-like
        The final file (or folder, with ``folder=True``).
    overwrite : bool
        Replace an existing ``path``; if false, an existing ``path`` raises
        :class:`OutputExistsError` before anything is written (and if one
        appears while writing, it is kept and the error raised at the end).
    folder : bool
        The temporary is an (empty, created) folder rather than a file name.
    inputs : iterable of path-like
        Paths ``path`` must never be (see :func:`check_output`).

    Notes
    -----
    A folder that replaces an existing one is swapped in with two renames (the
    old one moved aside, then removed), so a reader never sees a mixture.
    """
    path = check_output(path, overwrite=overwrite, inputs=inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    mask = current_umask()
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}.{threading.get_ident()}")
    _remove(tmp)
    if folder:
        tmp.mkdir()
    try:
        with _terminate_as_interrupt():
            yield tmp
            if not tmp.exists():
                raise RuntimeError(f"nothing was written to {path}")
            _fsync_tree(tmp)
            _set_permissions(tmp, mask)
            if path.exists() and not overwrite:
                raise OutputExistsError(f"{path} appeared while it was being written; kept it")
            if path.is_dir() and not path.is_symlink():
                aside = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}.old")
                _remove(aside)
                os.replace(path, aside)
                os.replace(tmp, path)
                _remove(aside)
            else:
                os.replace(tmp, path)
            _fsync_one(path.parent)  # the rename itself (never the siblings, which others may be writing)
    finally:
        _remove(tmp)


def write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> Path:
    """Write a text file atomically (UTF-8)."""
    with atomic_write(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_default(obj):
    """``json.dumps(..., default=json_default)``: NumPy scalars become plain numbers."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def report(message: str) -> None:
    """Tell the terminal what a long step did (stderr: the build log, never a book page)."""
    import sys

    print(message, file=sys.stderr, flush=True)


__all__ = ["OutputExistsError", "atomic_write", "check_output", "json_default", "remove_stale_temporaries", "report",
           "write_text"]
