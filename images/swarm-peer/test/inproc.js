'use strict'
// In-process helpers: Host and Member instances on a loopback hyperdht testnet.
const crypto = require('crypto')
const createTestnet = require('hyperdht/testnet')
const { Host, Member } = require('..')
const { logApp } = require('../lib/log-app')
const { tmpdir } = require('./helpers')

// A loop that never yields starves every timeout: a worker reports it (test/watchdog.js).
require('./watchdog').start()

const closers = []

// DEBUG_PEER=1 prints the peers' JSON logs.
const log = process.env.DEBUG_PEER ? debugLog() : undefined

function debugLog () {
  const write = (level) => (msg, fields) => process.stdout.write(JSON.stringify({ level, msg, ...fields }) + '\n')
  return { info: write('info'), warn: write('warn'), error: write('error') }
}

// closeAll() destroys it after the peers.
async function testnet () {
  const net = await createTestnet(3, { host: '127.0.0.1' })
  const bootstrap = net.bootstrap.map((b) => `${b.host}:${b.port}`)
  closers.unshift({ close: () => net.destroy() })
  return { net, bootstrap }
}

// A topic's secrets: member seed, encryption key, host 0's identity seed, the host invite seed and
// one identity seed per ordinal (seeds[0] === seed).
function secrets () {
  const seeds = Array.from({ length: 5 }, () => crypto.randomBytes(32))
  return { memberSeed: crypto.randomBytes(32), encryptionKey: crypto.randomBytes(32), seed: seeds[0], seeds, hostSeed: crypto.randomBytes(32) }
}

// Each peer's close is bounded: after a test timed out (node:test's `timeout`, helpers.js
// normally()) its peers may be stuck in ready(), and a close waits for an open in flight. A peer
// that does not close in time is named with what it was doing, and left behind (npm test runs with
// --test-force-exit).
const CLOSE_MS = 30000

async function closeAll () {
  for (const p of closers.splice(0).reverse()) {
    const stuck = p.opened === false ? describe(p) : null
    let timer
    const closed = await Promise.race([
      Promise.resolve().then(() => p.close()).then(() => true, () => true),
      new Promise((resolve) => { timer = setTimeout(resolve, CLOSE_MS, false) })
    ]).finally(() => clearTimeout(timer))
    if (stuck) process.stderr.write(`closeAll: a peer was still opening: ${stuck}\n`)
    if (!closed) process.stderr.write(`closeAll: a peer did not close within ${CLOSE_MS} ms, left behind: ${describe(p)}\n`)
  }
}

// What a peer is doing, for the messages above.
function describe (p) {
  const d = { role: p.role || 'testnet', ordinal: p.ordinal, opened: p.opened, closing: !!p.closing, closed: p.closed }
  try {
    if (p.readiness) d.reason = p.readiness().reason
    if (p.restore) d.restore = p.restore
    if (p.base && p.base.view) Object.assign(d, { baseLength: p.base.length, viewLength: p.base.view.length, signedLength: p.base.view.signedLength })
  } catch (err) {
    d.error = err.message
  }
  return JSON.stringify(d)
}

// Host `ordinal` (default 0) of `replicas` (default 1); hosts >= 1 need `baseKey`.
async function startHost ({ bootstrap, topic, secret, app = logApp, ordinal = 0, ...rest }) {
  const h = new Host({
    topic, bootstrap, dhtHost: '127.0.0.1', dataDir: tmpdir() + '/host', seed: secret.seeds ? secret.seeds[ordinal] : secret.seed,
    memberSeed: secret.memberSeed, encryptionKey: secret.encryptionKey, hostSeed: secret.hostSeed || null, writersPolicy: 'Clients',
    acceptWriters: true, writerIdleMs: 900000, pairingPollMs: 2000, watchdogIntervalMs: 30000, baseKey: null, app, log, ordinal, ...rest
  })
  closers.push(h)
  await h.ready()
  return h
}

// host-0 creates the base, hosts 1..n-1 rejoin it on its key; resolves once all are indexers
// and every host sees n of them.
async function startHosts ({ bootstrap, topic, secret, n = 3, ...rest }) {
  const h0 = await startHost({ bootstrap, topic, secret, replicas: n, ...rest })
  const baseKey = h0.base.key.toString('hex')
  const others = await Promise.all(Array.from({ length: n - 1 }, (_, i) => startHost({ bootstrap, topic, secret, replicas: n, ordinal: i + 1, baseKey, ...rest })))
  const hosts = [h0, ...others]
  await until(() => allIndexers(hosts, n), 180000, `${n} hosts indexers`)
  return hosts
}

function allIndexers (hosts, n) {
  return hosts.every((h) => h.opened && h.base && h.base.system && h.isIndexer() && h.base.isIndexer && h.base.system.indexers.length === n && h.base.system.pendingIndexers.length === 0)
}

// `host` gives the base key and the pinned host key (or pass baseKey/hostPublicKey in `rest`).
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

// Autobase swaps its system and view cores while it reorganises (a host added, a key removed): a
// read that lands on the core being closed throws SESSION_CLOSED; it is "not yet", read again.
async function until (fn, ms, what) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    let v
    try {
      v = await fn()
    } catch (err) {
      if (err.code !== 'SESSION_CLOSED') throw err
    }
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

module.exports = { testnet, secrets, startHost, startHosts, allIndexers, startMember, closeAll, until, viewHas }
