"""Every resource a user can ask for is bounded here, in one place.

The dashboard shows these limits next to the fields they bound; validation in the
model package enforces them, so the CLI and notebooks get the same protection.
An operator may set the server's training cap with HEART_ANN_MAX_CONCURRENT_TRAININGS.
"""

import logging
import math
import os

logger = logging.getLogger(__name__)


def number_from_environment(name: str, default: float, low: float, high: float, whole: bool = False) -> float:
    """The environment variable `name` as a number from `low` to `high` (a whole one if `whole`); `default` when
    it is unset, or (said in the log) when it is not such a number."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high or (whole and not value.is_integer()):  # also refuses nan
        kind = "a whole number" if whole else "a number"
        logger.warning("%s=%r is not %s from %g to %g; %g is used", name, text[:40], kind, low, high, default)
        return default
    return value


MAX_HIDDEN_LAYERS = 8
MAX_UNITS_PER_LAYER = 512
MAX_EPOCHS = 5_000
MAX_BATCH_SIZE = 100_000
MAX_ROWS = 200_000
MAX_COLUMNS = 200  # of an uploaded CSV: 13 features + target + generous room for extra columns
MAX_UPLOAD_MB = 50
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
MAX_CV_FOLDS = 10
MAX_CV_REPEATS = 20
# Per server: training is CPU-bound and the host is small.
CONCURRENT_TRAININGS_ENV = "HEART_ANN_MAX_CONCURRENT_TRAININGS"
MAX_CONCURRENT_TRAININGS = int(number_from_environment(CONCURRENT_TRAININGS_ENV, 4, 1, 64, whole=True))
# A comparison holds every fold's preprocessed copy of the data (float64): folds x patients at most this many
# (a 5 x 2 comparison of MAX_ROWS patients; ~350 MB). The ANN's fold networks train together on at most
# MAX_STACKED_ROWS of them at once, in chunks of folds beyond that.
MAX_COMPARISON_FOLD_ROWS = 10 * MAX_ROWS
MAX_STACKED_ROWS = 1_000_000
# Total work of one training: training rows x network parameters x epochs. Each cap above
# can be within bounds while their product is not (200,000 rows x 8x512 units x 5,000
# epochs would run for weeks). Measured on the 2-core CPU host: 2-9 x 10^9 of these units
# per second, so the cap is 4-15 minutes of training there (seconds on a GPU).
MAX_TRAINING_WORK = 2 * 10**12
# Hyper-parameter search (model.evaluation.search): a budget of trials or minutes, and the widest
# networks it may try. A trial is one cross-validated training per fold, so 300 trials of 5 folds
# are 1,500 trainings: minutes for small networks on this 2-core host, an hour at the caps below.
MAX_SEARCH_TRIALS = 300
MAX_SEARCH_MINUTES = 240
MAX_SEARCH_LAYERS = 4  # of MAX_HIDDEN_LAYERS: deeper nets do not help 13 features and cost time
MAX_SEARCH_UNITS = 256  # of MAX_UNITS_PER_LAYER
MAX_SEARCH_EPOCHS = 1_000  # of MAX_EPOCHS
MAX_SEARCH_WAVE = 64  # trials asked together (model.evaluation.search: parallelism vs TPE's feedback)
MAX_NESTED_OUTER_FOLDS = 10
