#!/usr/bin/env bash
# Create (or check) the virtual environment in which RAIL's FlexZBoost runs
# for the peer comparison, outside the repository and apart from the
# package's own environment: RAIL is never a dependency of photoz_numba.
#
#     bash benchmarks/peers/setup_rail.sh [VENV]
#
# VENV defaults to $PHOTOZ_NUMBA_RAIL_VENV, else
# $HOME/.cache/photoz_numba-peers/rail-venv. PYTHON (default python3, 3.11
# here) makes it. Idempotent: a venv that already has the pinned versions
# is left as it is. Prints the venv's python on its last line.
set -euo pipefail

PZ_RAIL_BASE=2.0.11
PZ_RAIL_FLEXZBOOST=2.0.3

VENV="${1:-${PHOTOZ_NUMBA_RAIL_VENV:-$HOME/.cache/photoz_numba-peers/rail-venv}}"
PY="$VENV/bin/python"

installed() {
    "$PY" - "$PZ_RAIL_BASE" "$PZ_RAIL_FLEXZBOOST" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
want = {"pz-rail-base": sys.argv[1], "pz-rail-flexzboost": sys.argv[2]}
sys.exit(0 if all(version(name) == v for name, v in want.items()) else 1)
PYEOF
}

if [ -x "$PY" ] && installed; then
    echo "RAIL venv ready: pz-rail-base $PZ_RAIL_BASE, pz-rail-flexzboost $PZ_RAIL_FLEXZBOOST" >&2
else
    if [ ! -x "$PY" ]; then
        "${PYTHON:-python3}" -m venv "$VENV"
    fi
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet "pz-rail-base==$PZ_RAIL_BASE" \
        "pz-rail-flexzboost==$PZ_RAIL_FLEXZBOOST"
    installed
    "$PY" -c "import rail.estimation.algos.flexzboost"
    echo "RAIL venv installed: pz-rail-base $PZ_RAIL_BASE, pz-rail-flexzboost $PZ_RAIL_FLEXZBOOST" >&2
fi
echo "$PY"
