#!/usr/bin/env python3
"""Independent implementation of FabricAuth handshake version 2 (docs/protocol.md) with
Python `cryptography` (tested with 48.0.0), written from the document, not from the Swift code. It computes
a full handshake and one resumption from fixed inputs and prints them as Swift
constants (KnownAnswerVector.swift); KnownAnswerTests checks the Swift machine
produces exactly these bytes and keys.

    python3 Tests/HandshakeTests/Vectors/handshake_vector.py > Tests/HandshakeTests/Vectors/KnownAnswerVector.swift
"""
import hashlib, hmac, struct
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

def H(x): return hashlib.sha256(x).digest()
def HMAC(k, x): return hmac.new(k, x, hashlib.sha256).digest()
def extract(salt, ikm): return HMAC(salt if salt else b"\0" * 32, ikm)
def expand(prk, info, L):
    out, t, i = b"", b"", 1
    while len(out) < L:
        t = HMAC(prk, t + info + bytes([i])); out += t; i += 1
    return out[:L]
def raw(pub): return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

class Sym:
    def __init__(self, name):
        n = name.encode()
        self.h = n.ljust(32, b"\0") if len(n) <= 32 else H(n)
        self.ck, self.k, self.n = self.h, None, 0
    def mix_hash(self, d): self.h = H(self.h + d)
    def _hkdf(self, ikm, m):
        okm = expand(extract(self.ck, ikm), b"", 32 * m)
        return [okm[32 * i:32 * i + 32] for i in range(m)]
    def mix_key(self, ikm): self.ck, self.k = self._hkdf(ikm, 2); self.n = 0
    def mix_key_and_hash(self, ikm):
        self.ck, t, self.k = self._hkdf(ikm, 3); self.mix_hash(t); self.n = 0
    def enc(self, p):
        c = ChaCha20Poly1305(self.k).encrypt(b"\0" * 4 + struct.pack("<Q", self.n), p, self.h)
        self.n += 1; self.mix_hash(c); return c
    def schedule(self):
        prk = extract(self.ck, self.h)
        return {l: expand(prk, l.encode(), 16 if l == "fabricauth session id" else 32) for l in
                ["fabricauth i2r traffic", "fabricauth r2i traffic", "fabricauth resumption secret",
                 "fabricauth session id", "fabricauth finished key", "fabricauth reauth secret"]}

def binding(role, qpn, psn, gid_last, mtu):
    return bytes([role]) + struct.pack(">II", qpn, psn) + bytes([0xfe, 0x80] + [0] * 13 + [gid_last]) + struct.pack(">I", mtu)

def u16(b): return struct.pack(">H", len(b)) + b

# Fixed inputs (mirrored in KnownAnswerTests.swift).
e_i_sk, e_r_sk = bytes([0x11] * 32), bytes([0x22] * 32)
nonce_i, nonce_r = bytes([0x33] * 32), bytes([0x44] * 32)
alice_seed, bob_seed = bytes([0x02] * 32), bytes([0x03] * 32)
alice_sig, bob_sig = Ed25519PrivateKey.from_private_bytes(alice_seed), Ed25519PrivateKey.from_private_bytes(bob_seed)
# KAT "certificate": Ed25519 public key || identity.
alice_cert = raw(alice_sig.public_key()) + b"spiffe://kat/alice"
bob_cert = raw(bob_sig.public_key()) + b"spiffe://kat/bob"
b_i = binding(1, 0x000101, 0x123456, 1, 4096)
b_r = binding(2, 0x000202, 0x654321, 2, 4096)
b_i2 = binding(1, 0x000103, 0x000777, 1, 1024)
b_r2 = binding(2, 0x000204, 0xabcdef, 2, 1024)
payload_i, payload_r = b"alice rkey=0x1234", b"bob rkey=0x5678"
suites = bytes([0x01, 0x02])

V = 2  # handshake version: first byte of every message

def identity_prefix(cert): return bytes([1, 1]) + u16(cert)

# Full handshake.
s = Sym("FabricAuth_XXsig_25519_ChaChaPoly_SHA256_v1")
e_i = X25519PrivateKey.from_private_bytes(e_i_sk); e_r = X25519PrivateKey.from_private_bytes(e_r_sk)
m1 = bytes([V, 1, len(suites)]) + suites + raw(e_i.public_key()) + b_i
s.mix_hash(m1)
m2_prefix = bytes([V, 2, 0x01]) + raw(e_r.public_key()) + b_r
s.mix_hash(m2_prefix)
s.mix_key(e_r.exchange(e_i.public_key()))
p_r = identity_prefix(bob_cert)
sig_r = bob_sig.sign(b"FabricAuth v1 responder signature\0" + s.h + H(p_r))
m2 = m2_prefix + s.enc(p_r + u16(sig_r) + u16(b""))
s.mix_hash(bytes([V, 3]))
p_i = identity_prefix(alice_cert)
sig_i = alice_sig.sign(b"FabricAuth v1 initiator signature\0" + s.h + H(p_i))
m3 = bytes([V, 3]) + s.enc(p_i + u16(sig_i) + u16(payload_i))
keys = s.schedule()
m4 = bytes([V, 4]) + ChaCha20Poly1305(keys["fabricauth finished key"]).encrypt(b"\0" * 12, payload_r, s.h)

# Resumption on a second QP, same roles as the full handshake (alice initiates).
sid, secret = keys["fabricauth session id"], keys["fabricauth resumption secret"]
# Role-bound PSK: label || full-handshake role of the resuming initiator (1) || of the responder (2).
psk = expand(secret, b"fabricauth resumption psk" + bytes([1, 2]), 32)
r = Sym("FabricAuth_Resume_PSK_ChaChaPoly_SHA256_v2")
r1_prefix = bytes([V, 5]) + sid + nonce_i + b_i2 + b_r2  # R1 names both QP ends
r.mix_hash(r1_prefix); r.mix_hash(bytes([0x01])); r.mix_key(nonce_i); r.mix_key_and_hash(psk)
r1 = r1_prefix + r.enc(b"")  # no payload: R1 proves possession, not freshness
r2_prefix = bytes([V, 6]) + nonce_r + b_r2
r.mix_hash(r2_prefix); r.mix_key(nonce_r)
r2 = r2_prefix + r.enc(payload_r)
r.mix_hash(bytes([V, 7]))
r3 = bytes([V, 7]) + r.enc(payload_i)  # initiator's key confirmation, under nonce_r's key
rkeys = r.schedule()

# Re-authentication (section 14) of the first QP, generation 1, requested by alice (the
# handshake initiator) with a new signing key; bob answers with his unchanged one.
anchor0 = keys["fabricauth reauth secret"]
e_a_sk, e_b_sk = bytes([0x55] * 32), bytes([0x66] * 32)
alice2_sig = Ed25519PrivateKey.from_private_bytes(bytes([0x04] * 32))
alice2_cert = raw(alice2_sig.public_key()) + b"spiffe://kat/alice"
a = Sym("FabricAuth_Reauth_XXsig_25519_ChaChaPoly_SHA256_v1")
a.mix_hash(b_i + b_r); a.mix_key_and_hash(anchor0)
e_a = X25519PrivateKey.from_private_bytes(e_a_sk); e_b = X25519PrivateKey.from_private_bytes(e_b_sk)
a1_prefix = bytes([V, 0x10]) + struct.pack(">I", 1) + bytes([1]) + raw(e_a.public_key()) + b_i + b_r
a.mix_hash(a1_prefix)
a1 = a1_prefix + a.enc(b"")
a2_prefix = bytes([V, 0x11]) + raw(e_b.public_key())
a.mix_hash(a2_prefix); a.mix_key(e_b.exchange(e_a.public_key()))
pb = identity_prefix(bob_cert)
sig_b = bob_sig.sign(b"FabricAuth reauth responder signature\0" + a.h + H(pb))
a2 = a2_prefix + a.enc(pb + u16(sig_b) + u16(b""))
a.mix_hash(bytes([V, 0x12]))
pa = identity_prefix(alice2_cert)
sig_a = alice2_sig.sign(b"FabricAuth reauth requester signature\0" + a.h + H(pa))
a3 = bytes([V, 0x12]) + a.enc(pa + u16(sig_a) + u16(b""))
akeys = a.schedule()
a4 = bytes([V, 0x13]) + ChaCha20Poly1305(akeys["fabricauth finished key"]).encrypt(b"\0" * 12, b"", a.h)

def sw(name, b): return f"    static let {name}: [UInt8] = hex(\"{b.hex()}\")"
print("// Generated by handshake_vector.py (independent Python implementation of docs/protocol.md). Do not edit.")
print("enum KnownAnswerVector {")
for n, v in [("m1", m1), ("m2", m2), ("m3", m3), ("m4", m4),
             ("i2r", keys["fabricauth i2r traffic"]), ("r2i", keys["fabricauth r2i traffic"]),
             ("sessionID", sid), ("resumptionSecret", secret),
             ("resumptionPSK", psk), ("r1", r1), ("r2", r2), ("r3", r3),
             ("resumedI2R", rkeys["fabricauth i2r traffic"]), ("resumedR2I", rkeys["fabricauth r2i traffic"]),
             ("reauthAnchor0", anchor0), ("resumedReauthAnchor0", rkeys["fabricauth reauth secret"]),
             ("a1", a1), ("a2", a2), ("a3", a3), ("a4", a4),
             ("reauthI2R", akeys["fabricauth i2r traffic"]), ("reauthR2I", akeys["fabricauth r2i traffic"]),
             ("reauthAnchor1", akeys["fabricauth reauth secret"])]:
    print(sw(n, v))
print("}")
