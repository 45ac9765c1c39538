"""What packed Paillier hides, from whom.

Fresh ciphertexts, the keyless link attack, the active aggregator.
"""

import gmpy2
import numpy as np
import pytest
from phe import paillier

from fl_course.secure import (
    AggregateRejected,
    KeyHolder,
    NthResidueSampler,
    PackedPaillier,
    generate_keypair,
)
from fl_course.secure.attacks import add_plaintext_without_fresh_randomness, recover_added_plaintext

PARTIES = [f"party {k}" for k in range(6)]


@pytest.fixture(scope="module")
def keys():
    return generate_keypair(2048)


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(0)
    return [rng.normal(0, 1, 200) for _ in PARTIES]


@pytest.fixture(scope="module")
def tagged(keys):
    scheme = PackedPaillier(keys[0], max_weight=6, tag_bits=64, workers=1)
    holder = KeyHolder(scheme, keys[1], min_contributors=3)
    return scheme, holder, {p: holder.register(p) for p in PARTIES}


def test_encryption_and_add_plaintext_are_fresh(keys, vectors):
    scheme = PackedPaillier(keys[0], max_weight=6, workers=1)
    broadcast = scheme.encrypt(vectors[0])
    first, second = broadcast.add_plaintext(vectors[1]), broadcast.add_plaintext(vectors[1])
    assert all(a != b for a, b in zip(first.ciphertexts, second.ciphertexts))
    assert all(
        a != b for a, b in zip(scheme.encrypt(vectors[0]).ciphertexts, broadcast.ciphertexts)
    )
    again = broadcast.rerandomise()
    assert all(a != b for a, b in zip(again.ciphertexts, broadcast.ciphertexts))
    for vector in (first, second):
        np.testing.assert_allclose(
            vector.decrypt(keys[1]), (vectors[0] + vectors[1]) / 2, rtol=0, atol=1e-6
        )
    np.testing.assert_allclose(again.decrypt(keys[1]), vectors[0], rtol=0, atol=1e-6)


def test_keyless_link_attack_works_without_and_fails_with_fresh_randomness(keys, vectors):
    scheme = PackedPaillier(keys[0], max_weight=6, workers=1)
    broadcast = scheme.encrypt(vectors[0])
    stale = add_plaintext_without_fresh_randomness(broadcast, vectors[1])
    np.testing.assert_allclose(
        recover_added_plaintext(broadcast, stale), vectors[1], rtol=0, atol=1e-7
    )
    fresh = broadcast.add_plaintext(vectors[1])
    with pytest.raises(ValueError, match="fresh randomness"):
        recover_added_plaintext(broadcast, fresh)
    n, nsquare = keys[0].n, keys[0].nsquare
    ratios = [
        r * pow(c, -1, nsquare) % nsquare for c, r in zip(broadcast.ciphertexts, fresh.ciphertexts)
    ]
    assert not any((ratio - 1) % n == 0 for ratio in ratios)  # result·c⁻¹ is no longer 1 + m·n


def test_sampler_gives_nth_residues_with_fresh_exponents(keys):
    public_key, private_key = keys
    sampler = NthResidueSampler(public_key.n, window=6)
    samples = [sampler.sample() for _ in range(5)]
    assert len(set(samples)) == 5
    assert all(private_key.raw_decrypt(s) == 0 for s in samples)  # r^n decrypts to 0
    table = sampler._table
    exponent = 0b1011 << 6 | 0b000011
    manual = table[0][0b000011] * table[1][0b1011] % sampler.nsquare
    assert manual == gmpy2.powmod(table[0][1], exponent, sampler.nsquare)
    assert private_key.raw_decrypt(sampler.encrypt(123456789)) == 123456789


def test_sampler_refuses_bad_window():
    with pytest.raises(ValueError, match="window"):
        NthResidueSampler(35, window=0)


def test_key_holder_decrypts_the_agreed_aggregate(tagged, vectors):
    scheme, holder, tag_keys = tagged
    total = sum(
        scheme.encrypt(v, tag_key=tag_keys[p], round_id="r1") for p, v in zip(PARTIES, vectors)
    )
    mean = holder.decrypt_aggregate(total, round_id="r1", weights=dict.fromkeys(PARTIES, 1))
    np.testing.assert_allclose(mean, np.mean(vectors, axis=0), rtol=0, atol=1e-6)


def test_key_holder_binds_weights(keys, vectors):
    scheme = PackedPaillier(keys[0], max_weight=20, tag_bits=64, workers=1)
    holder = KeyHolder(scheme, keys[1])
    tag_keys = {p: holder.register(p) for p in PARTIES[:3]}
    sizes = {"party 0": 2, "party 1": 7, "party 2": 4}
    encrypted = {
        p: scheme.encrypt(v, tag_key=tag_keys[p], round_id=5) for p, v in zip(PARTIES[:3], vectors)
    }
    weighted = sum(sizes[p] * encrypted[p] for p in sizes)  # the aggregator applies the weights
    mean = holder.decrypt_aggregate(weighted, round_id=5, weights=sizes)
    np.testing.assert_allclose(
        mean, np.average(vectors[:3], axis=0, weights=list(sizes.values())), atol=1e-6
    )
    skewed = (
        11 * encrypted["party 1"] + 1 * encrypted["party 0"] + 1 * encrypted["party 2"]
    )  # same total 13
    with pytest.raises(AggregateRejected, match="does not carry the tags"):
        holder.decrypt_aggregate(skewed, round_id=5, weights=sizes)


def _attacks(scheme, tag_keys, encrypted):
    j, others = "party 3", [p for p in PARTIES if p != "party 3"]
    forged = sum(
        (scheme.encrypt(np.zeros(200), tag_key=tag_keys[j], round_id="r1") for _ in others),
        encrypted[j],
    )
    return {
        "six times one party": 6 * encrypted[j],
        "one party repeated with honest tags elsewhere": sum(encrypted[p] for p in others[:-1])
        + 2 * encrypted[j],
        "forged contributions under a known tag": forged,
        "wrong round": None,
    }


def test_active_aggregator_cannot_isolate_a_party(tagged, vectors):
    scheme, holder, tag_keys = tagged
    encrypted = {
        p: scheme.encrypt(v, tag_key=tag_keys[p], round_id="r1") for p, v in zip(PARTIES, vectors)
    }
    agreed = dict.fromkeys(PARTIES, 1)
    attack = 6 * encrypted["party 3"]
    assert attack.weight == 6  # the metadata looks like a six-party sum
    # an untagged key holder would hand out party 3's vector:
    untagged = PackedPaillier(scheme.public_key, max_weight=6, workers=1)
    leaked = (6 * untagged.encrypt(vectors[3])).decrypt(holder._private_key)
    np.testing.assert_allclose(leaked, vectors[3], atol=1e-6)
    for name, vector in _attacks(scheme, tag_keys, encrypted).items():
        if vector is None:  # replaying an honest aggregate in another round
            vector, round_id = sum(encrypted.values()), "r2"
        else:
            round_id = "r1"
        assert vector.weight == 6, name
        with pytest.raises(AggregateRejected, match="does not carry the tags"):
            holder.decrypt_aggregate(vector, round_id=round_id, weights=agreed)


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ({"party 0": 1, "party 1": 1}, "at least 3"),
        ({"party 0": 1, "party 1": 1, "stranger": 1}, "not registered"),
        ({"party 0": 1, "party 1": 1, "party 2": 0}, "positive int"),
        ({"party 0": 1, "party 1": 1, "party 2": 1, "party 3": 1}, "claims total weight 3"),
        ({}, "Name the agreed"),
    ],
)
def test_key_holder_refuses_what_it_did_not_agree_to(tagged, vectors, weights, match):
    scheme, holder, tag_keys = tagged
    total = sum(
        scheme.encrypt(v, tag_key=tag_keys[p], round_id=1) for p, v in zip(PARTIES[:3], vectors)
    )
    with pytest.raises(AggregateRejected, match=match):
        holder.decrypt_aggregate(total, round_id=1, weights=weights)


def test_tagged_vectors_refuse_unchecked_decryption_and_missing_tags(tagged, keys, vectors):
    scheme, holder, tag_keys = tagged
    with pytest.raises(ValueError, match="tag_key="):
        scheme.encrypt(vectors[0])
    with pytest.raises(ValueError, match="KeyHolder.decrypt_aggregate"):
        scheme.encrypt(vectors[0], tag_key=tag_keys["party 0"], round_id=1).decrypt(keys[1])
    with pytest.raises(ValueError, match="tag_bits=0"):
        PackedPaillier(keys[0], max_weight=6, workers=1).encrypt(
            vectors[0], tag_key=tag_keys["party 0"], round_id=1
        )
    with pytest.raises(ValueError, match="already registered"):
        holder.register("party 0")
    with pytest.raises(ValueError, match="tagged scheme"):
        KeyHolder(PackedPaillier(keys[0], workers=1), keys[1])
    other = paillier.generate_paillier_keypair(n_length=512)[1]
    with pytest.raises(ValueError, match="does not belong"):
        KeyHolder(scheme, other)


def test_tagged_json_round_trip_and_pool(tagged, keys, vectors):
    scheme, holder, tag_keys = tagged
    party_scheme = PackedPaillier.from_json(scheme.to_json(), workers=2)
    assert party_scheme.layout == scheme.layout and party_scheme.layout.tag_bits == 64
    long = [np.resize(v, 3000) for v in vectors[:3]]
    messages = [
        party_scheme.encrypt(v, tag_key=tag_keys[p], round_id=9).to_json()
        for p, v in zip(PARTIES, long)
    ]
    total = sum(scheme.vector_from_json(m) for m in messages)
    mean = holder.decrypt_aggregate(total, round_id=9, weights=dict.fromkeys(PARTIES[:3], 1))
    np.testing.assert_allclose(mean, np.mean(long, axis=0), rtol=0, atol=1e-6)


def test_resealed_weight_corrupts_an_unguarded_mean_but_not_a_checked_one(tagged, keys, vectors):
    """A weight edited in transit (digest recomputed) silently skews an untagged mean.

    The KeyHolder refuses it.
    """
    from fl_course.secure.packed_paillier import EncryptedVector

    untagged = PackedPaillier(keys[0], max_weight=6, workers=1)
    five = sum(untagged.encrypt(v) for v in vectors[:5])
    claimed = EncryptedVector(untagged, five.ciphertexts, length=five.length, weight=6)
    skewed = claimed.decrypt(keys[1])  # no error ...
    assert np.abs(skewed - np.mean(vectors[:5], axis=0)).max() > 1.0  # ... and a wrong mean
    scheme, holder, tag_keys = tagged
    total = sum(
        scheme.encrypt(v, tag_key=tag_keys[p], round_id=2) for p, v in zip(PARTIES[:5], vectors)
    )
    claimed = EncryptedVector(scheme, total.ciphertexts, length=total.length, weight=6)
    with pytest.raises(AggregateRejected, match="does not carry the tags"):
        holder.decrypt_aggregate(claimed, round_id=2, weights=dict.fromkeys(PARTIES, 1))
