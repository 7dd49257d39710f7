"""The dashboard `nas serve` serves at `/`, and `nas report` (see routes.py, report.py)."""
