"""Data sources that fill the catalogue schema: ``mock`` (the embedded universe)."""
