"""Packed Paillier encryption of float vectors for secure aggregation.

:class:`PackedPaillier` holds a public key and a :class:`~fl_course.secure.fixed_point.SlotLayout`;
:meth:`PackedPaillier.encrypt` turns a float vector into an :class:`EncryptedVector` whose
ciphertexts each carry dozens of fixed-point values. Encrypted vectors add element-wise
(one modular multiplication per ciphertext; Paillier 1999), take integer weights,
travel as JSON, and decrypt to the (weighted) mean.

What stays hidden from whom:

- **Every ciphertext a party sends is fresh.** :meth:`PackedPaillier.encrypt` and
  :meth:`EncryptedVector.add_plaintext` multiply in new randomness :math:`r^n`, so a reply
  cannot be linked to the ciphertext it was computed from (before this, ``add_plaintext``
  returned ``c (1 + m n)`` and anyone holding ``c`` and the reply read ``m`` without a key).
  Sums and integer multiples are deterministic functions of ciphertexts the observer already
  has, so they reveal nothing new and are not re-randomised (call
  :meth:`EncryptedVector.rerandomise` to do so anyway).
- **The key holder learns only the aggregate it agreed to.** With ``tag_bits > 0`` every
  plaintext carries a secret per-party tag; :class:`fl_course.secure.contributors.KeyHolder`
  checks it before releasing a decryption, so an active aggregator that submits ``6 v_j``
  instead of the sum of six parties is refused.

Cost: the random factor is drawn as :math:`h_s^a` with a half-length exponent and a
fixed-base window table (:class:`~fl_course.secure.randomness.NthResidueSampler`, where the
security argument is), about ten times cheaper than phe's :math:`r^n`; encryption,
re-randomisation and decryption run on a process pool over all cores. Decryption is
python-paillier's ``raw_decrypt`` (``phe``, gmpy2, CRT). Randomness comes from the operating
system and deliberately takes no seed; decrypted numbers do not depend on it.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from phe import paillier
from phe.util import powmod

from fl_course.checks import check_int
from fl_course.secure.fixed_point import SlotLayout
from fl_course.secure.randomness import NthResidueSampler

__all__ = [
    "DEFAULT_KEY_BITS",
    "MIN_KEY_BITS",
    "EncryptedVector",
    "PackedPaillier",
    "available_cores",
    "fingerprint",
    "generate_keypair",
]

#: Default modulus size: about 112-bit security (NIST SP 800-57 Part 1, Table 2).
DEFAULT_KEY_BITS = 2048
#: Smallest modulus accepted without ``allow_small_keys=True``; 3072 bits gives 128-bit security.
MIN_KEY_BITS = 2048
_VECTOR_FORMAT = "fl_course.secure.EncryptedVector"
_SCHEME_FORMAT = "fl_course.secure.PackedPaillier"
_VERSION = 2


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _check_key_bits(bits: int, allow_small_keys: bool) -> None:
    if bits < MIN_KEY_BITS and not allow_small_keys:
        raise ValueError(
            f"A {bits}-bit Paillier key is too weak for real use (moduli below {MIN_KEY_BITS} "
            "bits can be factored with enough effort). Use 2048 or 3072 bits, or pass "
            "allow_small_keys=True if this is a teaching example."
        )


def generate_keypair(key_bits: int = DEFAULT_KEY_BITS, *, allow_small_keys: bool = False):
    """Generate a Paillier key pair with python-paillier.

    Parameters
    ----------
    key_bits : int, default 2048
        Bits of the modulus ``n``; 2048 (~112-bit security) or 3072 (~128-bit).
    allow_small_keys : bool, default False
        Accept keys below 2048 bits, which are insecure; for fast teaching examples only.

    Returns
    -------
    public_key : phe.paillier.PaillierPublicKey
    private_key : phe.paillier.PaillierPrivateKey

    Notes
    -----
    Primes come from the operating system's random source; key generation takes no seed.

    Examples
    --------
    >>> public_key, private_key = generate_keypair(512, allow_small_keys=True)
    >>> public_key.n.bit_length()
    512
    """
    if isinstance(key_bits, bool) or not isinstance(key_bits, (int, np.integer)):
        raise TypeError(f"key_bits must be an int such as 2048, got {type(key_bits).__name__}.")
    if key_bits < 128 or key_bits % 2:
        raise ValueError(
            f"key_bits must be an even number of at least 128, got {key_bits}; use 2048 or 3072."
        )
    _check_key_bits(int(key_bits), allow_small_keys)
    return paillier.generate_paillier_keypair(n_length=int(key_bits))


def fingerprint(public_key) -> str:
    """SHA-256 fingerprint of a Paillier public key's modulus, as ``"sha256:<hex>"``."""
    n = public_key.n if hasattr(public_key, "n") else int(public_key)
    return "sha256:" + hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()


def _digest(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _sealed_json(body: dict) -> str:
    return json.dumps({**body, "digest": _digest(body)}, separators=(",", ":"))


def _open_json(text: str, expected_format: str) -> dict:
    try:
        payload = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"The payload is not valid JSON ({error}); pass the text written by to_json()."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise ValueError(
            f"The payload is not a {expected_format} document; pass the text written by to_json()."
        )
    if payload.get("version") != _VERSION:
        raise ValueError(
            f"Unsupported {expected_format} version {payload.get('version')!r}; expected "
            f"{_VERSION}."
        )
    digest = payload.pop("digest", None)
    if digest != _digest(payload):
        raise ValueError(
            "The payload's digest does not match its content: it was modified or corrupted in "
            "transit."
        )
    key = payload.get("public_key")
    if not isinstance(key, dict) or not isinstance(key.get("n"), str):
        raise ValueError("The payload lacks its public key; pass the text written by to_json().")
    try:
        key["n"] = int(key["n"], 16)
    except ValueError:
        raise ValueError("The payload's public key is not a hexadecimal integer.") from None
    if fingerprint(key["n"]) != key.get("fingerprint"):
        raise ValueError(
            "The payload's public key does not match its fingerprint: it was tampered with."
        )
    return payload


#: The sampler of the scheme that started the pool; forked workers inherit its table.
_POOL_SAMPLER: NthResidueSampler | None = None


def _init_worker(n: int) -> None:
    """Pool initializer: keep the inherited sampler (fork) or build one (spawn, e.g. macOS)."""
    global _POOL_SAMPLER
    if _POOL_SAMPLER is None or int(_POOL_SAMPLER.n) != n:
        _POOL_SAMPLER = NthResidueSampler(n).prepare()


def _fresh_chunk(kind: str, numbers: list[int]) -> list[int]:
    """Worker: encrypt plaintexts (``kind="encrypt"``) or re-randomise ciphertexts."""
    step = _POOL_SAMPLER.encrypt if kind == "encrypt" else _POOL_SAMPLER.rerandomise
    return [step(x) for x in numbers]


def _decrypt_chunk(private_key, ciphertexts: list[int]) -> list[int]:
    """Worker: phe's CRT decryption of raw ciphertexts."""
    return [private_key.raw_decrypt(c) for c in ciphertexts]


def _pool_context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _chunks(items: list, pieces: int) -> list[list]:
    bounds = np.linspace(0, len(items), pieces + 1).astype(int)
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


class PackedPaillier:
    """Packed Paillier scheme: a public key, a slot layout and a process pool size.

    Every party builds the same scheme from the key holder's :meth:`to_json` text, encrypts
    its vector with :meth:`encrypt`, and sends the :class:`EncryptedVector` (as JSON). An
    aggregator adds the vectors without any key; only the key holder decrypts, and only the
    aggregate: with ``tag_bits > 0`` through
    :meth:`fl_course.secure.contributors.KeyHolder.decrypt_aggregate`, which refuses anything
    but each agreed party's vector once, with its agreed weight.

    Parameters
    ----------
    public_key : phe.paillier.PaillierPublicKey
        The key holder's public key.
    frac_bits, max_abs, max_weight
        Fixed-point precision, encodable range and headroom; see
        :class:`~fl_course.secure.fixed_point.SlotLayout`. ``max_weight`` must be at least
        the number of parties (or the sum of their integer weights). Size it to what the
        aggregation needs: a plain mean of six parties needs 6 (3 bits per slot), not a
        sample count (see :func:`fl_course.pride.smallest_integer_weights` for FedAvg).
    tag_bits : int, default 0
        Bits of the secret contributor tag in every plaintext; 64 binds aggregates to their
        contributors (:class:`~fl_course.secure.contributors.KeyHolder`), 0 leaves it out.
    workers : int, optional
        Processes used to encrypt, re-randomise and decrypt; default all available cores.
        ``1`` works in-process.
    allow_small_keys : bool, default False
        Accept a modulus below 2048 bits (insecure; teaching and fast tests only).

    Examples
    --------
    >>> public_key, private_key = generate_keypair(512, allow_small_keys=True)
    >>> scheme = PackedPaillier(public_key, max_weight=3, allow_small_keys=True, workers=1)
    >>> parties = [[0.5, -1.0], [1.5, 2.0], [1.0, 2.0]]
    >>> total = sum(scheme.encrypt(values) for values in parties)
    >>> total.decrypt(private_key).round(6).tolist()
    [1.0, 1.0]
    """

    def __init__(
        self,
        public_key,
        *,
        frac_bits: int = 24,
        max_abs: float = 32.0,
        max_weight: int = 8,
        tag_bits: int = 0,
        workers: int | None = None,
        allow_small_keys: bool = False,
    ) -> None:
        if not isinstance(public_key, paillier.PaillierPublicKey):
            raise TypeError(
                f"public_key must be a phe PaillierPublicKey, got {type(public_key).__name__}; "
                "create one with generate_keypair()."
            )
        _check_key_bits(public_key.n.bit_length(), allow_small_keys)
        if workers is not None:
            check_int("workers", workers, example=2)  # None: all cores
        self.public_key = public_key
        self.layout = SlotLayout(
            public_key.n.bit_length() - 1,
            frac_bits=frac_bits,
            max_abs=max_abs,
            max_weight=max_weight,
            tag_bits=tag_bits,
        )
        self.randomness = NthResidueSampler(public_key.n)
        self.workers = workers or available_cores()
        self.allow_small_keys = allow_small_keys
        self.fingerprint = fingerprint(public_key)

    @property
    def key_bits(self) -> int:
        """Bits of the modulus ``n``."""
        return self.public_key.n.bit_length()

    def __repr__(self) -> str:
        layout = self.layout
        return (
            f"PackedPaillier(key_bits={self.key_bits}, slots={layout.slots}, "
            f"slot_bits={layout.slot_bits}, frac_bits={layout.frac_bits}, "
            f"max_abs={layout.max_abs}, max_weight={layout.max_weight}, "
            f"tag_bits={layout.tag_bits}, workers={self.workers})"
        )

    def _parallel(self, function, first, numbers: list[int]) -> list[int]:
        """``function(first, chunk)`` over chunks of ``numbers``, on the pool when it pays off."""
        global _POOL_SAMPLER
        _POOL_SAMPLER = (
            self.randomness.prepare()
        )  # used in-process, and inherited by forked workers
        if self.workers == 1 or len(numbers) < 4 * self.workers:
            return function(first, numbers)
        chunks = _chunks(numbers, self.workers)
        with ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=_pool_context(),
            initializer=_init_worker,
            initargs=(int(self.public_key.n),),
        ) as pool:
            return [x for chunk in pool.map(function, [first] * len(chunks), chunks) for x in chunk]

    def _fresh(self, kind: str, numbers: list[int]) -> list[int]:
        """Encrypt plaintexts or re-randomise ciphertexts, each with new randomness."""
        return self._parallel(_fresh_chunk, kind, numbers)

    def _tags(self, tag_key, round_id, count: int) -> list[int] | None:
        if not self.layout.tag_bits:
            if tag_key is not None:
                raise ValueError(
                    "This scheme has no tag slot (tag_bits=0); build it with tag_bits=64 to use "
                    "tag keys."
                )
            return None
        if tag_key is None or round_id is None:
            raise ValueError(
                "This scheme binds every contribution to its sender (tag_bits > 0): pass tag_key= "
                "(the key holder's KeyHolder.register(party) gave it to you) and round_id=."
            )
        return tag_key.tags(round_id, count, self.layout.tag_bits)

    def encrypt(self, values, weight: int = 1, *, tag_key=None, round_id=None) -> EncryptedVector:
        """Encrypt a float vector, optionally multiplied by an integer weight.

        Parameters
        ----------
        values : array_like of float
            Any shape; flattened in C order. Every value must satisfy ``|x| <= max_abs``.
        weight : int, default 1
            Integer weight (e.g. a sample count for FedAvg's n_k/n weighting); the decrypted
            aggregate is the weighted mean.
        tag_key : fl_course.secure.contributors.TagKey, optional
            The sender's secret tag key; required when the scheme has ``tag_bits > 0``.
        round_id : str or int, optional
            The aggregation round the key holder announced; required with ``tag_key``.

        Returns
        -------
        EncryptedVector
            Fresh ciphertexts (new randomness for every one).
        """
        values = np.asarray(values, dtype=np.float64).ravel()
        tags = self._tags(tag_key, round_id, self.layout.num_plaintexts(values.size))
        plaintexts = self.layout.encode(values, weight, tags)
        return EncryptedVector(
            self, self._fresh("encrypt", plaintexts), length=values.size, weight=weight
        )

    def decrypt_raw(self, private_key, ciphertexts: list[int]) -> list[int]:
        """Decrypt ciphertexts to their packed plaintext integers (phe's CRT decryption, pooled)."""
        if not isinstance(private_key, paillier.PaillierPrivateKey):
            raise TypeError(
                f"private_key must be a phe PaillierPrivateKey, got {type(private_key).__name__}."
            )
        if private_key.public_key.n != self.public_key.n:
            raise ValueError(
                "This private key does not belong to the public key the vector was encrypted under."
            )
        return self._parallel(_decrypt_chunk, private_key, list(ciphertexts))

    # ------------------------------------------------------------------ serialisation
    def to_json(self) -> str:
        """The public part of the scheme (key and layout) as JSON; never the private key."""
        body = {
            "format": _SCHEME_FORMAT,
            "version": _VERSION,
            "public_key": {"n": format(self.public_key.n, "x"), "fingerprint": self.fingerprint},
            "layout": self.layout.to_dict(),
        }
        return _sealed_json(body)

    @classmethod
    def from_json(
        cls, text: str, *, workers: int | None = None, allow_small_keys: bool = False
    ) -> PackedPaillier:
        """Rebuild a scheme from :meth:`to_json` text (checking digest and fingerprint)."""
        payload = _open_json(text, _SCHEME_FORMAT)
        layout = payload.get("layout") or {}
        try:
            public_key = paillier.PaillierPublicKey(payload["public_key"]["n"])
            scheme = cls(
                public_key,
                frac_bits=layout["frac_bits"],
                max_abs=layout["max_abs"],
                max_weight=layout["max_weight"],
                tag_bits=layout["tag_bits"],
                workers=workers,
                allow_small_keys=allow_small_keys,
            )
        except KeyError as error:
            raise ValueError(
                f"The scheme payload lacks {error}; pass the text written by to_json()."
            ) from None
        if scheme.layout.to_dict() != layout:
            raise ValueError(
                "The scheme payload's layout is inconsistent with its key; it was modified."
            )
        return scheme

    def vector_from_json(self, text: str) -> EncryptedVector:
        """Load an :class:`EncryptedVector` sent as JSON, refusing anything not made for this one.

        Raises
        ------
        ValueError
            If the JSON is malformed or its digest does not match (modified in transit), if
            its public key differs from this scheme's (a foreign key), if its layout differs,
            or if a ciphertext is not a valid Paillier ciphertext for this key.

        Notes
        -----
        The digest detects corruption and careless edits, not a malicious sender who
        recomputes it: authenticating parties needs signatures, which are out of scope here.
        """
        payload = _open_json(text, _VECTOR_FORMAT)
        if payload["public_key"]["fingerprint"] != self.fingerprint:
            raise ValueError(
                "This encrypted vector was made under a different public key "
                f"({payload['public_key']['fingerprint'][:19]}…, expected "
                f"{self.fingerprint[:19]}…); ask the sender to encrypt with the key holder's "
                "current public key."
            )
        if payload.get("layout") != self.layout.to_dict():
            raise ValueError(
                f"The vector's slot layout {payload.get('layout')} differs from this scheme's "
                f"{self.layout.to_dict()}; all parties must build the scheme from the same "
                "to_json() text."
            )
        length, weight, hexes = (
            payload.get("length"),
            payload.get("weight"),
            payload.get("ciphertexts"),
        )
        check_int("length", length, minimum=0)
        self.layout.check_weight(weight)
        if not isinstance(hexes, list) or len(hexes) != self.layout.num_plaintexts(length):
            raise ValueError(
                f"A vector of length {length} needs {self.layout.num_plaintexts(length)} "
                "ciphertexts; the payload has a different number."
            )
        n, nsquare = self.public_key.n, self.public_key.nsquare
        ciphertexts = []
        for i, h in enumerate(hexes):
            try:
                c = int(h, 16)
            except (TypeError, ValueError):
                raise ValueError(f"Ciphertext {i} is not a hexadecimal integer.") from None
            if not 0 < c < nsquare or math.gcd(c, n) != 1:
                raise ValueError(f"Ciphertext {i} is not a valid ciphertext for this public key.")
            ciphertexts.append(c)
        return EncryptedVector(self, ciphertexts, length=length, weight=weight)


class EncryptedVector:
    """A float vector encrypted with :class:`PackedPaillier`: ciphertexts, length and total weight.

    Supports ``a + b`` (element-wise sum; weights add), ``k * a`` for a positive int ``k``
    (weights multiply), :meth:`add_plaintext` (fresh randomness), :meth:`rerandomise`,
    ``sum(vectors)``, JSON round trips and :meth:`decrypt` to the weighted mean. Every
    operation checks the headroom first and raises ``ValueError`` instead of letting a slot
    overflow into its neighbour.
    """

    def __init__(
        self, scheme: PackedPaillier, ciphertexts: list[int], *, length: int, weight: int
    ) -> None:
        self.scheme = scheme
        self.ciphertexts = [int(c) for c in ciphertexts]
        self.length = int(length)
        self.weight = scheme.layout.check_weight(weight)

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (
            f"EncryptedVector(length={self.length}, weight={self.weight}, "
            f"ciphertexts={len(self.ciphertexts)}, key={self.scheme.fingerprint[:15]}…)"
        )

    def _check_compatible(self, other: EncryptedVector) -> None:
        if not isinstance(other, EncryptedVector):
            raise TypeError(
                f"Can only add an EncryptedVector, got {type(other).__name__}; use "
                "add_plaintext() for floats."
            )
        if other.scheme.fingerprint != self.scheme.fingerprint:
            raise ValueError(
                "These vectors were encrypted under different public keys and cannot be added."
            )
        if other.scheme.layout != self.scheme.layout:
            raise ValueError(
                "These vectors use different slot layouts; build every party's scheme from one "
                "to_json()."
            )
        if other.length != self.length:
            raise ValueError(
                f"Cannot add vectors of lengths {self.length} and {other.length}; they must match."
            )

    def _headroom(self, weight: int, what: str) -> int:
        if weight > self.scheme.layout.max_weight:
            raise ValueError(
                f"{what} would give total weight {weight}, but the slots only have headroom for "
                f"{self.scheme.layout.max_weight}; a larger sum would silently carry into the "
                f"next slot. Build the scheme with max_weight >= {weight}."
            )
        return weight

    def __add__(self, other: EncryptedVector) -> EncryptedVector:
        self._check_compatible(other)
        weight = self._headroom(self.weight + other.weight, "Adding these vectors")
        nsquare = self.scheme.public_key.nsquare
        ciphertexts = [a * b % nsquare for a, b in zip(self.ciphertexts, other.ciphertexts)]
        return EncryptedVector(self.scheme, ciphertexts, length=self.length, weight=weight)

    def __radd__(self, other):
        if isinstance(other, int) and other == 0:  # lets sum(vectors) start from 0
            return self
        return self.__add__(other)

    def __mul__(self, k: int) -> EncryptedVector:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise TypeError(
                f"An EncryptedVector can only be multiplied by a positive int, got {k!r}."
            )
        weight = self._headroom(self.weight * int(k), f"Multiplying by {k}")
        nsquare = self.scheme.public_key.nsquare
        ciphertexts = [powmod(c, int(k), nsquare) for c in self.ciphertexts]
        return EncryptedVector(self.scheme, ciphertexts, length=self.length, weight=weight)

    __rmul__ = __mul__

    def add_plaintext(
        self, values, weight: int = 1, *, tag_key=None, round_id=None
    ) -> EncryptedVector:
        r"""Add a vector the caller holds in the clear, with an integer weight, fresh randomness.

        This is the PriDe party's step, which adds its own model to the cloud's encrypted one.
        The result is re-randomised, :math:`c\,(1 + m n)\,h_s^a`: without the new factor,
        anyone who saw ``self`` (the cloud's broadcast) and the reply would compute
        :math:`m = (c' c^{-1} \bmod n^2 - 1)/n` with no key at all
        (:func:`fl_course.secure.attacks.recover_added_plaintext`). Costs one sample of
        randomness per ciphertext. ``tag_key`` and ``round_id`` as in
        :meth:`PackedPaillier.encrypt` when the scheme is tagged.
        """
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size != self.length:
            raise ValueError(
                f"Cannot add a plaintext of length {values.size} to a vector of length "
                f"{self.length}."
            )
        total = self._headroom(
            self.weight + self.scheme.layout.check_weight(weight), "Adding this plaintext"
        )
        tags = self.scheme._tags(tag_key, round_id, len(self.ciphertexts))
        sums = self.scheme._fresh("encrypt", self.scheme.layout.encode(values, weight, tags))
        nsquare = self.scheme.public_key.nsquare
        ciphertexts = [a * b % nsquare for a, b in zip(self.ciphertexts, sums)]
        return EncryptedVector(self.scheme, ciphertexts, length=self.length, weight=total)

    def rerandomise(self) -> EncryptedVector:
        """The same plaintexts, fresh randomness: unlinkable to ``self`` without the private key."""
        ciphertexts = self.scheme._fresh("rerandomise", self.ciphertexts)
        return EncryptedVector(self.scheme, ciphertexts, length=self.length, weight=self.weight)

    def decrypt(self, private_key) -> np.ndarray:
        """Decrypt and unpack: the weighted mean of everything summed into this vector.

        For ``sum`` of ``k`` vectors encrypted with weight 1 this is their mean; with integer
        weights ``w_i`` it is ``sum(w_i x_i) / sum(w_i)``. Multiply by :attr:`weight` for the sum.

        This trusts whoever assembled the vector: an active aggregator can hand over
        ``k * v_j`` (weight ``k``) and this returns party ``j``'s vector. A tagged scheme
        therefore refuses it; decrypt with
        :meth:`fl_course.secure.contributors.KeyHolder.decrypt_aggregate`, which checks who
        contributed first.
        """
        if self.scheme.layout.tag_bits:
            raise ValueError(
                "This vector's scheme binds aggregates to their contributors (tag_bits > 0): "
                "decrypt it with KeyHolder.decrypt_aggregate(vector, round_id=..., weights=...), "
                "which checks the tags first."
            )
        plaintexts = self.scheme.decrypt_raw(private_key, self.ciphertexts)
        return self.scheme.layout.decode(plaintexts, self.length, self.weight)

    def to_json(self) -> str:
        """Serialise to JSON: key fingerprint, layout, length, weight, hex ciphertexts, a digest."""
        body = {
            "format": _VECTOR_FORMAT,
            "version": _VERSION,
            "public_key": {
                "n": format(self.scheme.public_key.n, "x"),
                "fingerprint": self.scheme.fingerprint,
            },
            "layout": self.scheme.layout.to_dict(),
            "length": self.length,
            "weight": self.weight,
            "ciphertexts": [format(c, "x") for c in self.ciphertexts],
        }
        return _sealed_json(body)
