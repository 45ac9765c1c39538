"""Gradient-inversion attacks on federated updates (chapter 4).

CAFE's large-batch attack on vertical and horizontal FL (chapter 5) is
:class:`~fl_course.attacks.cafe.Cafe`. The single-update attacks share
:class:`~fl_course.attacks.base.Attack`:
``attack.reconstruct(model, update, labels=..., data_shape=...)`` returns an
:class:`~fl_course.attacks.base.AttackResult`. See :mod:`fl_course.attacks.base`
for the interface and the victim-side helpers.
"""

from fl_course.attacks.analytic import AnalyticAttack, recover_linear_input
from fl_course.attacks.base import (
    Attack,
    AttackResult,
    ObservedUpdate,
    ThreatModel,
    client_fedavg_update,
    client_gradient,
)
from fl_course.attacks.cafe import Cafe
from fl_course.attacks.dlg import DLG, IDLG
from fl_course.attacks.fedavg_unrolled import FedAvgInvertingGradients
from fl_course.attacks.inverting import InvertingGradients
from fl_course.attacks.labels import count_labels, idlg_label, infer_labels, last_layer_names
from fl_course.attacks.optimization import (
    UpdateMatchingAttack,
    cosine_distance,
    euclidean_distance,
    total_variation,
)

__all__ = [
    "Attack",
    "AttackResult",
    "ObservedUpdate",
    "ThreatModel",
    "client_gradient",
    "client_fedavg_update",
    "AnalyticAttack",
    "Cafe",
    "recover_linear_input",
    "DLG",
    "IDLG",
    "InvertingGradients",
    "FedAvgInvertingGradients",
    "UpdateMatchingAttack",
    "idlg_label",
    "count_labels",
    "infer_labels",
    "last_layer_names",
    "total_variation",
    "euclidean_distance",
    "cosine_distance",
]
