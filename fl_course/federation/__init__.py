"""Federations: who trains what, who sees which update (chapters 1, 2 and 5).

==================================================  ============================================
:class:`~fl_course.federation.fedavg.FedAvg`        FedAvg simulator, McMahan et al. (2017), ch. 1
:class:`~fl_course.federation.indexed_fedsgd.IndexedFedSGD`
                                                    horizontal FedSGD with server-chosen batch
                                                    ids, as CAFE attacks it (Jin et al. 2021), ch. 5
:class:`~fl_course.federation.vertical.VerticalFL`  vertical FL on image quarters (CAFE), ch. 5
:class:`~fl_course.federation.homolr.HomoLR`        local re-implementation of FATE's HomoLR, ch. 2
:mod:`~fl_course.federation.local_sgd`              updates, the update-transform signature,
                                                    the local SGD step shared by the federations
:mod:`~fl_course.federation.server_indexed`         the interface of the two CAFE federations
:mod:`~fl_course.federation.client`                 a client's update as a function of its data
==================================================  ============================================

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
