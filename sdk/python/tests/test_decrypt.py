"""The value cap of format.md section 5.1 and the classification of decryption failures."""

from __future__ import annotations

import pyrage
import pytest
from pyrage import x25519

from agent_vault import IntegrityError, NotAuthorizedError
from agent_vault.decrypt import MAX_VALUE, decrypt_value


@pytest.fixture()
def identity() -> x25519.Identity:
    return x25519.Identity.generate()


def test_values_up_to_the_cap(identity: x25519.Identity) -> None:
    for value in (b"", b"x", bytes(range(256)) * 4096):
        assert decrypt_value(pyrage.encrypt(value, [identity.to_public()]), identity, "v") == value
    assert len(bytes(range(256)) * 4096) == MAX_VALUE


def test_over_the_cap_is_integrity(identity: x25519.Identity) -> None:
    enc = pyrage.encrypt(b"s" * (MAX_VALUE + 1), [identity.to_public()])
    with pytest.raises(IntegrityError, match="larger than the limit of 1048576 bytes") as e:
        decrypt_value(enc, identity, "secret 'a/b'")
    assert "sss" not in str(e.value) and e.value.__cause__ is None and e.value.__suppress_context__


def test_streaming_stops_past_the_cap(identity: x25519.Identity, monkeypatch: pytest.MonkeyPatch) -> None:
    """Far past the cap, decryption stops at the first chunk that crosses it: the plaintext is never held."""
    from agent_vault import decrypt

    written: list[int] = []
    orig = decrypt._CappedSink.write

    def write(self: decrypt._CappedSink, data: bytes) -> int:
        written.append(len(data))
        return orig(self, data)

    monkeypatch.setattr(decrypt._CappedSink, "write", write)
    enc = pyrage.encrypt(b"z" * (8 << 20), [identity.to_public()])
    with pytest.raises(IntegrityError):
        decrypt_value(enc, identity, "v")
    assert MAX_VALUE < sum(written) < MAX_VALUE + (64 << 10)  # within one age chunk of the cap, not 8 MiB


def test_decryption_failures_are_not_authorized(identity: x25519.Identity) -> None:
    enc = pyrage.encrypt(b"hello" * 100, [identity.to_public()])
    other = x25519.Identity.generate()
    for data, key in (
        (enc, other),  # not a recipient
        (b"", identity),
        (b"garbage", identity),
        (enc[:60], identity),  # header cut short
        (enc[:-5], identity),  # payload cut short
        (enc[:-1] + bytes([enc[-1] ^ 1]), identity),  # payload fails authentication
    ):
        with pytest.raises(NotAuthorizedError, match="cannot decrypt") as e:
            decrypt_value(data, key, "v")
        assert "hello" not in str(e.value)
