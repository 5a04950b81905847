#!/usr/bin/python3
"""Verify a podsleuth bundle's DSSE envelope with Debian's python3-securesystemslib (0.26).

usage: verify_dsse.py ENVELOPE.json PUBLIC_KEY_HEX
0.26 has no DSSE module: the pre-authentication encoding is computed here from the DSSE spec
(https://github.com/secure-systems-lab/dsse/blob/master/protocol.md):
  PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
and securesystemslib verifies the ed25519 signature over it. Prints a JSON report; exit 1 when
the signature does not verify.
"""
import base64
import hashlib
import json
import sys

from securesystemslib.signer import Signature, SSlibKey
from securesystemslib import keys as sslib_keys
from securesystemslib.formats import encode_canonical


def pae(payload_type: str, body: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def main():
    env_path, pub_hex = sys.argv[1:3]
    with open(env_path, "rb") as f:
        env = json.load(f)
    body = base64.b64decode(env["payload"])
    data = pae(env["payloadType"], body)
    # securesystemslib's key id: sha256 of the canonical JSON of the key's public metadata
    meta = sslib_keys.format_keyval_to_metadata("ed25519", "ed25519", {"public": pub_hex})
    computed = hashlib.sha256(encode_canonical(meta).encode("utf-8")).hexdigest()
    key = SSlibKey(computed, "ed25519", "ed25519", {"public": pub_hex})
    ok = False
    for s in env["signatures"]:
        sig_hex = base64.b64decode(s["sig"]).hex()
        try:
            key.verify_signature(Signature(computed, sig_hex), data)
            ok = True
        except Exception as e:  # UnverifiedSignatureError and friends
            print("signature does not verify: %r" % e, file=sys.stderr)
    stmt = json.loads(body)
    assert stmt["_type"] == "https://in-toto.io/Statement/v1", stmt["_type"]
    subjects = {s["name"]: s["digest"]["sha256"] for s in stmt["subject"]}
    print(json.dumps({"verified": ok, "keyid": computed, "payloadType": env["payloadType"],
                      "predicateType": stmt["predicateType"], "subjects": subjects}))
    sys.exit(0 if ok else 1)


main()
