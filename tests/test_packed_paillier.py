"""Tests for fl_course.secure (fixed-point slot packing and packed Paillier)."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fl_course.secure import (
    EncryptedVector,
    PackedPaillier,
    SlotLayout,
    fingerprint,
    generate_keypair,
)

MAX_ABS = 32.0


@pytest.fixture(scope="module")
def teaching_keys():
    """A 512-bit key pair: insecure, explicitly opted into so property tests stay fast."""
    return generate_keypair(512, allow_small_keys=True)


@pytest.fixture(scope="module")
def keys():
    return generate_keypair(2048)


@pytest.fixture(scope="module")
def other_keys():
    return generate_keypair(2048)


def teaching_scheme(public_key, max_weight=8):
    return PackedPaillier(public_key, max_weight=max_weight, workers=1, allow_small_keys=True)


finite = st.floats(min_value=-MAX_ABS, max_value=MAX_ABS, allow_nan=False, allow_infinity=False)
value = st.one_of(finite, st.sampled_from([0.0, -0.0, MAX_ABS, -MAX_ABS, 1e-9, -1e-9, 5e-324]))


@st.composite
def party_vectors(draw, max_parties=6, max_length=70):
    parties = draw(st.integers(1, max_parties))
    length = draw(st.integers(1, max_length))
    return [
        np.array(draw(st.lists(value, min_size=length, max_size=length))) for _ in range(parties)
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(vectors=party_vectors())
def test_decrypted_sum_over_k_is_the_mean(teaching_keys, vectors):
    public_key, private_key = teaching_keys
    scheme = teaching_scheme(public_key)
    total = sum(scheme.encrypt(v) for v in vectors)
    assert total.weight == len(vectors)
    np.testing.assert_allclose(
        total.decrypt(private_key), np.mean(vectors, axis=0), rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(
        total.decrypt(private_key) * total.weight,
        np.sum(vectors, axis=0),
        rtol=0,
        atol=1e-6 * len(vectors),
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(vectors=party_vectors(max_parties=4, max_length=40), data=st.data())
def test_integer_weights_give_the_weighted_mean(teaching_keys, vectors, data):
    public_key, private_key = teaching_keys
    weights = data.draw(st.lists(st.integers(1, 300), min_size=len(vectors), max_size=len(vectors)))
    scheme = teaching_scheme(public_key, max_weight=1200)
    total = sum(scheme.encrypt(v, weight=w) for v, w in zip(vectors, weights))
    expected = np.average(vectors, axis=0, weights=weights)
    np.testing.assert_allclose(total.decrypt(private_key), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("length", [1, 61, 62, 63, 7850 // 50])
def test_full_size_key_with_process_pool(keys, length):
    public_key, private_key = keys
    scheme = PackedPaillier(public_key, max_weight=6, workers=2)
    rng = np.random.default_rng(length)
    vectors = [rng.uniform(-MAX_ABS, MAX_ABS, length) for _ in range(3)]
    vectors[0][0] = -MAX_ABS
    total = sum(scheme.encrypt(v) for v in vectors)
    assert len(total.ciphertexts) == -(-length // scheme.layout.slots)
    np.testing.assert_allclose(
        total.decrypt(private_key), np.mean(vectors, axis=0), rtol=0, atol=1e-6
    )


def test_layout_of_a_2048_bit_key_packs_62_slots(keys):
    scheme = PackedPaillier(keys[0], max_weight=6)
    assert (scheme.layout.slot_bits, scheme.layout.slots) == (33, 62)
    assert scheme.layout.num_plaintexts(7850) == 127


def test_integer_scalar_and_plaintext_addition(teaching_keys):
    public_key, private_key = teaching_keys
    scheme = teaching_scheme(public_key)
    a, b = np.array([1.0, -2.0, 3.5]), np.array([0.5, 0.25, -3.5])
    np.testing.assert_allclose((3 * scheme.encrypt(a)).decrypt(private_key), a, atol=1e-6)
    pairwise = scheme.encrypt(a).add_plaintext(b)
    assert pairwise.weight == 2
    np.testing.assert_allclose(pairwise.decrypt(private_key), (a + b) / 2, atol=1e-6)
    weighted = scheme.encrypt(a, weight=2).add_plaintext(b, weight=3)
    np.testing.assert_allclose(weighted.decrypt(private_key), (2 * a + 3 * b) / 5, atol=1e-6)


@pytest.mark.parametrize(
    "operation",
    [
        lambda s, x: s.encrypt(x) + s.encrypt(x) + s.encrypt(x) + s.encrypt(x),
        lambda s, x: 4 * s.encrypt(x),
        lambda s, x: s.encrypt(x, weight=2).add_plaintext(x, weight=2),
        lambda s, x: s.encrypt(x, weight=4),
    ],
    ids=["add", "scalar", "plaintext", "encrypt-weight"],
)
def test_headroom_overflow_is_refused(teaching_keys, operation):
    scheme = teaching_scheme(teaching_keys[0], max_weight=3)
    with pytest.raises(ValueError, match="headroom"):
        operation(scheme, np.array([MAX_ABS, -MAX_ABS, 1.0]))


@pytest.mark.parametrize(
    ("values", "error", "match"),
    [
        ([0.0, 32.5], ValueError, "outside the encodable range"),
        ([-1e6], ValueError, "outside the encodable range"),
        ([np.nan], ValueError, "not finite"),
        ([np.inf, 1.0], ValueError, "not finite"),
        ([[1.0, 2.0]], None, None),  # 2-D input is flattened, not refused
    ],
)
def test_out_of_range_values_are_refused(teaching_keys, values, error, match):
    public_key, private_key = teaching_keys
    scheme = teaching_scheme(public_key)
    if error is None:
        np.testing.assert_allclose(
            scheme.encrypt(values).decrypt(private_key), np.ravel(values), atol=1e-6
        )
    else:
        with pytest.raises(error, match=match):
            scheme.encrypt(values)


@pytest.mark.parametrize("bits", [512, 1024])
def test_small_keys_need_explicit_opt_in(teaching_keys, bits):
    with pytest.raises(ValueError, match="allow_small_keys=True"):
        generate_keypair(bits)
    with pytest.raises(ValueError, match="allow_small_keys=True"):
        PackedPaillier(teaching_keys[0])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"public_key": 12345}, TypeError),
        ({"max_weight": 0}, ValueError),
        ({"max_abs": -1.0}, ValueError),
        ({"max_abs": float("inf")}, ValueError),
        ({"frac_bits": 60}, ValueError),
        ({"workers": 0}, ValueError),
    ],
)
def test_bad_settings_are_refused(keys, kwargs, error):
    kwargs = {"public_key": keys[0], **kwargs}
    with pytest.raises(error):
        PackedPaillier(kwargs.pop("public_key"), **kwargs)


def test_foreign_key_is_refused(keys, other_keys):
    ours = PackedPaillier(keys[0], max_weight=6, workers=1)
    theirs = PackedPaillier(other_keys[0], max_weight=6, workers=1)
    x = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="different public keys"):
        ours.encrypt(x) + theirs.encrypt(x)
    with pytest.raises(ValueError, match="different public key"):
        ours.vector_from_json(theirs.encrypt(x).to_json())
    with pytest.raises(ValueError, match="does not belong"):
        ours.encrypt(x).decrypt(other_keys[1])


def test_json_round_trip(keys):
    public_key, private_key = keys
    scheme = PackedPaillier(public_key, max_weight=6, workers=1)
    rebuilt = PackedPaillier.from_json(scheme.to_json(), workers=1)
    assert rebuilt.fingerprint == scheme.fingerprint == fingerprint(public_key)
    assert rebuilt.layout == scheme.layout
    assert "private" not in scheme.to_json()
    x = np.linspace(-3, 3, 100)
    vector = rebuilt.encrypt(x) + scheme.vector_from_json(scheme.encrypt(-x).to_json())
    loaded = scheme.vector_from_json(vector.to_json())
    assert isinstance(loaded, EncryptedVector) and loaded.weight == 2 and len(loaded) == 100
    assert loaded.ciphertexts == vector.ciphertexts
    np.testing.assert_allclose(loaded.decrypt(private_key), 0.0, atol=1e-6)


def _edit(text, change):
    payload = json.loads(text)
    change(payload)
    return json.dumps(payload)


def _reseal(payload):
    from fl_course.secure.packed_paillier import _digest

    payload.pop("digest")
    payload["digest"] = _digest(payload)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda p: p["ciphertexts"].__setitem__(
                0, format(int(p["ciphertexts"][0], 16) + 1, "x")
            ),
            "modified",
        ),
        (lambda p: p.__setitem__("weight", 2), "modified"),
        (lambda p: (p.__setitem__("weight", 99), _reseal(p)), "headroom"),
        (lambda p: (p["ciphertexts"].pop(), _reseal(p)), "ciphertexts"),
        (lambda p: (p["ciphertexts"].__setitem__(0, "0"), _reseal(p)), "not a valid ciphertext"),
        (lambda p: (p["public_key"].__setitem__("n", "ff"), _reseal(p)), "tampered"),
        (lambda p: (p["layout"].__setitem__("frac_bits", 20), _reseal(p)), "layout"),
        (lambda p: p.__setitem__("format", "pickle"), "not a"),
    ],
    ids=[
        "ciphertext",
        "weight",
        "weight-resealed",
        "count",
        "invalid-ct",
        "key",
        "layout",
        "format",
    ],
)
def test_tampered_payload_is_rejected(keys, change, match):
    scheme = PackedPaillier(keys[0], max_weight=6, workers=1)
    text = scheme.encrypt(np.arange(70) / 7).to_json()
    with pytest.raises(ValueError, match=match):
        scheme.vector_from_json(_edit(text, change))


@pytest.mark.parametrize(
    "text", ["", "not json", "[1, 2]", '{"format": "fl_course.secure.EncryptedVector"}']
)
def test_malformed_payload_is_rejected(keys, text):
    scheme = PackedPaillier(keys[0], workers=1)
    with pytest.raises(ValueError):
        scheme.vector_from_json(text)


def test_layout_decode_detects_overflowed_slot():
    layout = SlotLayout(256, frac_bits=8, max_abs=1.0, max_weight=2)
    (plaintext,) = layout.encode([1.0, 1.0], weight=2)
    assert layout.decode([plaintext], 2, 2).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="above the maximum"):
        layout.decode([plaintext], 2, 1)
    with pytest.raises(ValueError, match="beyond the last slot"):
        layout.decode([plaintext], 1, 2)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"plaintext_bits": 8}, ValueError),
        ({"frac_bits": -1}, ValueError),
        ({"max_weight": 1.5}, TypeError),
    ],
)
def test_layout_refuses_bad_settings(kwargs, error):
    with pytest.raises(error):
        SlotLayout(**{"plaintext_bits": 2047, **kwargs})


def test_headroom_boundary_through_paillier(teaching_keys):
    """Eight parties all at the extremes, max_weight=8: the fullest slots decode exactly."""
    public_key, private_key = teaching_keys
    scheme = teaching_scheme(public_key, max_weight=8)
    for extreme in (MAX_ABS, -MAX_ABS):
        total = sum(scheme.encrypt(np.full(20, extreme)) for _ in range(8))
        np.testing.assert_array_equal(total.decrypt(private_key), np.full(20, extreme))


def test_tag_slot_holds_the_largest_weighted_tag_sum():
    layout = SlotLayout(512, frac_bits=8, max_abs=1.0, max_weight=5, tag_bits=64)
    top = 2**64 - 1
    plaintexts = [
        sum(p) for p in zip(*(layout.encode([1.0, -1.0], weight=1, tags=[top]) for _ in range(5)))
    ]
    assert layout.tag_of(plaintexts[0]) == 5 * top
    np.testing.assert_array_equal(layout.decode(plaintexts, 2, 5), [1.0, -1.0])
    with pytest.raises(ValueError, match="pass 1 tags"):
        layout.encode([1.0], tags=None)
    with pytest.raises(ValueError, match="no tag slot"):
        SlotLayout(512, frac_bits=8, max_abs=1.0).encode([1.0], tags=[1])
