"""The tiny paper's data set, ``tiny_points``: labelled points in a CSV file, or a stand-in.

Registered through the ``lcsuite.datasets`` entry point group
(``tiny_points = tinypaper.data:tiny_points``), and resolved like lcsuite's own data sets: the
real data is ``tiny_points.csv`` in a data folder (``--lc-data`` or ``$LCSUITE_DATA``), one row
per example, four features then the label (0 or 1), checked against the paper's published
sha256. Where the claim allows substitutes (``requires_real_data = false``), a missing file is
replaced by two Gaussian blobs of the same shape, labelled as a substitute.
"""

from pathlib import Path

import numpy as np
import torch

from lcsuite.data import (DataNotFoundError, Dataset, KnownDigest, Provenance, candidate_roots, file_record,
                          require_verified)

FILE = "tiny_points.csv"
PUBLISHED = KnownDigest("sha256", "6e4bffef3c2f376f90cea67547c850bceb59b5e0e7c33153475ac58f26702886", "published",
                        "published: the tiny paper's data release")
EXAMPLES, FEATURES = 64, 4


def _substitute(split: str) -> Dataset:
    rng = np.random.default_rng(0)
    labels = np.arange(EXAMPLES) % 2
    points = (2 * labels[:, None] - 1) + 0.5 * rng.standard_normal((EXAMPLES, FEATURES))
    provenance = Provenance("two blobs (tiny_points substitute)", split, EXAMPLES, "substitute", substitute=True)
    return Dataset(torch.tensor(points, dtype=torch.float32), torch.tensor(labels), provenance, 2)


def tiny_points(root=None, *, allow_substitute: bool, allow_unverified: bool, download: bool = False,
                split: str = "train") -> Dataset:
    """The points of ``tiny_points.csv`` under ``root`` or ``$LCSUITE_DATA`` (there is nothing to
    download), else the substitute where ``allow_substitute``; inputs (64, 4), targets (64,)."""
    roots = candidate_roots(root)
    path = next((Path(r) / FILE for r in roots if (Path(r) / FILE).is_file()), None)
    if path is None:
        if not allow_substitute:
            raise DataNotFoundError(f"tiny_points required: no {FILE} in {', '.join(map(str, roots)) or 'no folder'}")
        return _substitute(split)
    table = np.loadtxt(path, delimiter=",", ndmin=2)
    provenance = Provenance("tiny_points", split, len(table), str(path.parent.resolve()),
                            files=(file_record(path, "tiny_points", known=PUBLISHED),))
    data = Dataset(torch.tensor(table[:, :-1], dtype=torch.float32), torch.tensor(table[:, -1], dtype=torch.int64),
                   provenance, 2)
    return require_verified(data, allow_unverified)
