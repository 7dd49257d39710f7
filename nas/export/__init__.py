"""Exporting a candidate as a standalone model (the exporter imports torch; formats does not)."""
