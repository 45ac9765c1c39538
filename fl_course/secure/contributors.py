r"""Binding a decryption to who contributed: secret per-party tags checked by the key holder.

Separating the aggregator from the key holder (chapter 3) protects each party only while the
aggregator follows the protocol. An *active* aggregator holds every party's ciphertexts and
the public key, so it can send the key holder ``6 * v_j`` (weight 6) instead of the sum of six
parties and have party ``j``'s vector decrypted as "the mean". The key holder cannot see the
difference in the ciphertexts, and the weight metadata is whatever the aggregator writes.

The countermeasure here is a one-time message-authentication tag inside the plaintext. When
a party registers, the key holder gives it a secret key :math:`K_j` over a private channel
(:meth:`KeyHolder.register`). For round :math:`r` the party's :math:`i`-th plaintext carries,
in a tag slot above its values, :math:`t_{j,i} = \mathrm{HMAC\text{-}SHA256}(K_j, r \| i)`
truncated to 64 bits (:class:`TagKey`). Weights multiply the whole plaintext, tag included,
so an aggregate with weights :math:`w_j` holds :math:`\sum_j w_j t_{j,i}` in slot :math:`i`.
Before releasing anything, :meth:`KeyHolder.decrypt_aggregate` checks, for every ciphertext,
that this is exactly :math:`\sum_{j \in S} w_j t_{j,i}` for the contributor set :math:`S` and
weights it agreed to (at least ``min_contributors`` parties), and refuses otherwise.

Why the attack fails: what the aggregator can compute from ciphertexts and the public key is
:math:`\sum_j a_j P_{j,i} + \Delta` for integers :math:`a_j` and a plaintext :math:`\Delta`
of its choice. Its tag slot is :math:`\sum_j a_j t_{j,i}` plus terms the aggregator knows;
matching :math:`\sum_j w_j t_{j,i}` with some :math:`a_j \ne w_j` means guessing
:math:`(a_j - w_j)\, t_{j,i}` for a 64-bit secret it has never seen (Paillier hides the
plaintext, HMAC makes the tags of other rounds and indices useless), so one attempt succeeds
with probability about :math:`2^{-64}`, and a failed one is detected. With every
:math:`a_j = w_j` the decryption is the agreed aggregate plus the aggregator's own
:math:`\Delta`: it can corrupt the result (integrity needs more, e.g. signatures or
zero-knowledge proofs), but it learns nothing beyond the aggregate. Parties colluding with
the aggregator can always subtract their own vectors; ``min_contributors`` and the agreed set
limit what that leaves.

This is our construction for the course, in the spirit of the authenticated contributions of
secure-aggregation protocols (Bonawitz et al. 2017 sign messages for the active-adversary
version); it is not a standard with a security proof of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["AggregateRejected", "KeyHolder", "TagKey"]


class AggregateRejected(ValueError):
    """The key holder refused to decrypt: the vector is not the aggregate it agreed to."""


@dataclass(frozen=True)
class TagKey:
    """A party's secret for tagging its contributions; shared with the key holder only.

    Parameters
    ----------
    party : str
        The party's name, as the key holder registered it.
    secret : bytes
        32 random bytes from :meth:`KeyHolder.register`. Never sent to the aggregator.
    """

    party: str
    secret: bytes = field(repr=False)

    def tags(self, round_id, count: int, bits: int) -> list[int]:
        """Tags of the first ``count`` plaintexts of round ``round_id``, each below ``2**bits``.

        ``bits`` is at most 256.
        """
        if not 1 <= bits <= 256:
            raise ValueError(f"Tags come from SHA-256, so bits must be 1 to 256, got {bits}.")
        prefix = f"{round_id}/".encode()
        return [
            int.from_bytes(
                hmac.new(self.secret, prefix + str(i).encode(), hashlib.sha256).digest(), "big"
            )
            >> (256 - bits)
            for i in range(count)
        ]


class KeyHolder:
    """The private key, released only for aggregates whose contributors and weights check out.

    Parameters
    ----------
    scheme : fl_course.secure.PackedPaillier
        A scheme with ``tag_bits > 0`` (e.g. 64).
    private_key : phe.paillier.PaillierPrivateKey
        The key matching ``scheme.public_key``.
    min_contributors : int, default 2
        Smallest contributor set the key holder will decrypt. With two, each party learns
        the other's vector from the mean; production systems ask for many more.

    Examples
    --------
    >>> from fl_course.secure import PackedPaillier, generate_keypair
    >>> public_key, private_key = generate_keypair(512, allow_small_keys=True)
    >>> scheme = PackedPaillier(
    ...     public_key, max_weight=3, tag_bits=64, allow_small_keys=True, workers=1
    ... )
    >>> holder = KeyHolder(scheme, private_key)
    >>> keys = {p: holder.register(p) for p in ("a", "b", "c")}
    >>> total = sum(
    ...     scheme.encrypt([float(i)], tag_key=keys[p], round_id=1) for i, p in enumerate(keys)
    ... )
    >>> agreed = {"a": 1, "b": 1, "c": 1}
    >>> holder.decrypt_aggregate(total, round_id=1, weights=agreed).round(6).tolist()
    [1.0]
    >>> attack = 3 * scheme.encrypt([5.0], tag_key=keys["a"], round_id=1)  # weight 3, as 3 parties
    >>> holder.decrypt_aggregate(attack, round_id=1, weights=agreed)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fl_course.secure.contributors.AggregateRejected: Ciphertext 0 of 1 does not carry the tags ...
    """

    def __init__(self, scheme, private_key, *, min_contributors: int = 2) -> None:
        if not scheme.layout.tag_bits:
            raise ValueError(
                "The KeyHolder needs a tagged scheme: build it with PackedPaillier(..., "
                "tag_bits=64)."
            )
        if private_key.public_key.n != scheme.public_key.n:
            raise ValueError("This private key does not belong to the scheme's public key.")
        if (
            isinstance(min_contributors, bool)
            or not isinstance(min_contributors, int)
            or min_contributors < 1
        ):
            raise ValueError(f"min_contributors must be a positive int, got {min_contributors!r}.")
        self.scheme = scheme
        self._private_key = private_key
        self.min_contributors = min_contributors
        self._keys: dict[str, TagKey] = {}

    def register(self, party: str) -> TagKey:
        """Create a new party's secret tag key; send it to that party over a private channel."""
        if not isinstance(party, str) or not party:
            raise ValueError(f"A party needs a non-empty name, got {party!r}.")
        if party in self._keys:
            raise ValueError(f"Party {party!r} is already registered; each party gets one tag key.")
        self._keys[party] = TagKey(party, secrets.token_bytes(32))
        return self._keys[party]

    def _check_agreement(self, weights: Mapping[str, int]) -> dict[str, int]:
        if not isinstance(weights, Mapping) or not weights:
            raise AggregateRejected(
                "Name the agreed contributors and their integer weights, e.g. {'party 1': 1, ...}."
            )
        unknown = sorted(set(weights) - set(self._keys))
        if unknown:
            raise AggregateRejected(
                f"Parties {unknown} are not registered with this key holder; refusing."
            )
        if len(weights) < self.min_contributors:
            raise AggregateRejected(
                f"Only {len(weights)} contributor(s) agreed; this key holder decrypts aggregates "
                f"of at least {self.min_contributors} parties. Nothing was released."
            )
        for party, weight in weights.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, np.integer)) or weight < 1:
                raise AggregateRejected(
                    f"The weight of {party!r} must be a positive int, got {weight!r}."
                )
        return {party: int(weight) for party, weight in weights.items()}

    def decrypt_aggregate(self, vector, *, round_id, weights: Mapping[str, int]) -> np.ndarray:
        """Decrypt ``vector`` only if it is the agreed parties' aggregate for this round.

        Parameters
        ----------
        vector : fl_course.secure.EncryptedVector
            What the aggregator sent.
        round_id : str or int
            The round the parties tagged their contributions with.
        weights : mapping of str to int
            The agreed contributors and their integer weights (all 1 for a plain mean).

        Returns
        -------
        numpy.ndarray
            The weighted mean ``sum(w_j x_j) / sum(w_j)``.

        Raises
        ------
        AggregateRejected
            If fewer than ``min_contributors`` parties, an unregistered party, a total weight
            other than ``sum(weights)``, or any ciphertext whose tag slot is not
            ``sum(w_j t_j)``. All tags are checked before any value is decoded.
        """
        weights = self._check_agreement(weights)
        if (
            vector.scheme.fingerprint != self.scheme.fingerprint
            or vector.scheme.layout != self.scheme.layout
        ):
            raise AggregateRejected(
                "The vector was not made with this key holder's scheme (key or layout differs)."
            )
        total = sum(weights.values())
        if vector.weight != total:
            raise AggregateRejected(
                f"The vector claims total weight {vector.weight}, but the agreed weights sum to "
                f"{total}. Nothing was released."
            )
        count, bits = len(vector.ciphertexts), self.scheme.layout.tag_bits
        expected = [0] * count
        for party, weight in weights.items():
            for i, tag in enumerate(self._keys[party].tags(round_id, count, bits)):
                expected[i] += weight * tag
        plaintexts = self.scheme.decrypt_raw(self._private_key, vector.ciphertexts)
        for i, (plaintext, tag) in enumerate(zip(plaintexts, expected)):
            if self.scheme.layout.tag_of(plaintext) != tag:
                raise AggregateRejected(
                    f"Ciphertext {i} of {count} does not carry the tags of exactly the agreed "
                    f"contributors {sorted(weights)} with weights "
                    f"{[weights[p] for p in sorted(weights)]} for round {round_id}: it is not "
                    "their aggregate (an aggregator may have scaled, repeated, dropped or forged "
                    "a contribution). Nothing was released."
                )
        return self.scheme.layout.decode(plaintexts, vector.length, total)
