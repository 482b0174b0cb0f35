'use strict'
// Signed envelopes: {payload: "<JSON text>", signature: hex(ed25519(payload bytes)), publicKey: hex}.
const crypto = require('hypercore-crypto')

function sign (obj, keyPair) {
  const payload = JSON.stringify(obj)
  const signature = crypto.sign(Buffer.from(payload, 'utf8'), keyPair.secretKey)
  return { payload, signature: signature.toString('hex'), publicKey: keyPair.publicKey.toString('hex') }
}

// Returns the parsed payload, or null when the envelope is malformed or does not verify.
function verify (envelope, expectedPublicKeyHex = null) {
  try {
    if (!envelope || typeof envelope.payload !== 'string') return null
    if (!/^[0-9a-f]{64}$/.test(envelope.publicKey) || !/^[0-9a-f]{128}$/.test(envelope.signature)) return null
    if (expectedPublicKeyHex && envelope.publicKey !== expectedPublicKeyHex) return null
    const ok = crypto.verify(Buffer.from(envelope.payload, 'utf8'), Buffer.from(envelope.signature, 'hex'), Buffer.from(envelope.publicKey, 'hex'))
    if (!ok) return null
    return JSON.parse(envelope.payload)
  } catch {
    return null
  }
}

module.exports = { sign, verify }
