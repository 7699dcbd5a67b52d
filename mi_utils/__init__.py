"""mi_utils: an information-theoretic toolkit for compressor-predictor LM systems.

Re-implements arXiv 2512.21720. Light modules (estimators, analysis, costs, prompts, data) import
no torch; model code lives in :mod:`mi_utils.models` and :mod:`mi_utils.backends`.
"""

__version__ = "0.1.0"
