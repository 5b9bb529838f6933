"""The tiny paper's experiment: gradient descent on a linear least-squares problem."""

import torch

from lcsuite.harness.experiments import ExperimentContext, experiment
from lcsuite.models.registry import MODELS


@experiment("tiny_descent", outputs={"loss": ("step",), "final_over_initial": ()},
            params=("model", "features", "examples", "steps", "lr"))
def tiny_descent(ctx: ExperimentContext) -> dict:
    p = ctx.params
    ctx.record_data({"name": "gaussian", "split": "none", "size": p["examples"], "substitute": True})
    x = torch.randn(p["examples"], p["features"])
    y = x @ torch.randn(p["features"], 1)
    model = MODELS.get(p["model"])(p["features"])
    losses = []
    for _ in range(p["steps"]):
        loss = ((model(x) - y) ** 2).mean()
        losses.append(float(loss))
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            model.classifier.weight -= p["lr"] * model.classifier.weight.grad
    return {"loss": torch.tensor(losses), "final_over_initial": losses[-1] / losses[0]}
