"""mi_utils: an information-theoretic toolkit for compressor-predictor LM systems.

Re-implements arXiv 2512.21720. Light modules (estimators, information, analysis, costs, prompts, data) import
no torch; model code lives in :mod:`mi_utils.models` and :mod:`mi_utils.backends`.
"""

__version__ = "0.1.0"


def set_log_level(level: int | str = "WARNING") -> None:
    """Set the level of the ``mi_utils`` loggers: ``"WARNING"`` keeps only warnings and errors,
    ``"INFO"`` adds progress (model loads, each run's seconds per stage). For notebooks, which
    then need no ``logging`` import of their own.

    Args:
        level: a :mod:`logging` level, by name or number.
    """
    import logging

    logging.getLogger("mi_utils").setLevel(level)
