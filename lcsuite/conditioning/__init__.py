"""Layer-wise conditioning analysis (Huang et al., ECCV 2020), usable on any model.

- :func:`analyze` → :class:`Analysis`: per-layer spectra of ``Sx = E[x xᵀ]``, ``Sg = E[g gᵀ]``,
  ``λ_max`` and ``kappa_p`` of ``Sx ⊗ Sg`` (Proposition 1), magnitudes, dying/full units and
  the weight-domination ratio.
- :class:`LayerCapture`: float64 running statistics of every analysed layer's input and
  output-gradient (conv as ``"channel"`` or ``"patch"`` rows).
- :data:`LAYER_TYPES` / :class:`LayerType`: which layers are analysed and how their inputs and
  output-gradients become rows (Linear and Conv2d built in; plugins register more).
- :func:`skipped_parameters` / :class:`SkippedParameter` / :class:`SkipCategory`: every
  parameter the analysis does not cover, with its owner module and reason (``Analysis.skipped``).
- :mod:`~lcsuite.conditioning.spectrum`: spectra, ``λ_max``, ``kappa_p``, Kronecker spectra.
- :func:`capture_passes`, :func:`weights_requiring_grad`, :func:`layer_analyses`: the passes
  ``analyze`` records and the step from records to :class:`LayerAnalysis` (shared with the
  training monitor, :mod:`lcsuite.monitor`).
- :func:`exact_curvature`: exact full FIM / second moment ``M`` for small networks.
- :func:`preserved_state`: restores a model's buffers, modes, ``requires_grad`` flags and
  frozen gradients after measuring it.

Conventions are in :mod:`lcsuite.conditioning.conventions`.
"""

from lcsuite.conditioning.analyze import Analysis, LayerAnalysis, analyze, layer_analyses
from lcsuite.conditioning.capture import LayerCapture, LayerRecord
from lcsuite.conditioning.conventions import ConvMode, FisherType, LossType
from lcsuite.conditioning.coverage import SkipCategory, SkippedParameter, skipped_parameters
from lcsuite.conditioning.exact import ExactCurvature, curvature_parameter_names, curvature_rows, exact_curvature
from lcsuite.conditioning.layer_types import LAYER_TYPES, LayerType, supported_layers
from lcsuite.conditioning.passes import capture_passes, weights_requiring_grad
from lcsuite.conditioning.spectrum import default_rtol, kappa, kronecker_spectrum, lambda_max, nonzero_spectrum
from lcsuite.conditioning.spectrum import symmetric_spectrum
from lcsuite.conditioning.state import preserved_state
from lcsuite.conditioning.statistics import dying_units, full_units, root_mean_square_norm, second_moment
from lcsuite.conditioning.statistics import spectral_norm, weight_domination_ratio

__all__ = [
    # the analysis, its passes and the capture of rows
    "analyze", "Analysis", "LayerAnalysis", "layer_analyses", "capture_passes", "weights_requiring_grad",
    "preserved_state", "SkippedParameter", "SkipCategory", "skipped_parameters", "LayerCapture", "LayerRecord", "supported_layers", "LAYER_TYPES", "LayerType",
    # conventions and exact matrices
    "ConvMode", "FisherType", "LossType", "ExactCurvature", "exact_curvature", "curvature_rows",
    "curvature_parameter_names",
    # spectra and row statistics
    "default_rtol", "symmetric_spectrum", "lambda_max", "nonzero_spectrum", "kappa", "kronecker_spectrum",
    "second_moment", "root_mean_square_norm", "dying_units", "full_units", "weight_domination_ratio",
    "spectral_norm",
]
