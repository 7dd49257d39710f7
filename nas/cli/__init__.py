"""The `nas` command line: `main` (spaces, arch), `jobs` (the search service), `supernet`."""

from nas.cli.main import main

__all__ = ["main"]
