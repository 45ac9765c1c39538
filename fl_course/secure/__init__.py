"""Secure aggregation with additively homomorphic (Paillier) encryption.

- :mod:`fl_course.secure.fixed_point`: fixed-point encoding and slot packing (:class:`SlotLayout`).
- :mod:`fl_course.secure.randomness`: cheap fresh encryption randomness
  (:class:`NthResidueSampler`).
- :mod:`fl_course.secure.packed_paillier`: :class:`PackedPaillier` and :class:`EncryptedVector`,
  encrypted vectors that add element-wise, serialise to JSON and decrypt to a mean.
- :mod:`fl_course.secure.contributors`: :class:`KeyHolder` and :class:`TagKey`, decryption bound
  to the agreed contributors and weights.
- :mod:`fl_course.secure.attacks`: the keyless link attack and its pre-fix target.
"""

from fl_course.secure.contributors import AggregateRejected, KeyHolder, TagKey
from fl_course.secure.fixed_point import SlotLayout
from fl_course.secure.packed_paillier import (
    DEFAULT_KEY_BITS,
    MIN_KEY_BITS,
    EncryptedVector,
    PackedPaillier,
    available_cores,
    fingerprint,
    generate_keypair,
)
from fl_course.secure.randomness import NthResidueSampler

__all__ = [
    "DEFAULT_KEY_BITS",
    "MIN_KEY_BITS",
    "AggregateRejected",
    "EncryptedVector",
    "KeyHolder",
    "NthResidueSampler",
    "PackedPaillier",
    "SlotLayout",
    "TagKey",
    "available_cores",
    "fingerprint",
    "generate_keypair",
]
