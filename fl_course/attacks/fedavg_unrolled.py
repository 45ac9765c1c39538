"""Inverting a FedAvg update by unrolling the client's local SGD steps.

In FedAvg the server sees ``Δ = W_E − W_0`` after ``E`` local epochs of SGD
with learning rate ``η`` on mini-batches of size ``B`` -- not a gradient. For
one step on the full batch ``−Δ/η`` *is* the gradient, but after many steps it
is a sum of gradients taken at moving weights. :cite:t:`geiping2020inverting`
(Sec. 6, Table 2) attack it anyway by making the simulated update a
differentiable function of the images: the attacker replays the client's
``E·⌈n/B⌉`` SGD steps from the same ``W_0`` on the candidate images (keeping the
graph) and matches the resulting ``Δ(x)`` to the observed one with the cosine
distance and TV prior of Inverting Gradients. The cost of one iteration grows
linearly with the number of local steps.

Production clients also use momentum and weight decay (Wang, Hugh and Li,
INFOCOM 2023, "Outpost"): the replay then follows ``torch.optim.SGD``'s rule
``b ← μ·b + (∇L + λW)``, ``W ← W − η·b``, still differentiable in the images.
The attacker reads μ and λ from the :class:`~fl_course.attacks.base.ObservedUpdate`;
an update built with ``momentum=0, weight_decay=0`` for a client that used them
is the *mis-specified* attacker, who replays plain SGD.

Examples
--------
>>> import torch
>>> from fl_course.models import ConvNet
>>> from fl_course.attacks import FedAvgInvertingGradients, client_fedavg_update
>>> model = ConvNet(width=4, seed=0)
>>> x, y = torch.rand(2, 1, 28, 28), torch.tensor([1, 5])
>>> update = client_fedavg_update(model, x, y, lr=0.1, local_epochs=2, batch_size=1)
>>> update.local_steps
4
>>> update = client_fedavg_update(model, x, y, lr=0.01, local_epochs=5, batch_size=2,
...                               momentum=0.9, weight_decay=1e-4)
>>> update.momentum, update.weight_decay
(0.9, 0.0001)
>>> attack = FedAvgInvertingGradients(iterations=2, progress=False)
>>> attack.reconstruct(model, update, labels=y).images.shape
torch.Size([2, 1, 28, 28])
"""

from __future__ import annotations

from fl_course.attacks.base import ThreatModel
from fl_course.attacks.inverting import InvertingGradients

__all__ = ["FedAvgInvertingGradients"]


class FedAvgInvertingGradients(InvertingGradients):
    """Inverting Gradients on a FedAvg weight delta (Geiping et al. 2020, Sec. 6).

    Same parameters as :class:`fl_course.attacks.inverting.InvertingGradients`.
    ``reconstruct`` requires an :class:`~fl_course.attacks.base.ObservedUpdate`
    of kind ``"delta"`` carrying the client's ``lr``, ``local_epochs``,
    ``batch_size``, ``momentum`` and ``weight_decay``; the attacker assumes the
    client visits its data in order.
    """

    threat_model = ThreatModel(
        attack="Inverting Gradients, FedAvg unrolled (Geiping et al. 2020)",
        reference="NeurIPS 2020, Sec. 6, Table 2, Fig. 5",
        observes="one FedAvg weight delta Δ = W' − W",
        labels="known, or inferred from the sign of −Δ of the last layer",
        model_state="any (the paper's Sec. 6 experiments use an untrained ConvNet)",
        batch_size="n images in local mini-batches of B",
        local_steps=(
            "E·⌈n/B⌉ SGD steps with known learning rate, momentum and weight decay, "
            "replayed by the attacker"
        ),
        prior="images lie in [0, 1]; small total variation",
    )

    def _reconstruct(self, model, update, labels, data_shape, ground_truth):
        if update.kind != "delta":
            raise ValueError(
                "FedAvgInvertingGradients attacks a FedAvg weight delta; build the update with "
                "ObservedUpdate.delta(..., lr=..., local_epochs=..., batch_size=...), or use "
                "InvertingGradients for a FedSGD gradient."
            )
        return super()._reconstruct(model, update, labels, data_shape, ground_truth)
