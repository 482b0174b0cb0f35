#!/usr/bin/env node
'use strict'
// Cold-start benchmark on a loopback DHT testnet (not a test). Prints:
//  - host announce-flush time (as the host reports it),
//  - client time-to-first-peer and time-to-replicated p50/p95 for N parallel clients,
//  - the split-brain baseline: N peers started at once with no host, each looking on the
//    bootstrap topic for a key offer for 2 s and creating its own Autobase when none answers,
//    versus the ordered start (host first, clients by key).
// Bounded: every wait has a deadline; all child processes are stopped at the end.
const fs = require('fs')
const path = require('path')
const Corestore = require('corestore')
const Autobase = require('autobase')
const h = require('../test/helpers')
const { createSwarm } = require('../lib/swarm')
const { bootstrapTopic } = require('../lib/identity')
const { logApp } = require('../lib/log-app')
const offer = require('../lib/offer')
const signed = require('../lib/signed')

const SIZES = (process.env.BENCH_CLIENTS || '10,50').split(',').map(Number)
const NAIVE_PEERS = Number(process.env.BENCH_NAIVE_PEERS || 10)

function pct (values, p) {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

function logField (child, msg, field) {
  for (const line of child.stdoutText.split('\n')) {
    if (!line.includes(`"msg":"${msg}"`)) continue
    try { return JSON.parse(line)[field] } catch {}
  }
  return null
}

async function orderedStart (boot, n) {
  const topic = `bench-${n}-${Date.now()}`
  const dir = h.tmpdir('swarm-peer-bench-')
  const host = await h.startHost({ topic, bootstrap: boot.address, dataDir: path.join(dir, 'host'), seed: h.seedFile(dir) })
  const s = await h.hostStatus(host.statusPort)
  await h.post(host.appPort, '/append', { key: 'bench', value: n })
  const clients = await Promise.all(Array.from({ length: n }, () => h.startClient({
    topic, bootstrap: boot.address, baseKey: s.payload.baseKey, hostPublicKey: s.envelope.publicKey, waitReady: false,
    env: { SWARM_REQUEST_WRITER: 'false' }
  })))
  await Promise.all(clients.map((c) => h.waitFor(async () => logField(c.child, 'replicated', 'replicatedSeconds') !== null, 180000, 'client replicated', c.child)))
  const first = clients.map((c) => logField(c.child, 'connected to host', 'firstPeerSeconds'))
  const repl = clients.map((c) => logField(c.child, 'replicated', 'replicatedSeconds'))
  const keys = new Set()
  for (const c of clients) keys.add((await h.get(c.statusPort, '/status')).body.baseKey)
  await Promise.all([...clients, host].map((p) => h.stop(p.child)))
  fs.rmSync(dir, { recursive: true, force: true })
  return { n, announceSeconds: s.payload.announceSeconds, first, repl, distinctKeys: keys.size }
}

// The problem statement: no ordering. Each peer looks 2 s for an offer, else creates a base.
async function naivePeer (bootstrapAddr, topic, dir) {
  const store = new Corestore(dir)
  const swarm = createSwarm({ bootstrap: [bootstrapAddr], dhtHost: '127.0.0.1', firewalled: false })
  let base = null
  let offered = null
  const waiting = new Set() // offers to send once this peer has a base
  swarm.on('connection', (conn) => {
    conn.on('error', () => {})
    store.replicate(conn)
    const ch = offer.attach(conn, (m) => {
      if (m.type !== 'offer' || base) return
      const p = signed.verify(m.envelope)
      if (p && !offered) offered = p.baseKey
    })
    if (ch) {
      const send = () => { if (base) ch.send({ type: 'offer', envelope: signed.sign({ topic, baseKey: base.key.toString('hex') }, swarm.keyPair) }) }
      if (base) send(); else waiting.add(send)
    }
  })
  const t = bootstrapTopic(topic)
  swarm.join(t, { server: true, client: true })
  const deadline = Date.now() + 2000
  while (!offered && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  base = new Autobase(store, offered ? Buffer.from(offered, 'hex') : null, { valueEncoding: 'json', open: logApp.open, apply: logApp.apply })
  await base.ready()
  for (const send of waiting) send()
  const key = base.key.toString('hex')
  return { key, adopted: !!offered, close: async () => { await swarm.destroy(); await base.close(); await store.close() } }
}

async function main () {
  const t0 = Date.now()
  const boot = await h.startBootstrap()
  console.log(`loopback testnet: dht-bootstrap at ${boot.address}`)
  try {
    for (const n of SIZES) {
      const r = await orderedStart(boot, n)
      const f = (x) => x.toFixed(3)
      console.log(`ordered start, ${n} parallel clients: host announce flush ${f(r.announceSeconds)} s; ` +
        `first peer p50 ${f(pct(r.first, 50))} s p95 ${f(pct(r.first, 95))} s; ` +
        `replicated p50 ${f(pct(r.repl, 50))} s p95 ${f(pct(r.repl, 95))} s; distinct base keys ${r.distinctKeys}`)
    }
    const topic = 'naive-' + Date.now()
    const dir = h.tmpdir('swarm-peer-naive-')
    const peers = await Promise.all(Array.from({ length: NAIVE_PEERS }, (_, i) => naivePeer(boot.address, topic, path.join(dir, 'p' + i))))
    const keys = new Set(peers.map((p) => p.key))
    console.log(`unordered start (baseline), ${NAIVE_PEERS} peers at once, 2 s offer wait: distinct base keys ${keys.size} ` +
      `(adopted an offer: ${peers.filter((p) => p.adopted).length}) -- ordered start above: 1`)
    await Promise.all(peers.map((p) => p.close()))
    fs.rmSync(dir, { recursive: true, force: true })
  } finally {
    await h.stopAll()
  }
  console.log(`bench done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  process.exit(0)
}

main().catch(async (err) => { console.error(err); await h.stopAll(); process.exit(1) })
