"""The fast path: a faster evaluation of the fitted pipeline that gives the same numbers, verified before it is used.

Where the time goes in ``pipeline.predict`` for a few rows of the production model (measured, see
benchmarks/README.md): not in arithmetic but in per-call Python work — column-by-column validation and
encoding of the DataFrame in every ColumnTransformer and encoder, the gradient boosting model's own
internal encoder, and a Python loop over the boosting iterations (400 in the shipped config), each
entering OpenMP. This module evaluates the same fitted objects with far fewer calls:

- each categorical column becomes level codes once per request (the card's levels and any other level a
  fitted encoder knows, then missing, then unseen); categorical transformers (encoders and imputers, which
  map each value independently) are tabulated at load by running the fitted transformer itself on every
  level, so a request costs one gather per transformer; the boosting model's internal encoder is folded
  into those tables at load;
- numeric transformers apply the fitted parameters with the same element-wise numpy operations as their
  ``transform`` minus the input validation (imputers' fill values, derived sums/differences, Yeo-Johnson
  for all columns at once, standardisation); any other numeric transformer is the fitted object itself
  called on a numpy block (a copy that forgets the column names it was fitted with); a linear model is
  ``X @ coef_ + intercept_``, as ``LinearModel.predict`` computes it;
- the gradient-boosted trees are walked by one compiled loop over all trees (tree_kernel.py), following
  scikit-learn's own traversal rules and summing leaf values in iteration order exactly like scikit-learn.

Anything else is not compiled (UnsupportedModelError) and the engine uses ``pipeline.predict``. A compiled
model is only used after ``verify`` found it bit-for-bit equal to the pipeline on probe rows; it reaches
into private scikit-learn members (the boosting model's internal encoder, bin mapper and predictors),
which is why that check runs on every load rather than being trusted across scikit-learn versions. One
difference is deliberate: where the pipeline's target transformer raises on a non-finite prediction
(its input check), the compiled model returns it, and the engine answers 422 for that property.

By job: ``compile.py`` builds the function from the fitted pipeline; ``inputs.py`` stacks a call's numbers
and codes its categories once, for every transformer to read; ``tabulate.py`` turns categorical
transformers (and the ColumnTransformer around them) into lookups; ``numeric.py`` evaluates numeric
transformers; ``trees.py`` and ``tree_kernel.py`` the boosted trees; ``verify.py`` checks the result
against ``pipeline.predict``. tests/estimation_engine/model/test_fast_model.py holds the equality tests
that .pipelines/fast-path-sklearn.yml runs weekly against the newest scikit-learn release.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

Columns = Mapping[str, np.ndarray]
Predict = Callable[[Columns, int], np.ndarray]


class UnsupportedModelError(Exception):
    """The pipeline holds something this module does not know how to evaluate exactly."""
