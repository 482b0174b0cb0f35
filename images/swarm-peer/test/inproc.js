'use strict'
// In-process helpers: Host and Member instances on a loopback hyperdht testnet.
const crypto = require('crypto')
const createTestnet = require('hyperdht/testnet')
const { Host, Member } = require('..')
const { logApp } = require('../lib/log-app')
const { tmpdir } = require('./helpers')

const closers = []

// DEBUG_PEER=1 prints the peers' JSON logs.
const log = process.env.DEBUG_PEER ? require('../lib/log') : undefined

// closeAll() destroys it after the peers.
async function testnet () {
  const net = await createTestnet(3, { host: '127.0.0.1' })
  const bootstrap = net.bootstrap.map((b) => `${b.host}:${b.port}`)
  closers.unshift({ close: () => net.destroy() })
  return { net, bootstrap }
}

function secrets () {
  return { memberSeed: crypto.randomBytes(32), encryptionKey: crypto.randomBytes(32), seed: crypto.randomBytes(32) }
}

async function closeAll () {
  for (const p of closers.splice(0).reverse()) await p.close().catch(() => {})
}

async function startHost ({ bootstrap, topic, secret, app = logApp, ...rest }) {
  const h = new Host({
    topic, bootstrap, dhtHost: '127.0.0.1', dataDir: tmpdir() + '/host', seed: secret.seed,
    memberSeed: secret.memberSeed, encryptionKey: secret.encryptionKey, writersPolicy: 'Clients',
    acceptWriters: true, writerIdleMs: 900000, pairingPollMs: 2000, watchdogIntervalMs: 30000, baseKey: null, app, log, ...rest
  })
  closers.push(h)
  await h.ready()
  return h
}

async function startMember ({ bootstrap, topic, host, secret, app = logApp, ...rest }) {
  const m = new Member({
    topic, bootstrap, dhtHost: '127.0.0.1', dataDir: tmpdir() + '/member', ephemeralDataDir: true,
    baseKey: host ? host.base.key.toString('hex') : null, hostPublicKey: host ? host.keyPair.publicKey.toString('hex') : null,
    requireBootstrap: true, memberSeed: secret.memberSeed, encryptionKey: secret.encryptionKey, writersPolicy: 'Clients', app, log, ...rest
  })
  closers.push(m)
  await m.ready()
  return m
}

async function until (fn, ms, what) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const v = await fn()
    if (v) return v
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('timed out waiting for ' + what)
}

async function viewHas (peer, pred) {
  await peer.base.update()
  for (let i = 0; i < peer.base.view.length; i++) if (pred(await peer.base.view.get(i))) return true
  return false
}

module.exports = { testnet, secrets, startHost, startMember, closeAll, until, viewHas }
