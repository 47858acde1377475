# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``python -m photoz_numba``: the ``photoz-numba`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
