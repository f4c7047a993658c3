"""WeChat's callback signatures and safe-mode encryption, on the official sample vector."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.channels.wechat.crypto import (
    MessageCrypto,
    WeChatCryptoError,
    check_signature,
    pkcs7_pad,
    pkcs7_unpad,
    sha1_signature,
)
from tests.support.paths import DATA_DIR

VECTOR = json.loads((DATA_DIR / "wechat" / "safe_mode_vector.json").read_text("utf-8"))


def vector_crypto() -> MessageCrypto:
    return MessageCrypto(VECTOR["token"], VECTOR["encoding_aes_key"], VECTOR["app_id"])


def test_the_official_vector_verifies_and_decrypts() -> None:
    xml = vector_crypto().decrypt(
        VECTOR["encrypt"],
        timestamp=VECTOR["timestamp"],
        nonce=VECTOR["nonce"],
        msg_signature=VECTOR["msg_signature"],
    )
    assert xml == VECTOR["decrypted_xml"]
    assert "<Content><![CDATA[abcdteT]]></Content>" in xml


def test_the_vector_signature_is_sha1_of_the_sorted_parts() -> None:
    parts = (VECTOR["token"], VECTOR["timestamp"], VECTOR["nonce"], VECTOR["encrypt"])
    assert sha1_signature(*parts) == VECTOR["msg_signature"]
    assert sha1_signature(*reversed(parts)) == VECTOR["msg_signature"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("msg_signature", "0" * 40),
        ("msg_signature", None),
        ("msg_signature", ""),
        ("timestamp", "1409735670"),
        ("nonce", "1320562133"),
    ],
)
def test_a_forged_or_stale_signature_is_refused(field: str, value: str | None) -> None:
    arguments: dict[str, str | None] = {
        "timestamp": VECTOR["timestamp"],
        "nonce": VECTOR["nonce"],
        "msg_signature": VECTOR["msg_signature"],
    }
    arguments[field] = value
    with pytest.raises(WeChatCryptoError, match="msg_signature"):
        vector_crypto().decrypt(VECTOR["encrypt"], **arguments)  # type: ignore[arg-type]


def test_a_message_for_another_app_id_is_refused() -> None:
    other = MessageCrypto(VECTOR["token"], VECTOR["encoding_aes_key"], "wx0000000000000000")
    with pytest.raises(WeChatCryptoError, match="AppID"):
        other.decrypt_unsigned(VECTOR["encrypt"])


@pytest.mark.parametrize("encrypt", ["not base64!!", "", "AAAA", "A" * 43 + "="])
def test_garbage_ciphertext_is_one_clear_error(encrypt: str) -> None:
    with pytest.raises(WeChatCryptoError):
        vector_crypto().decrypt_unsigned(encrypt)


def test_a_flipped_ciphertext_byte_never_decrypts_to_a_message() -> None:
    raw = bytearray(base64.b64decode(VECTOR["encrypt"]))
    raw[-1] ^= 0x01  # the last block carries the padding and the AppID
    with pytest.raises(WeChatCryptoError):
        vector_crypto().decrypt_unsigned(base64.b64encode(bytes(raw)).decode())


@pytest.mark.parametrize("length", [0, 1, 11, 12, 13, 31, 32, 33, 500, 2048])
def test_round_trip_at_every_pad_length(length: int) -> None:
    """Pads of 17–32 bytes occur as often as 1–16: a 16-byte unpadder fails half of them."""
    crypto = vector_crypto()
    xml = "<xml>" + "对" * (length // 3) + "x" * (length % 3) + "</xml>"
    sealed = crypto.encrypt(xml, timestamp="1700000000", nonce="42")
    assert check_signature(VECTOR["token"], "1700000000", "42", None) is False
    assert (
        crypto.decrypt(
            sealed.encrypt, timestamp="1700000000", nonce="42", msg_signature=sealed.msg_signature
        )
        == xml
    )


def test_padding_is_to_32_byte_blocks() -> None:
    assert len(pkcs7_pad(b"x" * 15)) == 32
    assert pkcs7_pad(b"x" * 32)[-1] == 32
    assert pkcs7_unpad(pkcs7_pad(b"x" * 7)) == b"x" * 7
    with pytest.raises(WeChatCryptoError, match="padding"):
        pkcs7_unpad(b"x" * 31 + bytes([33]))


def test_encrypting_the_vector_plaintext_with_its_random_prefix_gives_the_vector() -> None:
    crypto = vector_crypto()
    key = base64.b64decode(VECTOR["encoding_aes_key"] + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(VECTOR["encrypt"])) + decryptor.finalize()
    sealed = crypto.encrypt(
        VECTOR["decrypted_xml"],
        timestamp=VECTOR["timestamp"],
        nonce=VECTOR["nonce"],
        random_prefix=plain[:16],
    )
    assert sealed.encrypt == VECTOR["encrypt"]
    assert sealed.msg_signature == VECTOR["msg_signature"]


def test_the_server_check_signature() -> None:
    signature = sha1_signature("spamtest", "1409735669", "1320562132")
    assert check_signature("spamtest", "1409735669", "1320562132", signature)
    assert check_signature("spamtest", "1409735669", "1320562132", signature.upper())
    assert not check_signature("spamtest", "1409735669", "1320562132", signature[:-1] + "0")
    assert not check_signature("spamtest", "1409735669", "1320562132", "中文")


@pytest.mark.parametrize("key", ["short", "a" * 44, "!" * 43])
def test_a_bad_encoding_aes_key_is_a_clear_settings_error(key: str) -> None:
    with pytest.raises(ValueError, match="WECHAT_ENCODING_AES_KEY"):
        MessageCrypto("t", key, "wx")
