"""Figures of the notebooks: one way to save them, one colour per model family, and the drawing helpers.

Three layers, each importing only the ones above it, so that notebook cells stay a narrative (parameters,
calls into ``mi_utils``, plots):

* :mod:`~mi_utils.plotting.style`, the primitives: :func:`use_style`, :func:`figures_dir`, :func:`savefig`
  (PNG + PDF into ``figures/``), :func:`finish` (tight layout, save, show); :data:`FAMILY_COLORS` /
  :func:`family_color` (one colour per model family in every figure), :func:`sequential_colors`;
  :func:`panel` / :func:`panels` (figures sized per panel), :func:`title_with_source`, :func:`size_label`,
  :func:`contexts_axis`, :func:`plain_log_axis`; reference lines :func:`ceiling_line` (the ``log2 N`` ceiling of
  the MI estimate), :func:`saturation_marks` (:data:`mi_utils.estimators.SATURATION_THRESHOLD` of the ceiling),
  :func:`chance_and_control` (accuracy floors);
* :mod:`~mi_utils.plotting.marks`, generic marks on one Axes: :func:`lines_by`, :func:`mean_lines`,
  :func:`lines_vs_size`, :func:`labelled_points` / :func:`annotate_points`, :func:`scatter_with_fit`, :func:`interval_bars`,
  :func:`share_bars`;
* :mod:`~mi_utils.plotting.figures`, the analysis figures of notebooks 04-08: :func:`metrics_vs_size` (Fig. 2),
  :func:`compressor_vs_predictor_scaling` (Fig. 3), :func:`rate_distortion_panel` (Figs. 6, 19-20),
  :func:`ib_plane_panel`, :func:`importance_bars` (Fig. 17), :func:`forest_plot`, :func:`cost_score_panel`,
  :func:`saturation_panel` (notebook 08);
  :mod:`~mi_utils.plotting.study_figures`, the figures drawn straight from a rows table:
  :func:`conciseness_figure` (Figs. 5, 16), :func:`qasper_figure` (Fig. 9), :func:`information_vs_size` (Figs. 4, 15),
  :func:`perplexity_vs_mi_by_item` (Fig. 11), :func:`query_agnostic_figure` (Fig. 12), :func:`moe_figure` (Fig. 14),
  :func:`refinement_figure` (Fig. 18), and :data:`FIGURES_FROM_ROWS` (figure name -> builder).

Every public name is re-exported here: ``from mi_utils.plotting import finish, metrics_vs_size``.
Panel helpers take a matplotlib ``Axes`` first and return it (:func:`mean_lines`: its per-group statistics);
figure helpers return the ``Figure``.
Nothing here imports torch or transformers; matplotlib, numpy and pandas are imported when a helper runs.
"""

from __future__ import annotations

from . import figures, marks, study_figures, style
from .figures import *  # noqa: F403  (each module lists its public names once, in its __all__)
from .marks import *  # noqa: F403
from .study_figures import *  # noqa: F403
from .style import *  # noqa: F403

__all__ = [*style.__all__, *marks.__all__, *figures.__all__, *study_figures.__all__]
