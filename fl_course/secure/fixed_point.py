"""Fixed-point encoding of float vectors and packing of many values into one plaintext.

A Paillier plaintext is an integer modulo ``n`` (2,048 bits for the default key), far wider
than one model parameter needs. :class:`SlotLayout` cuts the plaintext into equal *slots*,
each holding one value as a non-negative fixed-point integer, so that a single ciphertext
carries dozens of parameters and adding ciphertexts adds all slots at once. This is the
batching idea of BatchCrypt (Zhang et al., USENIX ATC 2020) applied to Paillier
(Paillier, EUROCRYPT 1999); the layout here differs from BatchCrypt in that it uses an offset
(not two's complement with sign bits) and keeps 24 fractional bits, so that averaging stays
exact to better than 1e-6.

A layout may also reserve a *tag slot* at the top of every plaintext (``tag_bits > 0``): a
secret per-party number that lets the key holder check, after decryption and before releasing
anything, that an aggregate holds each agreed party's contribution exactly once with its
agreed weight (see :class:`fl_course.secure.contributors.KeyHolder`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SlotLayout"]

#: Largest number of bits of a slot value that a float64 holds exactly (53-bit mantissa).
_FLOAT_EXACT_BITS = 52


@dataclass(frozen=True)
class SlotLayout:
    r"""How floats become fixed-point integers and how many of them share one plaintext.

    A value :math:`x` with :math:`|x| \le` ``max_abs`` is stored in a slot as

    .. math:: s(x) = \operatorname{round}(x \cdot 2^{f}) + o, \qquad o = \lceil
              \texttt{max\_abs} \cdot 2^{f} \rceil,

    so every slot value lies in :math:`[0, 2o]`; negatives need no sign bit. A vector
    encrypted with integer weight :math:`w` stores :math:`w \cdot s(x)`. Adding encrypted
    vectors adds slots, so a sum of total weight :math:`W` holds at most :math:`2oW`; the
    slot is made just wide enough for :math:`W \le` ``max_weight``, which is the headroom
    that keeps one slot from carrying into the next. Decoding subtracts :math:`W o` and
    divides by :math:`W 2^{f}`, giving the weighted mean with absolute error at most
    :math:`2^{-f-1}` (rounding errors average, they do not add up).

    Parameters
    ----------
    plaintext_bits : int
        Bits of one plaintext that slots may fill; ``n.bit_length() - 1`` for a Paillier
        modulus ``n`` keeps every packed integer below ``n``.
    frac_bits : int, default 24
        Fractional bits :math:`f`; the error of a decoded mean is at most
        :math:`2^{-f-1}` (3e-8 for 24 bits).
    max_abs : float, default 32.0
        Largest magnitude that can be encoded. Larger values are refused, never clipped.
    max_weight : int, default 8
        Largest total integer weight a ciphertext may accumulate: the number of parties for
        a plain mean, or the sum of the integer weights (e.g. sample counts) for a weighted
        mean. Each doubling costs one bit per slot.
    tag_bits : int, default 0
        Bits of the secret contributor tag kept above the value slots of every plaintext
        (0: no tag). The tag slot is ``tag_bits + bitlen(max_weight)`` bits wide, so that a
        sum of ``max_weight`` weighted tags cannot carry out of it.

    Examples
    --------
    >>> layout = SlotLayout(2047, frac_bits=24, max_abs=32.0, max_weight=6)
    >>> layout.slot_bits, layout.slots
    (33, 62)
    >>> plaintexts = layout.encode([1.5, -2.25, 0.0])
    >>> layout.decode(plaintexts, length=3, weight=1).tolist()
    [1.5, -2.25, 0.0]
    >>> SlotLayout(2047, max_weight=6, tag_bits=64).slots   # 67 bits go to the tag slot
    60
    """

    plaintext_bits: int
    frac_bits: int = 24
    max_abs: float = 32.0
    max_weight: int = 8
    tag_bits: int = 0

    def __post_init__(self) -> None:
        for name in ("plaintext_bits", "frac_bits", "max_weight", "tag_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(
                    f"{name} must be an int, got {type(value).__name__}; pass a whole number."
                )
        if self.tag_bits < 0:
            raise ValueError(
                f"tag_bits must be >= 0, got {self.tag_bits}; use 64 to bind aggregates to parties."
            )
        if self.frac_bits < 0:
            raise ValueError(
                f"frac_bits must be >= 0, got {self.frac_bits}; use e.g. 24 for errors below 1e-7."
            )
        if self.max_weight < 1:
            raise ValueError(
                f"max_weight must be >= 1, got {self.max_weight}; set it to the number of parties "
                "(or the sum of their integer weights)."
            )
        if not (math.isfinite(self.max_abs) and self.max_abs > 0):
            raise ValueError(f"max_abs must be a positive finite number, got {self.max_abs!r}.")
        if (2 * self.offset).bit_length() > _FLOAT_EXACT_BITS:
            raise ValueError(
                f"max_abs={self.max_abs} with frac_bits={self.frac_bits} needs more than "
                f"{_FLOAT_EXACT_BITS} bits per value, beyond what float64 encodes exactly; "
                "lower frac_bits or max_abs."
            )
        if self.slot_bits + self.tag_slot_bits > self.plaintext_bits:
            raise ValueError(
                f"One slot needs {self.slot_bits} bits (plus {self.tag_slot_bits} for the tag) "
                f"but a plaintext has only {self.plaintext_bits}; use a larger key or lower "
                "max_weight, max_abs, frac_bits or tag_bits."
            )

    @property
    def offset(self) -> int:
        """Integer added to every encoded value so that slots are never negative."""
        return math.ceil(self.max_abs * 2**self.frac_bits)

    @property
    def slot_bits(self) -> int:
        """Width of one slot: enough for ``max_weight`` values of at most ``2 * offset``."""
        return (2 * self.offset * self.max_weight).bit_length()

    @property
    def tag_slot_bits(self) -> int:
        """Width of the tag slot: ``tag_bits`` plus headroom for ``max_weight`` weighted tags.

        0 without tags.
        """
        return self.tag_bits + self.max_weight.bit_length() if self.tag_bits else 0

    @property
    def slots(self) -> int:
        """Number of values packed into one plaintext (below the tag slot, if any)."""
        return (self.plaintext_bits - self.tag_slot_bits) // self.slot_bits

    @property
    def tag_shift(self) -> int:
        """Bit position of the tag slot: just above the last value slot."""
        return self.slots * self.slot_bits

    def num_plaintexts(self, length: int) -> int:
        """Plaintexts (hence ciphertexts) needed for a vector of ``length`` values."""
        return -(-int(length) // self.slots)

    def to_dict(self) -> dict:
        """The layout as plain JSON-friendly values."""
        return {
            "plaintext_bits": int(self.plaintext_bits),
            "frac_bits": int(self.frac_bits),
            "max_abs": float(self.max_abs),
            "max_weight": int(self.max_weight),
            "tag_bits": int(self.tag_bits),
        }

    def check_weight(self, weight: int) -> int:
        """Return ``weight`` as an int after checking it fits the headroom."""
        if isinstance(weight, bool) or not isinstance(weight, (int, np.integer)):
            raise TypeError(
                f"weight must be an int, got {type(weight).__name__}; scale real weights to "
                "integers."
            )
        weight = int(weight)
        if not 1 <= weight <= self.max_weight:
            raise ValueError(
                f"A total weight of {weight} does not fit: this layout has headroom for weights 1 "
                f"to {self.max_weight}. Build the scheme with max_weight >= {weight} (one extra "
                "bit per doubling)."
            )
        return weight

    def encode(self, values, weight: int = 1, tags: list[int] | None = None) -> list[int]:
        """Encode a 1-D float vector into packed plaintext integers.

        Parameters
        ----------
        values : array_like of float
            Values with ``|x| <= max_abs``; NaN and infinity are refused.
        weight : int, default 1
            Integer weight multiplied into every slot (for weighted means), the tag included.
        tags : list of int, optional
            One tag below ``2**tag_bits`` per plaintext; required exactly when ``tag_bits > 0``.

        Returns
        -------
        list of int
            ``num_plaintexts(len(values))`` non-negative integers below ``2**plaintext_bits``.
        """
        weight = self.check_weight(weight)
        x = np.asarray(values, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(
                f"Expected a 1-D vector, got shape {x.shape}; flatten it first (e.g. x.ravel())."
            )
        if not np.all(np.isfinite(x)):
            bad = int(np.flatnonzero(~np.isfinite(x))[0])
            raise ValueError(
                f"Value {x[bad]} at index {bad} is not finite; only finite floats can be encrypted."
            )
        if x.size and np.max(np.abs(x)) > self.max_abs:
            bad = int(np.argmax(np.abs(x)))
            raise ValueError(
                f"Value {x[bad]:.6g} at index {bad} is outside the encodable range "
                f"±{self.max_abs}; rescale the vector or build the scheme with max_abs >= "
                f"{abs(x[bad]):.6g}."
            )
        count = self.num_plaintexts(x.size)
        if self.tag_bits:
            if (
                tags is None
                or len(tags) != count
                or any(not 0 <= int(t) < 2**self.tag_bits for t in tags)
            ):
                raise ValueError(
                    f"This layout binds every plaintext to its sender: pass {count} tags below "
                    f"2**{self.tag_bits} (TagKey.tags(round_id, count)); an untagged layout has "
                    "tag_bits=0."
                )
        elif tags is not None:
            raise ValueError(
                "This layout has no tag slot (tag_bits=0); build the scheme with tag_bits=64 to "
                "use tags."
            )
        ints = (np.rint(np.ldexp(x, self.frac_bits)).astype(np.int64) + self.offset).tolist()
        bits, step = self.slot_bits, self.slots
        plaintexts = []
        for i, start in enumerate(range(0, len(ints), step)):
            packed = 0
            for value in reversed(ints[start : start + step]):
                packed = (packed << bits) | value
            if tags is not None:
                packed |= int(tags[i]) << self.tag_shift
            plaintexts.append(packed * weight)
        return plaintexts

    def tag_of(self, plaintext: int) -> int:
        """The (summed, weighted) tag held in a plaintext's tag slot; 0 for an untagged layout."""
        return int(plaintext) >> self.tag_shift

    def decode(self, plaintexts: list[int], length: int, weight: int) -> np.ndarray:
        """Unpack plaintexts of total weight ``weight`` and return the weighted mean vector.

        Raises
        ------
        ValueError
            If a slot holds more than the headroom allows, or bits are set beyond the last
            slot: the plaintext was not produced by this layout (or was tampered with).
        """
        weight = self.check_weight(weight)
        if len(plaintexts) != self.num_plaintexts(length):
            raise ValueError(
                f"A vector of length {length} needs {self.num_plaintexts(length)} plaintexts, got "
                f"{len(plaintexts)}."
            )
        bits, mask = self.slot_bits, (1 << self.slot_bits) - 1
        top = 2 * self.offset * weight
        shift, scale = weight * self.offset, weight * 2**self.frac_bits
        out = np.empty(length, dtype=np.float64)
        i = 0
        for packed in plaintexts:
            packed = int(packed)
            if self.tag_of(packed) >> self.tag_slot_bits:
                where = "above the tag slot" if self.tag_bits else "beyond the last slot"
                raise ValueError(
                    f"Bits are set {where} of a plaintext: it does not come from this layout, or "
                    "was modified."
                )
            packed &= (1 << self.tag_shift) - 1
            for _ in range(min(self.slots, length - i)):
                slot = packed & mask
                if slot > top:
                    raise ValueError(
                        f"Slot {i} holds {slot}, above the maximum {top} for weight {weight}: the "
                        "plaintext does not come from this layout, or was modified."
                    )
                out[i] = (slot - shift) / scale
                packed >>= bits
                i += 1
            if packed:
                raise ValueError(
                    "Bits are set beyond the last slot of a plaintext: it does not come from this "
                    "layout, or was modified."
                )
        return out
