r"""The two attacks on packed Paillier aggregation that chapter 3 shows failing.

- :func:`recover_added_plaintext`: a *network observer* (or another party) who saw the
  cloud's broadcast ciphertext :math:`c` and a party's reply :math:`c'` computed by adding a
  plaintext tries :math:`m = (c' c^{-1} \bmod n^2 - 1)/n`. This works, with no key, exactly
  when the reply carries no fresh randomness; :func:`add_plaintext_without_fresh_randomness`
  builds such a reply (what ``EncryptedVector.add_plaintext`` returned up to commit c2e4902)
  so the lab can show the attack both working and failing.
- The *active aggregator* needs no helper: it sends ``6 * v_j`` instead of the sum of six
  vectors. :class:`fl_course.secure.contributors.KeyHolder` refuses it.
"""

from __future__ import annotations

import numpy as np

from fl_course.secure.packed_paillier import EncryptedVector

__all__ = ["add_plaintext_without_fresh_randomness", "recover_added_plaintext"]


def add_plaintext_without_fresh_randomness(
    vector: EncryptedVector, values, weight: int = 1
) -> EncryptedVector:
    r"""The broken reply :math:`c\,(1 + m n) \bmod n^2`: ``add_plaintext`` without new randomness.

    Kept only to demonstrate :func:`recover_added_plaintext`; never send what it returns.
    Works on untagged schemes (``tag_bits=0``), like PriDe's pairwise step.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size != vector.length:
        raise ValueError(
            f"Cannot add a plaintext of length {values.size} to a vector of length {vector.length}."
        )
    scheme = vector.scheme
    n, nsquare = scheme.public_key.n, scheme.public_key.nsquare
    plaintexts = scheme.layout.encode(values, weight)
    ciphertexts = [c * (1 + m * n) % nsquare for c, m in zip(vector.ciphertexts, plaintexts)]
    return EncryptedVector(scheme, ciphertexts, length=vector.length, weight=vector.weight + weight)


def recover_added_plaintext(before: EncryptedVector, after: EncryptedVector) -> np.ndarray:
    r"""Keyless attack: read the plaintext a party added to ``before`` from its reply ``after``.

    Parameters
    ----------
    before : EncryptedVector
        The ciphertext the party received (e.g. the cloud's broadcast model).
    after : EncryptedVector
        The party's reply, ``before.add_plaintext(w_k, weight)``.

    Returns
    -------
    numpy.ndarray
        The party's vector ``w_k`` (the added weight is ``after.weight - before.weight``).

    Raises
    ------
    ValueError
        If some :math:`c' c^{-1} \bmod n^2` is not of the form :math:`1 + m n`: the reply was
        re-randomised, and this attack learns nothing from it.
    """
    if before.scheme.fingerprint != after.scheme.fingerprint or len(before.ciphertexts) != len(
        after.ciphertexts
    ):
        raise ValueError(
            "The two vectors were not made under the same key and layout; nothing to compare."
        )
    n, nsquare = before.scheme.public_key.n, before.scheme.public_key.nsquare
    plaintexts, unlinkable = [], 0
    for c, reply in zip(before.ciphertexts, after.ciphertexts):
        ratio = reply * pow(c, -1, nsquare) % nsquare
        if (ratio - 1) % n:
            unlinkable += 1
        else:
            plaintexts.append((ratio - 1) // n)
    if unlinkable:
        raise ValueError(
            f"{unlinkable} of {len(before.ciphertexts)} reply ciphertexts are not c·(1 + m n): "
            "the reply carries fresh randomness, so it cannot be linked to the broadcast without "
            "the private key."
        )
    return before.scheme.layout.decode(plaintexts, before.length, after.weight - before.weight)
