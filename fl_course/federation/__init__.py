"""Federations: who trains what, who sees which update (chapters 1, 2 and 5).

===========================  ===============================================================
:class:`FedAvg`              FedAvg simulator, McMahan et al. (2017); chapter 1
:class:`IndexedFedSGD`       horizontal FedSGD whose server picks every worker's batch ids, as
                             CAFE attacks it (Jin et al. 2021); chapter 5
:class:`VerticalFL`          vertical FL on image quarters (CAFE); chapter 5
:class:`HomoLR`              local re-implementation of FATE 2.x HomoLR; chapter 2
:mod:`.local_sgd`            updates, the update-transform signature, the local SGD step
:mod:`.server_indexed`       :class:`ServerIndexedFederation`, the CAFE federations' interface
:mod:`.client`               a client's update as a function of its data (victim side)
===========================  ===============================================================

A defense enters every federation the same way: ``defense=`` takes any
``defense(update, *, model, data, step) -> update`` (:class:`fl_course.defenses.Defense`).
"""

from fl_course.federation.client import (
    LossFn,
    classification_loss,
    local_delta,
    local_gradient,
    simulate_update,
)
from fl_course.federation.fedavg import ClientError, FedAvg, accuracy_and_loss, weighted_average
from fl_course.federation.homolr import HomoLR
from fl_course.federation.indexed_fedsgd import IndexedFedSGD
from fl_course.federation.local_sgd import (
    DefendedOptimizer,
    Update,
    UpdateTransform,
    local_sgd_step,
    protect_round_update,
)
from fl_course.federation.server_indexed import ServerIndexedFederation, Step
from fl_course.federation.vertical import VerticalFL, join_quarters, split_quarters

__all__ = [
    "ClientError",
    "DefendedOptimizer",
    "FedAvg",
    "HomoLR",
    "IndexedFedSGD",
    "LossFn",
    "ServerIndexedFederation",
    "Step",
    "Update",
    "UpdateTransform",
    "VerticalFL",
    "accuracy_and_loss",
    "classification_loss",
    "join_quarters",
    "local_delta",
    "local_gradient",
    "local_sgd_step",
    "protect_round_update",
    "simulate_update",
    "split_quarters",
    "weighted_average",
]
