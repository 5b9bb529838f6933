"""Every threshold of the diagnosis rules, in one place, with its reason.

None of these numbers was fitted to a network's statistics. Where the paper gives a number or
a word, the threshold reads it; elsewhere it follows from a stated principle. The project's
claim files use the same bars for the same words (``claims/fig3_magnitude_propagation.toml``:
"exponential decrease" is ``R² >= 0.9`` and a fold ``>= 100``, "stable" is a spread ``<= 100``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Thresholds", "DEFAULT_THRESHOLDS"]


@dataclass(frozen=True)
class Thresholds:
    """Bars of the rules in :mod:`lcsuite.monitor.rules` (override any one with ``replace``).

    Attributes:
        min_r2: An exponential trend (Thm 4.1: magnitudes scale with the product of per-layer
            factors, so ``log`` magnitude is linear in the layer index) must explain at least
            90% of the variance of the log-values along the layers (or checkpoints): a straight
            line in log space, not a single jump.
        min_fold: ... and change them by at least two orders of magnitude from the first to the
            last point of the run. The paper gives no number; 100 is the bar the project's
            Fig. 3 claim uses for the same words, so that "exponential decay" means one thing
            in a claim and in a diagnosis. For ``λ_max`` (a squared magnitude) it is a ten-fold
            change of the typical norm ``‖x‖`` or ``‖g‖``, well beyond the few-percent drift a
            well-scaled layer shows.
        min_points: A run of layers (or checkpoints) holds at least 3 points: a line through two
            points always fits, so two could never fail ``min_r2``.
        max_spread: Without an exponential trend, magnitudes that spread by more than two orders
            of magnitude over the layers (``max/min``) are reported as unbalanced: the converse
            of the claim files' "stable" bar for the same figure.
        domination_factor: Definition 1 calls a layer weight-dominated when
            ``σ_max(∂L/∂W) ≪ σ_max(W)``. Healthy layers already have ratios far below 1, so
            ``≪`` is read against the network's own layers: a ratio at least two orders of
            magnitude below the median of the other layers. In a BatchNorm network a weight
            scaled by ``α`` has its ratio scaled by ``1/α²`` (Thm 4.2), so 100 is the weight of
            one layer grown ten-fold against its peers.
        last_input_factor: Sec. 5 / Fig. 6: the last linear layer's input outgrows the rest when
            its ``λ_max(Sx)`` exceeds the median ``λ_max(Sx)`` of the hidden layers by two orders
            of magnitude (the same bar as ``max_spread``).
    """

    min_r2: float = 0.9
    min_fold: float = 100.0
    min_points: int = 3
    max_spread: float = 100.0
    domination_factor: float = 100.0
    last_input_factor: float = 100.0

    def __post_init__(self):
        if not 0.0 <= self.min_r2 <= 1.0:
            raise ValueError(f"min_r2 must lie in [0, 1], got {self.min_r2}")
        if self.min_points < 3:
            raise ValueError(f"min_points must be >= 3 (two points always fit a line), got {self.min_points}")
        for name in ("min_fold", "max_spread", "domination_factor", "last_input_factor"):
            if not getattr(self, name) >= 1.0:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT_THRESHOLDS = Thresholds()
