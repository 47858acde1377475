"""
Peers
=====

photoz_numba measured against other photo-z codes on the same splits in
the same run. Today one peer: RAIL's FlexZBoost (``pz-rail-flexzboost``).
(Results and more: see below, to be filled in.)
"""
