'use strict'
// One Hyperswarm per process, on a DHT built from the SWARM_DHT_* settings.
const Hyperswarm = require('hyperswarm')
const DHT = require('hyperdht')

function createSwarm ({ bootstrap, dhtHost, keyPair, firewalled }) {
  const dhtOpts = {}
  if (bootstrap) dhtOpts.bootstrap = bootstrap
  if (dhtHost) dhtOpts.host = dhtHost
  if (keyPair) dhtOpts.keyPair = keyPair
  if (firewalled === false) dhtOpts.firewalled = false
  const dht = new DHT(dhtOpts)
  const opts = { dht }
  if (keyPair) opts.keyPair = keyPair
  return new Hyperswarm(opts)
}

function withTimeout (promise, ms, fallback) {
  let t
  return Promise.race([
    promise,
    new Promise((resolve) => { t = setTimeout(() => resolve(fallback), ms) })
  ]).finally(() => clearTimeout(t))
}

// Is our own public key among the peers the DHT returns for `topic`?
async function isAnnounced (swarm, topic, timeoutMs = 10000) {
  const lookup = async () => {
    const stream = swarm.dht.lookup(topic)
    try {
      for await (const d of stream) {
        if (d.peers.some((p) => p.publicKey.equals(swarm.keyPair.publicKey))) {
          stream.destroy()
          return true
        }
      }
    } catch {
      return false
    }
    return false
  }
  return withTimeout(lookup(), timeoutMs, false)
}

module.exports = { createSwarm, isAnnounced, withTimeout }
