# Sphinx configuration of photoz_numba, built on sphinx-astropy.
import datetime
import os

from sphinx_astropy.conf.v2 import *  # noqa: F401,F403
from sphinx_astropy.conf.v2 import exclude_patterns, intersphinx_mapping

import photoz_numba

project = "photoz_numba"
author = "photoz_numba developers"
copyright = f"{datetime.date.today().year}, {author}"
release = photoz_numba.__version__
version = release.split("+")[0]

exclude_patterns.extend(["_build", "_templates"])
intersphinx_mapping.update({
    "numba": ("https://numba.readthedocs.io/en/stable/", None),
})
# Without network (as on this project's CI machines) the inventories cannot
# be fetched, and Sphinx's warning about it cannot be filtered.
if os.environ.get("PHOTOZ_NUMBA_DOCS_OFFLINE"):
    intersphinx_mapping.clear()

html_theme_options = {
    "github_url": "https://github.com/photoz-numba/photoz_numba",
}
html_title = f"{project} v{release}"
