"""
Make the figures the docs embed (run by `tox -e build_docs` before Sphinx):

    python scripts/make_doc_figures.py [DOCS_DIR]

- ``_generated/reproduce/``: ``photoz-numba reproduce --output`` (10 seeds,
  tuned), whose ``figure1.png`` the "Reproducing the paper" page shows.

Needs the catalogue: PHOTOZ_NUMBA_KALNA2024 or network access.
"""

import os
import sys

from photoz_numba.cli import main


def make(docs):
    target = os.path.join(docs, "_generated", "reproduce")
    if main(["reproduce", "--output", target]) != 0:
        raise SystemExit("reproduce failed")


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(__file__), "..", "docs")
    make(sys.argv[1] if len(sys.argv) > 1 else default)
