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


def _online(host="docs.python.org", port=443, timeout=3.0):
    """Whether the intersphinx inventories can be fetched: a name lookup and
    a connection, a few seconds at most."""
    import socket
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


# Without network (as on this project's CI machines) the inventories cannot
# be fetched, and Sphinx's warning about it cannot be filtered (the build
# runs with -W): links to other projects' docs are then left out.
# PHOTOZ_NUMBA_DOCS_OFFLINE=1 skips the check (and the links);
# PHOTOZ_NUMBA_DOCS_OFFLINE=0 keeps the links whatever the check says.
_offline = os.environ.get("PHOTOZ_NUMBA_DOCS_OFFLINE")
if _offline == "1" or (_offline != "0" and not _online()):
    intersphinx_mapping.clear()

html_theme_options = {
    "github_url": "https://github.com/photoz-numba/photoz_numba",
}
html_title = f"{project} v{release}"
