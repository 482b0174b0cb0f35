'use strict'
// The host identity: an ed25519 key pair from a 32-byte seed. Used as the swarm key pair only,
// never as the Corestore primary key.
const crypto = require('hypercore-crypto')

function fromSeed (seed) {
  if (!Buffer.isBuffer(seed) || seed.length !== 32) throw new Error('identity seed must be 32 bytes')
  return crypto.keyPair(seed)
}

function topicHash (text) {
  return crypto.hash(Buffer.from(text, 'utf8'))
}

function bootstrapTopic (topic) {
  return topicHash(topic + ':bootstrap')
}

module.exports = { fromSeed, topicHash, bootstrapTopic }
