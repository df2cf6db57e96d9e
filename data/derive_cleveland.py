"""Derive model/resources/heart_cleveland.csv (UCI coding) from the copy of the Cleveland data that
the PyPI package pingouin ships as ``datasets/chi2_independence.csv`` (Kaggle coding).

Run from the repository root:  python data/derive_cleveland.py  [--out PATH]

The decoding tables live in model/data/codings.py (documented in data/README.md). The Kaggle
copy lacks one Cleveland patient and repeats another; the derived file keeps its 303 rows
as they are, duplicate included, so that the provenance stays checkable
(tests/test_datasets.py compares it with the UCI original).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from model.data.codings import kaggle_to_uci  # noqa: E402
from model.data.schema import COLUMNS, FEATURES  # noqa: E402

DEFAULT_OUT = REPO / "model" / "resources" / "heart_cleveland.csv"


def pingouin_source() -> Path:
    """The pingouin copy of the Kaggle-coded Cleveland data.

    Found through the package's location rather than importing pingouin, which would
    pull in statsmodels and friends for nothing.
    """
    spec = importlib.util.find_spec("pingouin")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pingouin is not installed: pip install pingouin")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "chi2_independence.csv"


def derive(source=None) -> pd.DataFrame:
    """Return the 303 rows in UCI coding, columns model.data.schema.COLUMNS, target = num > 0."""
    source = pingouin_source() if source is None else Path(source)
    kaggle = pd.read_csv(source, encoding="utf-8-sig")
    missing = [c for c in COLUMNS if c not in kaggle.columns]
    if missing:
        raise ValueError(f"{source}: expected columns missing: {', '.join(missing)}")
    uci = kaggle_to_uci(kaggle[list(COLUMNS)])
    # Whole numbers print without a trailing ".0"; missing values stay empty.
    for f in FEATURES:
        if f.integer or f.categories:
            uci[f.name] = uci[f.name].astype("Int64")
    uci["target"] = uci["target"].astype(int)
    return uci


def write(frame: pd.DataFrame, out: Path) -> None:
    frame.to_csv(out, index=False, na_rep="", lineterminator="\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output CSV (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    frame = derive()
    write(frame, args.out)
    repeated_rows = ", ".join(str(i + 1) for i in frame.index[frame.duplicated(keep=False)])
    print(
        f"wrote {args.out}: {len(frame)} rows, {int(frame['target'].sum())} with disease, "
        f"{int(frame.isna().sum().sum())} missing values, "
        f"{int(frame.duplicated().sum())} repeated row(s) (data rows {repeated_rows})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
