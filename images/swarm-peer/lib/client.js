'use strict'
// The reference client: opens the recorded base by key, pins the host, replicates, optionally
// asks the host to make it a writer.
const fs = require('fs')
const path = require('path')
const Corestore = require('corestore')
const Autobase = require('autobase')
const log = require('./log')
const { bootstrapTopic } = require('./identity')
const { createMetrics } = require('./metrics')
const { createStatusServer } = require('./status-server')
const { createSwarm, withTimeout } = require('./swarm')
const { handlers } = require('./app')
const { readLog } = require('./host')
const signed = require('./signed')
const offer = require('./offer')

async function runClient (cfg) {
  const started = Date.now()
  const metrics = createMetrics('client')
  const bootTopic = bootstrapTopic(cfg.topic)
  fs.mkdirSync(cfg.dataDir, { recursive: true })

  const st = {
    baseKey: cfg.baseKey,
    hostConnected: false,
    replicated: false,
    closing: false,
    offersIgnored: 0,
    conflictingOffers: 0
  }
  const hostConns = new Set()
  const store = new Corestore(path.join(cfg.dataDir, 'corestore'))
  let base = null
  let baseReady = false
  let onOffer = null

  const swarm = createSwarm({ bootstrap: cfg.bootstrap, dhtHost: cfg.dhtHost })
  let firstPeer = false
  swarm.on('connection', (conn) => {
    try { onConnection(conn) } catch (err) { log.error('connection handler failed', { error: err.stack }) }
  })
  function onConnection (conn) {
    const remote = conn.remotePublicKey.toString('hex')
    const isHost = cfg.hostPublicKey ? remote === cfg.hostPublicKey : true
    metrics.connections.set(swarm.connections.size)
    conn.on('error', () => {})
    conn.on('close', () => {
      metrics.connections.set(swarm.connections.size)
      hostConns.delete(conn)
      st.hostConnected = hostConns.size > 0
    })
    if (isHost) {
      hostConns.add(conn)
      st.hostConnected = true
      if (!firstPeer) {
        firstPeer = true
        const s = (Date.now() - started) / 1000
        metrics.firstPeer.observe(s)
        log.info('connected to host', { firstPeerSeconds: s })
      }
    }
    store.replicate(conn)
    const ch = offer.attach(conn, (m) => onMessage(m, remote, isHost))
    if (ch && isHost) {
      conn.offerChannel = ch
      maybeRequestWriter(ch)
    }
  }


  function onMessage (m, remote, isHost) {
    if (m.type !== 'offer') return
    const payload = signed.verify(m.envelope, cfg.hostPublicKey)
    // A usable offer is signed by the pinned host, over the connection to the pinned host.
    if (!payload || !isHost || (cfg.hostPublicKey && m.envelope.publicKey !== remote) || payload.topic !== cfg.topic) {
      st.offersIgnored++
      metrics.offersIgnored.inc()
      log.warn('key offer ignored', { from: remote.slice(0, 16), reason: !payload ? 'not signed by the pinned host' : 'wrong peer or topic' })
      return
    }
    if (st.baseKey && payload.baseKey !== st.baseKey) {
      st.conflictingOffers++
      metrics.offersIgnored.inc()
      log.warn('pinned host offers another base key; keeping the configured one', { offered: payload.baseKey, kept: st.baseKey })
      return
    }
    if (onOffer) onOffer(payload)
  }

  function maybeRequestWriter (ch) {
    if (!cfg.requestWriter || !baseReady || base.writable || st.closing) return
    ch.send({ type: 'writer-request', key: base.local.key.toString('hex') })
  }

  // Without a configured key (SWARM_REQUIRE_BOOTSTRAP=false), wait for the pinned host's offer.
  const dBoot = swarm.join(bootTopic, { server: false, client: true })
  if (!st.baseKey) {
    log.info('waiting for a key offer from the pinned host', { hostPublicKey: cfg.hostPublicKey })
    const got = new Promise((resolve) => { onOffer = (p) => resolve(p) })
    const p = cfg.offerTimeoutMs ? await withTimeout(got, cfg.offerTimeoutMs, null) : await got
    if (!p) throw new Error(`no key offer from the pinned host within ${cfg.offerTimeoutMs} ms`)
    st.baseKey = p.baseKey
    onOffer = null
    log.info('base key offered by the pinned host', { baseKey: st.baseKey })
  }

  base = new Autobase(store, Buffer.from(st.baseKey, 'hex'), handlers())
  await base.ready()
  baseReady = true
  for (const conn of hostConns) if (conn.offerChannel) maybeRequestWriter(conn.offerChannel)
  const writerKey = base.local.key.toString('hex')
  log.info('base open', { baseKey: st.baseKey, writerKey, writable: base.writable })
  base.on('writable', () => log.info('writable', { writerKey }))

  const dBase = swarm.join(base.discoveryKey, { server: false, client: true })

  // Catch up: the view has data from the host once replication has run.
  const onUpdate = () => {
    metrics.viewLength.set(base.view.length)
    if (!st.replicated && st.hostConnected && base.view.length > 0) {
      st.replicated = true
      const s = (Date.now() - started) / 1000
      metrics.replicated.observe(s)
      log.info('replicated', { replicatedSeconds: s, viewLength: base.view.length })
    }
  }
  base.on('update', onUpdate)
  const poll = setInterval(() => {
    if (st.closing) return
    base.update().then(onUpdate, () => {})
    metrics.dhtOnline.set(swarm.dht.online ? 1 : 0)
    for (const conn of hostConns) if (conn.offerChannel && !base.writable && Date.now() - (conn.lastWriterRequest || 0) > 5000) {
      conn.lastWriterRequest = Date.now()
      maybeRequestWriter(conn.offerChannel)
    }
  }, 500)
  onUpdate()

  function computeReady () {
    const online = swarm.dht.online
    metrics.dhtOnline.set(online ? 1 : 0)
    let reason = null
    if (!st.hostConnected) reason = 'not connected to the host'
    else if (!st.replicated) reason = 'base not replicated yet'
    const ready = reason === null && !st.closing
    metrics.ready.set(ready ? 1 : 0)
    return { ready, reason: st.closing ? 'shutting down' : reason }
  }

  const status = createStatusServer({
    port: cfg.statusPort,
    metrics,
    log,
    handlers: {
      ready: computeReady,
      status: () => ({
        role: 'client',
        topic: cfg.topic,
        bootstrapTopicHash: bootTopic.toString('hex'),
        baseKey: st.baseKey,
        writerKey,
        discoveryKey: base.discoveryKey.toString('hex'),
        hostPublicKey: cfg.hostPublicKey,
        hostConnected: st.hostConnected,
        replicated: st.replicated,
        viewLength: base.view.length,
        writable: base.writable,
        peers: swarm.connections.size,
        offersIgnored: st.offersIgnored,
        conflictingOffers: st.conflictingOffers
      }),
      append: async (value) => {
        if (!base.writable) return { code: 409, body: { error: 'this client is not (yet) a writer of the base' } }
        await base.append({ ...value, type: 'put', at: new Date().toISOString(), by: writerKey })
        await base.update()
        return { code: 200, body: { ok: true, viewLength: base.view.length } }
      },
      log: async (start) => readLog(base, start)
    }
  })
  const port = await status.listen()
  log.info('status server listening', { port })

  return async function close () {
    st.closing = true
    clearInterval(poll)
    await status.close()
    await withTimeout(Promise.all([swarm.leave(bootTopic), swarm.leave(base.discoveryKey)]), 5000)
    await withTimeout(swarm.destroy(), 5000)
    await base.close()
    await store.close()
    if (cfg.ephemeralDataDir) fs.rmSync(cfg.dataDir, { recursive: true, force: true })
    log.info('closed')
  }
}

module.exports = { runClient }
