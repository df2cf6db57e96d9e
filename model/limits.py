"""Every resource a user can ask for is bounded here, in one place.

The dashboard shows these limits next to the fields they bound; validation in the
model package enforces them, so the CLI and notebooks get the same protection.
"""

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
MAX_CONCURRENT_TRAININGS = 4  # per server: training is CPU-bound and the host is small
MAX_STACKED_ROWS = 1_000_000  # patients x folds of a comparison: every fold's preprocessed copy is held at once
