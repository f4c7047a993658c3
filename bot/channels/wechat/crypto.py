"""WeChat callback signatures and safe-mode (AES) message encryption.

WeChat signs every callback to the server URL: `signature = sha1(sorted(token, timestamp,
nonce))` in plaintext mode, and in safe mode (`encrypt_type=aes`) also
`msg_signature = sha1(sorted(token, timestamp, nonce, Encrypt))` over the ciphertext. The
ciphertext is AES-256-CBC with key = base64(EncodingAESKey + "=") and IV = key[:16] over
16 random bytes, the XML's length (4 bytes, big-endian), the XML and the AppID, PKCS#7
padded to 32-byte blocks. That block size is WeChat's, not AES's 16: an unpadder that
accepts only pads of 1–16 rejects valid messages whose pad is 17–32.

Every check compares in constant time, and every failure is one `WeChatCryptoError` with a
reason for the log; the caller answers an empty 403/400 and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: WeChat pads to 32-byte blocks (its sample code's PKCS7Encoder.block_size).
PAD_BLOCK = 32
_RANDOM_PREFIX = 16
_LENGTH_FIELD = 4


class WeChatCryptoError(ValueError):
    """A callback whose signature, encoding, padding or AppID does not check out."""


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 over the parts sorted as strings and concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison; a missing signature never matches."""
    if not given:
        return False
    return hmac.compare_digest(
        expected.encode("ascii"), given.strip().lower().encode("ascii", "replace")
    )


def check_signature(token: str, timestamp: str, nonce: str, signature: str | None) -> bool:
    """The plaintext-mode check of `GET /wechat` (server verification) and every POST."""
    return signature_matches(sha1_signature(token, timestamp, nonce), signature)


def pkcs7_pad(data: bytes, block: int = PAD_BLOCK) -> bytes:
    amount = block - len(data) % block
    return data + bytes([amount]) * amount


def pkcs7_unpad(data: bytes, block: int = PAD_BLOCK) -> bytes:
    if not data or len(data) % 16:
        raise WeChatCryptoError("ciphertext is not a whole number of AES blocks")
    amount = data[-1]
    if not 1 <= amount <= block or data[-amount:] != bytes([amount]) * amount:
        raise WeChatCryptoError("bad PKCS#7 padding")
    return data[:-amount]


@dataclass(frozen=True, slots=True)
class EncryptedMessage:
    """What a safe-mode reply carries: `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/>`."""

    encrypt: str
    msg_signature: str
    timestamp: str
    nonce: str


class MessageCrypto:
    """One account's safe-mode cipher (token, EncodingAESKey, AppID)."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise ValueError("WECHAT_ENCODING_AES_KEY must be the 43 characters WeChat shows")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("WECHAT_ENCODING_AES_KEY is not base64 (43 characters)") from exc
        if len(key) != 32:
            raise ValueError("WECHAT_ENCODING_AES_KEY must decode to 32 bytes")
        self._token = token
        self._key = key
        self._app_id = app_id.encode("utf-8")

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def decrypt(
        self, encrypt: str, *, timestamp: str, nonce: str, msg_signature: str | None
    ) -> str:
        """The callback's XML, after checking `msg_signature` over the ciphertext."""
        expected = sha1_signature(self._token, timestamp, nonce, encrypt)
        if not signature_matches(expected, msg_signature):
            raise WeChatCryptoError("msg_signature does not match")
        return self.decrypt_unsigned(encrypt)

    def decrypt_unsigned(self, encrypt: str) -> str:
        try:
            ciphertext = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WeChatCryptoError("Encrypt is not base64") from exc
        if not ciphertext or len(ciphertext) % 16:
            raise WeChatCryptoError("ciphertext is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = pkcs7_unpad(decryptor.update(ciphertext) + decryptor.finalize())
        if len(plain) < _RANDOM_PREFIX + _LENGTH_FIELD:
            raise WeChatCryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[_RANDOM_PREFIX : _RANDOM_PREFIX + _LENGTH_FIELD])
        start = _RANDOM_PREFIX + _LENGTH_FIELD
        body, app_id = plain[start : start + length], plain[start + length :]
        if len(body) != length:
            raise WeChatCryptoError("plaintext shorter than its length field")
        if not hmac.compare_digest(app_id, self._app_id):
            raise WeChatCryptoError("message is for another AppID")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WeChatCryptoError("plaintext is not UTF-8") from exc

    def encrypt(
        self, xml: str, *, timestamp: str, nonce: str, random_prefix: bytes | None = None
    ) -> EncryptedMessage:
        """Encrypt and sign a reply (or, in tests, a callback) the way WeChat does."""
        prefix = os.urandom(_RANDOM_PREFIX) if random_prefix is None else random_prefix
        if len(prefix) != _RANDOM_PREFIX:
            raise ValueError("the random prefix is 16 bytes")
        body = xml.encode("utf-8")
        plain = pkcs7_pad(prefix + struct.pack(">I", len(body)) + body + self._app_id)
        encryptor = self._cipher().encryptor()
        encrypt = base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")
        return EncryptedMessage(
            encrypt=encrypt,
            msg_signature=sha1_signature(self._token, timestamp, nonce, encrypt),
            timestamp=timestamp,
            nonce=nonce,
        )
