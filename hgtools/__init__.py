"""hgtools: learn the halo-galaxy connection with machine learning.

Data flow: sources (``hgtools.sources``; the embedded universe is ``hgtools.universe``) -> catalogue (``hgtools.catalogue``) ->
models -> predictions -> metrics and figures (``hgtools.plots``) -> the book
(``hgtools.book``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hgtools")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
