"""The tiny paper's check: ``at_most``, every point of a quantity at most a bound."""

import numpy as np

from lcsuite.harness.checks import Expectation, Field


class AtMost(Expectation):
    check_name = "at_most"
    fields = {"quantity": Field("path", required=True), "bound": Field("number", required=True)}

    def quantity_fields(self):
        return {"quantity": self.quantity}

    def evaluate(self, operands):
        values = operands["quantity"].values.astype(float)
        ok = values <= self.bound
        return ok, operands["quantity"].dims, {"values": values}, f"{self.quantity} ≤ {self.bound:g}", \
            f"largest {np.max(values):.4g}"
