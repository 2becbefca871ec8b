"""Keys the Python SDK cannot use: passphrase-protected key files and age plugin identities (format.md sections
3.6 and 3.7) are refused with VaultNotFoundError naming what can read them; plugin recipients in the signed state
are accepted (a vault whose owner or agents hold hardware keys stays readable by the others)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent_vault import bech32
from agent_vault.errors import VaultNotFoundError
from agent_vault.keys import is_plugin_recipient, is_recipient, parse_key_file, read_key_path

# age-plugin-avtest --generate (internal/testplugin): a recipient comment and a plugin identity.
PLUGIN_KEY = (
    "# avtest simulated device\n"
    "# public key: age1avtest1v9nk2vtdwscxga3nxp3hg7npwdekz6nvwpjk6ertw43hw7rswpskud3edfa8vmtt89nnxvpcw4sn2ve5x3chzemww968ymrvvakqmufy65\n"
    "AGE-PLUGIN-AVTEST-1G9R52T2NG4P4Y32594952KFDX9T9J4PJ2P8Y63JV2E24XV69X3VRV5EKX4DYXDJVGUM5X524F3V4YJ6VXUU955JH2U65UJ6XGEP4S4ZCGVE9XVPC2VUNGJQAXH5S9\n"
)
ARMORED = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IHNjcnlwdCBKSyt5Y05NbEdPOFZHeGt0\n-----END AGE ENCRYPTED FILE-----\n"


def test_plugin_identity_is_refused_with_a_pointer_to_the_cli() -> None:
    with pytest.raises(VaultNotFoundError) as e:
        parse_key_file(PLUGIN_KEY, "hw.key")
    assert "plugin identity" in str(e.value)
    assert "agent-vault CLI" in str(e.value) and "MCP server" in str(e.value)
    assert "AGE-PLUGIN-AVTEST-1G9" not in str(e.value)


def test_protected_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VaultNotFoundError, match="passphrase-protected.*agent-vault CLI"):
        parse_key_file(ARMORED, "owner.key")
    for name, data in (("armored.key", ARMORED.encode()), ("binary.key", b"age-encryption.org/v1\n-> scrypt x 18\n\xff\xfe")):
        p = tmp_path / name
        p.write_bytes(data)
        os.chmod(p, 0o600)
        with pytest.raises(VaultNotFoundError, match="passphrase-protected"):
            read_key_path(p)


def test_plugin_recipients() -> None:
    rcpt = PLUGIN_KEY.split("# public key: ")[1].split("\n")[0]
    assert is_plugin_recipient(rcpt) and is_recipient(rcpt)
    assert not is_plugin_recipient(rcpt.upper())
    assert not is_plugin_recipient(rcpt[:-1] + ("q" if rcpt[-1] != "q" else "p"))  # checksum
    assert not is_plugin_recipient("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")  # X25519
    assert is_recipient("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
    assert not is_plugin_recipient("age1pq1" + "q" * 60)  # age's own post-quantum recipients are not plugins
    assert not is_plugin_recipient("age1yubikey1" + "q" * 1100)
    assert not is_plugin_recipient(None)
    hrp, _ = bech32.decode(rcpt)
    assert hrp == "age1avtest"
