# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Is ``z_phot_err`` a 1-sigma error? Checks of the pulls, and recalibration.

Calibration here is that of the errors: the *pull* of a galaxy is
``(z_phot - z_spec) / z_phot_err``, and ``z_phot_err`` is calibrated when
the pulls follow N(0, 1). The subpackage has three modules, each
importing only those listed before it:

- ``photoz_numba.calibration.mixture``: `fit_pull_mixture`, the MCMC fit
  (emcee) of the pulls with a Gaussian core plus a broad outlier
  component, and its result `PullMixture`;
- ``photoz_numba.calibration.diagnostics``: `pulls` of a table of
  predictions, and `calibration_report`, how far they are from N(0, 1)
  (moments, robust width, coverage at 1, 2 and 3 sigma,
  Kolmogorov-Smirnov and Anderson-Darling tests, PIT histogram, and the
  mixture fit on request). Rows without a usable prediction are skipped
  and counted, never dropped silently;
- ``photoz_numba.calibration.recalibration``: `ErrorCalibration`, the
  correction of ``z_phot_err`` that `~photoz_numba.PhotoZModel.calibrate`
  learns, and `coverage_loss`, the figure it minimises;
- ``photoz_numba.calibration.pdfs``: is a p(z) calibrated? `pdf_report`
  (PIT histogram with the uniform's band, coverage of central intervals at
  every level, KS distance, CDE loss) and `pit_from_percentiles`.

Every public name can be imported from ``photoz_numba.calibration``.
"""

from ..metrics import NMAD_SCALE  # noqa: F401 (importable from here, as before)
from .diagnostics import (GAUSSIAN_COVERAGE, CalibrationReport, anderson_darling_normal,
                          calibration_report, pulls)
from .mixture import Estimate, PullMixture, fit_pull_mixture
from .pdfs import COVERAGE_LEVELS, PdfReport, pdf_report, pit_from_percentiles
from .recalibration import (CALIBRATION_FORMS, DISTANCE_FLOOR,  # noqa: F401
                            ErrorCalibration, coverage_loss)

__all__ = ["GAUSSIAN_COVERAGE", "CALIBRATION_FORMS", "pulls", "anderson_darling_normal",
           "calibration_report", "CalibrationReport", "fit_pull_mixture", "PullMixture",
           "Estimate", "ErrorCalibration", "coverage_loss", "pdf_report", "PdfReport",
           "pit_from_percentiles", "COVERAGE_LEVELS"]
