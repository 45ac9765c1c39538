r"""Paillier encryption randomness :math:`r^n \bmod n^2`, made cheap without changing its security.

Almost all of a Paillier encryption's cost is the random factor :math:`r^n \bmod n^2`: one
exponentiation with a :math:`k`-bit exponent (:math:`k` = bits of :math:`n`) modulo a
:math:`2k`-bit number, about 8 ms for :math:`k = 2048` with gmpy2. :class:`NthResidueSampler`
replaces it with two standard, published steps:

1. **Short exponent of a fixed n-th residue** (Damgård, Jurik and Nielsen 2010, the variant
   implemented in SecretFlow HEU and Intel's Paillier library): pick once a random
   :math:`x`, set :math:`h = -x^2 \bmod n` and :math:`h_s = h^n \bmod n^2`; every encryption
   then uses :math:`h_s^{a} = (h^{a})^n`, an n-th residue, with a fresh uniformly random
   exponent :math:`a` of :math:`\lceil k/2 \rceil` bits. Security: ciphertexts stay
   semantically secure under the decisional composite residuosity assumption (DCRA) that
   Paillier's scheme already rests on, together with the assumption, standard since DJN, that
   an exponent of half the modulus length is indistinguishable from a full-length one (for
   composite moduli, Håstad, Schrift and Shamir 1993 tie the hardness of such short exponents
   to factoring). Decryption is unchanged: any n-th residue vanishes under :math:`\lambda`.
   Here :math:`h` is drawn by each party and never published, so an observer knows less than
   in DJN's setting, where :math:`h_s` is part of the public key.
2. **Fixed-base windowing** (Brickell, Gordon, McCurley and Wilson 1992; Menezes et al.,
   *Handbook of Applied Cryptography*, §14.6.3): because the base :math:`h_s` never changes,
   the powers :math:`h_s^{d \cdot 2^{wi}}` for every window :math:`i` and digit
   :math:`d < 2^w` are tabulated once, and :math:`h_s^a` becomes one multiplication per
   :math:`w`-bit window of :math:`a`. This computes exactly the same number, so it changes
   nothing about security.

Randomness comes from :mod:`secrets` (the operating system), never from a seed: a seeded
exponent would make ciphertexts guessable. Python big-integer arithmetic is not constant
time; like ``phe``, this is not hardened against timing side channels.
"""

from __future__ import annotations

import secrets

import gmpy2

__all__ = ["NthResidueSampler"]


class NthResidueSampler:
    r"""Fresh Paillier randomness :math:`h_s^a \bmod n^2` from a short exponent and a window table.

    Parameters
    ----------
    n : int
        The Paillier modulus (public key ``n``).
    window : int, default 8
        Bits per window of the fixed-base table: ``ceil(k/2 / window)`` multiplications
        per sample, a table of ``ceil(k/2 / window) * 2**window`` numbers (16 MB for
        ``k = 2048`` and ``window = 8``, built in a fraction of a second).

    Examples
    --------
    >>> from phe import paillier
    >>> public_key, private_key = paillier.generate_paillier_keypair(n_length=512)
    >>> sampler = NthResidueSampler(public_key.n)
    >>> c = (1 + 42 * public_key.n) * sampler.sample() % public_key.nsquare
    >>> private_key.raw_decrypt(c)
    42
    """

    def __init__(self, n: int, *, window: int = 8) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 12:
            raise ValueError(
                f"window must be an int from 1 to 12, got {window!r}; 8 suits 2048-bit keys."
            )
        self.n = gmpy2.mpz(n)
        self.nsquare = self.n * self.n
        self.exponent_bits = -(-self.n.bit_length() // 2)
        self.window = window
        self._table: list[list] | None = None

    def _build(self) -> list[list]:
        n, nsquare = self.n, self.nsquare
        x = gmpy2.mpz(0)
        while x == 0 or gmpy2.gcd(x, n) != 1:
            x = gmpy2.mpz(secrets.randbelow(int(n)))
        base = gmpy2.powmod(-x * x % n, n, nsquare)  # h_s = h^n with h = -x^2 mod n
        table = []
        for _ in range(-(-self.exponent_bits // self.window)):
            row = [gmpy2.mpz(1)]
            for _ in range((1 << self.window) - 1):
                row.append(row[-1] * base % nsquare)
            table.append(row)
            base = row[-1] * base % nsquare  # base^(2^w)
        return table

    def prepare(self) -> NthResidueSampler:
        """Build the window table now (it is otherwise built on the first :meth:`sample`)."""
        if self._table is None:
            self._table = self._build()
        return self

    def sample(self) -> int:
        """One fresh n-th residue :math:`h_s^a \bmod n^2` with a new secret exponent ``a``."""
        table = self.prepare()._table
        exponent, mask, nsquare = (
            secrets.randbits(self.exponent_bits),
            (1 << self.window) - 1,
            self.nsquare,
        )
        result, i = gmpy2.mpz(1), 0
        while exponent:
            digit = exponent & mask
            if digit:
                result = result * table[i][digit] % nsquare
            exponent >>= self.window
            i += 1
        return int(result)

    def encrypt(self, plaintext: int) -> int:
        r"""Paillier encryption :math:`(1 + m n)\, h_s^a \bmod n^2` of an integer ``0 <= m < n``."""
        return int((1 + gmpy2.mpz(plaintext) * self.n) * self.sample() % self.nsquare)

    def rerandomise(self, ciphertext: int) -> int:
        """The same plaintext under fresh randomness: ``c * h_s^a mod n^2``."""
        return int(gmpy2.mpz(ciphertext) * self.sample() % self.nsquare)
