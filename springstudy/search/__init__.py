"""Hyperparameter scaling (thesis §3.3.1, Table 5): sample configurations, prune progressively.

The thesis defined a search space per model family (Table 5: channels, dilation, kernel size and
layers; batch size 1-32 and learning rate 1e-1-1e-4 for all), trained about 300 configurations
briefly, and removed the ones that underperformed ("progressive pruning") until nine models
were left (Table 6). It gives no sampling rule, pruning rule or seed. Here all three are
explicit, and the numbers live in ``search.yaml``:

* **Sampling.** Configuration ``i`` of a family is drawn from its own generator
  ``default_rng([seed, crc32(family), i])``, so it does not depend on how many configurations
  the family or the other families have: a search split by family draws the same configurations
  as the whole, and a larger size over the same ranges extends a smaller one's list. Integer
  hyperparameters are uniform over their range (both ends included); the learning rate is
  log-uniform. WaveNet's layer count is ``dilation_depth * num_repeat``, so ``num_repeat`` is
  drawn among the repeats that put it inside the range. A draw whose true receptive field is
  longer than ``max_receptive_field_seconds`` is drawn again (rejection sampling: the same
  distribution restricted to what is left); recurrent models have no finite receptive field
  and are never rejected.
* **Progressive pruning** as successive halving (Jamieson and Talwalkar, AISTATS 2016; Li et
  al., "Hyperband", JMLR 2018): every configuration trains to the first rung's step count; per
  family the best ``max(min_survivors, n // eta)`` by validation loss (thesis eq. 3.1) at the
  rung's end go on (``pruning.metric: last``; ``best`` ranks by the best validation so far).
  A promoted configuration is *resumed* from its ``last.pt`` up to the next rung's step count;
  because the trainer draws every batch from (seed, step), this ends bit-identical to training
  it straight for the same total steps (tests check it): pruning saves compute and changes no
  number of a promoted run.
* **Run folders** ``<out>/<config_id>/`` hold the trainer's checkpoints and ``search.json``
  (the configuration, its training settings and a fingerprint of the data). A search run again
  over the same folder reuses what is there (a run trained past a rung reads its validation
  loss at that rung from its history), so an interrupted or rung-by-rung search continues.
"""

from __future__ import annotations

from springstudy.search.space import (CommonRange, FamilySpace, Hyperparameter, RUNG_METRICS,
                                      SEARCH_FILE, SearchError, SearchSize, SearchSpace,
                                      TABLE5_ROWS, Variant, load_search, search_size, search_space,
                                      size_space, space_table)
from springstudy.search.sampling import (Candidate, draw_configuration, family_rng,
                                         sample_configurations, sample_family)
from springstudy.search.halving import (RungResult, schedule, successive_halving, survivors)
from springstudy.search.trials import (RUN_RECORD, SearchResult, TrialOutcome, data_fingerprint,
                                       run_search, train_config, train_to, val_loss_at)
from springstudy.search.ranking import (RANKING_COLUMNS, RANKING_STEM, RUNGS_STEM, plot_rungs,
                                        pruning_budget, ranking_markdown, ranking_table,
                                        search_metrics, write_ranking)

__all__ = ["Candidate", "CommonRange", "FamilySpace", "Hyperparameter", "RANKING_COLUMNS",
    "RANKING_STEM", "RUNGS_STEM", "RUNG_METRICS", "RUN_RECORD", "RungResult", "SEARCH_FILE",
    "SearchError", "SearchResult", "SearchSize", "SearchSpace", "TABLE5_ROWS", "TrialOutcome",
    "Variant", "data_fingerprint", "draw_configuration", "family_rng", "load_search", "plot_rungs",
    "pruning_budget", "ranking_markdown", "ranking_table", "run_search", "sample_configurations",
    "sample_family", "schedule", "search_metrics", "search_size", "search_space", "size_space",
    "space_table", "successive_halving", "survivors", "train_config", "train_to", "val_loss_at",
    "write_ranking"]
