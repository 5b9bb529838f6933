"""The tiny paper's experiment: gradient descent on least squares, fitting ±1 to the labels of a
data set named in the claim file (``dataset``), with a model named there too (``model``)."""

import torch

from lcsuite.data import DATASETS
from lcsuite.harness.experiments import ExperimentContext, experiment
from lcsuite.models.registry import MODELS


@experiment("tiny_descent", outputs={"loss": ("step",), "final_over_initial": ()},
            params=("model", "dataset", "steps", "lr"), registry_params={"model": MODELS, "dataset": DATASETS})
def tiny_descent(ctx: ExperimentContext) -> dict:
    p = ctx.params
    data = ctx.dataset(p["dataset"])  # the claim's data policy applies; the provenance is recorded
    x, y = data.inputs, (2.0 * data.targets - 1.0)[:, None]
    model = MODELS.get(p["model"])(x.shape[1])
    losses = []
    for _ in range(p["steps"]):
        loss = ((model(x) - y) ** 2).mean()
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            model.classifier.weight -= p["lr"] * model.classifier.weight.grad
    return {"loss": torch.tensor(losses), "final_over_initial": losses[-1] / losses[0]}
