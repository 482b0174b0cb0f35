'use strict'
// The topic's membership credential (the `<topic>-member` Secret, 32 bytes) and what is
// derived from it:
//  - the blind-pairing invite of the base: createInvite(baseKey, {seed}); host and members
//    derive the same one, so only the seed is ever distributed;
//  - the key-offer proof: HMAC-SHA256(seed', hostPublicKey || peerPublicKey), sent by a member
//    on the key-offer channel before it knows the base key. Both public keys are the ones the
//    Noise handshake authenticated, so a proof cannot be replayed by another key pair.
const crypto = require('crypto')
const BlindPairing = require('blind-pairing')

const PROOF_CONTEXT = 'swarm-operator/key-offer-proof/v1'

function deriveInvite (baseKey, seed) {
  return BlindPairing.createInvite(baseKey, { seed })
}

function offerProof (seed, hostPublicKey, peerPublicKey) {
  const key = crypto.createHmac('sha256', seed).update(PROOF_CONTEXT).digest()
  return crypto.createHmac('sha256', key).update(hostPublicKey).update(peerPublicKey).digest('hex')
}

function verifyOfferProof (seed, hostPublicKey, peerPublicKey, proof) {
  if (!seed || typeof proof !== 'string' || !/^[0-9a-f]{64}$/.test(proof)) return false
  const want = Buffer.from(offerProof(seed, hostPublicKey, peerPublicKey), 'hex')
  return crypto.timingSafeEqual(want, Buffer.from(proof, 'hex'))
}

module.exports = { deriveInvite, offerProof, verifyOfferProof }
