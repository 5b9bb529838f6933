"""What determines one claim item's measurement: its :class:`ItemSpec` and its key.

An item is addressed everywhere (result files, plans, verdicts, compare) by its key
``<paper>/<claim>/<item>``. The spec is the part of the reuse key that comes from the claim file;
expectations are not in it, because stored tensors are judged again by every run (DECISIONS D1).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

__all__ = ["ItemSpec", "item_key", "split_key", "canonical_json", "IDENTIFIER"]

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
"""Paper and claim ids: a letter, then letters, digits and underscores."""


def canonical_json(value: Any) -> str:
    """Sorted-key compact JSON, the form every digest in the store is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def item_key(paper: str, claim: str, item: str) -> str:
    """``<paper>/<claim>/<item>``."""
    return f"{paper}/{claim}/{item}"


def split_key(key: str) -> tuple[str, str, str]:
    """``(paper, claim, item)`` of a key (the item may itself contain no ``/``)."""
    paper, claim, item = key.split("/", 2)
    return paper, claim, item


@dataclass(frozen=True)
class ItemSpec:
    """One claim item at one tier, as the measurement sees it.

    Attributes:
        paper, claim, item: the item's address (``item`` is ``default`` without a grid).
        experiment: the registered experiment that measures it.
        tier: ``smoke`` | ``gpu`` | ``paper``.
        params: merged parameters (``[params]`` < ``[tier.X]`` < grid point < variant).
        seeds: the replicates, in order.
        requires_real_data: the claim refuses substitute data sets at this tier.
        allow_unverified: the user's recorded override to run on unverified data files.
        variant: the protocol variant's name, or ``None`` for the primary protocol.
    """

    paper: str
    claim: str
    item: str
    experiment: str
    tier: str
    params: Mapping[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = ()
    requires_real_data: bool = False
    allow_unverified: bool = False
    variant: str | None = None

    @property
    def key(self) -> str:
        return item_key(self.paper, self.claim, self.item)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = dict(self.params)
        data["seeds"] = list(self.seeds)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ItemSpec":
        fields = dict(data)
        fields["seeds"] = tuple(int(s) for s in fields.get("seeds", ()))
        fields["params"] = dict(fields.get("params", {}))
        return cls(**fields)

    def spec_hash(self) -> str:
        """Digest of the whole spec (20 hex digits)."""
        return hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()[:20]
