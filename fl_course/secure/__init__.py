"""Secure aggregation with additively homomorphic (Paillier) encryption.

- :mod:`fl_course.secure.fixed_point`: fixed-point encoding and slot packing (:class:`SlotLayout`).
- :mod:`fl_course.secure.packed_paillier`: :class:`PackedPaillier` and :class:`EncryptedVector`,
  encrypted vectors that add element-wise, serialise to JSON and decrypt to a mean.
"""

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

__all__ = [
    "DEFAULT_KEY_BITS",
    "MIN_KEY_BITS",
    "EncryptedVector",
    "PackedPaillier",
    "SlotLayout",
    "available_cores",
    "fingerprint",
    "generate_keypair",
]
