'use strict'
// The bootstrap host: owns (or rejoins) the Autobase, announces it, proves what it announced.
const fs = require('fs')
const path = require('path')
const Corestore = require('corestore')
const Autobase = require('autobase')
const log = require('./log')
const { fromSeed, bootstrapTopic } = require('./identity')
const { createMetrics } = require('./metrics')
const { createStatusServer } = require('./status-server')
const { createSwarm, isAnnounced, withTimeout } = require('./swarm')
const { handlers } = require('./app')
const signed = require('./signed')
const offer = require('./offer')

class FatalError extends Error {}

const STATE_FILE = 'swarm-peer.json'

function readState (dataDir) {
  const file = path.join(dataDir, STATE_FILE)
  if (!fs.existsSync(file)) return null
  const s = JSON.parse(fs.readFileSync(file, 'utf8'))
  if (!s || !/^[0-9a-f]{64}$/.test(s.baseKey)) throw new FatalError(`${file} is corrupt: no baseKey`)
  return s
}

function writeState (dataDir, state) {
  const file = path.join(dataDir, STATE_FILE)
  const tmp = file + '.tmp'
  const fd = fs.openSync(tmp, 'w')
  fs.writeSync(fd, JSON.stringify(state) + '\n')
  fs.fsyncSync(fd)
  fs.closeSync(fd)
  fs.renameSync(tmp, file)
}

async function runHost (cfg) {
  const started = Date.now()
  const metrics = createMetrics('host')
  const keyPair = fromSeed(cfg.seed)
  const bootTopic = bootstrapTopic(cfg.topic)
  fs.mkdirSync(cfg.dataDir, { recursive: true })

  // Which base: the one on disk, else SWARM_BASE_KEY (rejoin), else a new one.
  const state = readState(cfg.dataDir)
  let openKey = null
  let mode
  if (state) {
    if (cfg.baseKey && cfg.baseKey !== state.baseKey) {
      throw new FatalError(`SWARM_BASE_KEY ${cfg.baseKey} differs from the base on disk ${state.baseKey} in ${cfg.dataDir}; refusing to start`)
    }
    openKey = Buffer.from(state.baseKey, 'hex')
    mode = 'reopen'
  } else if (cfg.baseKey) {
    openKey = Buffer.from(cfg.baseKey, 'hex')
    mode = 'rejoin'
  } else {
    mode = 'create'
  }

  const store = new Corestore(path.join(cfg.dataDir, 'corestore'))
  const base = new Autobase(store, openKey, handlers())
  await base.ready()
  const baseKey = base.key.toString('hex')
  if (!state) writeState(cfg.dataDir, { baseKey, topic: cfg.topic, createdAt: new Date().toISOString(), mode })
  if (mode === 'create' && base.writable && base.view.length === 0) {
    await base.append({ type: 'genesis', topic: cfg.topic, at: new Date().toISOString() })
  }
  const writerKey = base.local.key.toString('hex')
  const discoveryKey = base.discoveryKey.toString('hex')
  log.info('base open', { mode, baseKey, writerKey, discoveryKey, writable: base.writable, publicKey: keyPair.publicKey.toString('hex') })

  const st = {
    flushed: { bootstrap: false, base: false },
    announced: false,
    announcedAt: null,
    announceSeconds: null,
    dhtOnline: true,
    reason: 'announcing',
    closing: false
  }
  const requestedWriters = new Set()
  metrics.viewLength.set(base.view.length)
  base.on('update', () => metrics.viewLength.set(base.view.length))

  const swarm = createSwarm({ bootstrap: cfg.bootstrap, dhtHost: cfg.dhtHost, keyPair, firewalled: false })
  let firstPeer = false
  swarm.on('connection', (conn) => {
    try { onConnection(conn) } catch (err) { log.error('connection handler failed', { error: err.stack }) }
  })
  function onConnection (conn) {
    log.info('peer connected', { peers: swarm.connections.size })
    metrics.connections.set(swarm.connections.size)
    if (!firstPeer) { firstPeer = true; metrics.firstPeer.observe((Date.now() - started) / 1000) }
    conn.on('error', () => {})
    conn.on('close', () => metrics.connections.set(swarm.connections.size))
    store.replicate(conn)
    const ch = offer.attach(conn, (m) => onPeerMessage(m, conn))
    if (ch) {
      ch.send({ type: 'offer', envelope: keyOffer() })
      metrics.offersSent.inc()
    }
  }


  function keyOffer () {
    return signed.sign({
      type: 'key-offer',
      topic: cfg.topic,
      bootstrapTopicHash: bootTopic.toString('hex'),
      baseKey,
      writerKey,
      discoveryKey,
      at: new Date().toISOString()
    }, keyPair)
  }

  async function onPeerMessage (m, conn) {
    if (m.type !== 'writer-request' || !cfg.acceptWriters) return
    if (typeof m.key !== 'string' || !/^[0-9a-f]{64}$/.test(m.key) || m.key === writerKey) return
    if (requestedWriters.has(m.key) || !base.writable || st.closing) return
    requestedWriters.add(m.key)
    try {
      await base.append({ type: 'add-writer', key: m.key })
      metrics.writersAdded.inc()
      log.info('writer added', { writerKey: m.key, peer: conn.remotePublicKey.toString('hex') })
    } catch (err) {
      requestedWriters.delete(m.key)
      log.warn('adding writer failed', { error: err.message })
    }
  }

  const dBoot = swarm.join(bootTopic, { server: true, client: false })
  const dBase = swarm.join(base.discoveryKey, { server: true, client: false })

  function computeReady () {
    const online = swarm.dht.online
    metrics.dhtOnline.set(online ? 1 : 0)
    let reason = null
    if (!st.flushed.bootstrap || !st.flushed.base) reason = 'announce not flushed'
    else if (!st.announced) reason = 'own announce missing on the DHT'
    else if (!online) reason = 'DHT offline'
    else if (!swarm.server || swarm.server.relayAddresses.length === 0) reason = 'no relay addresses'
    const ready = reason === null && !st.closing
    metrics.ready.set(ready ? 1 : 0)
    return { ready, reason: st.closing ? 'shutting down' : reason }
  }

  async function waitRelays (ms) {
    for (const t = Date.now() + ms; swarm.server && swarm.server.relayAddresses.length === 0 && Date.now() < t;) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return !!swarm.server && swarm.server.relayAddresses.length > 0
  }

  // Serve /healthz (and a 503 /readyz) from the start: a first announce on a cold or absent
  // DHT can take minutes, and a liveness probe must not kill the host meanwhile.
  const status = createStatusServer({
    port: cfg.statusPort,
    metrics,
    log,
    handlers: {
      ready: () => computeReady(),
      status: () => {
        if (!st.announcedAt) return null
        return signed.sign({
          role: 'host',
          topic: cfg.topic,
          bootstrapTopicHash: bootTopic.toString('hex'),
          baseKey,
          writerKey,
          discoveryKey,
          announcedAt: st.announcedAt,
          announceSeconds: st.announceSeconds,
          peers: swarm.connections.size,
          writable: base.writable,
          viewLength: base.view.length
        }, keyPair)
      },
      append: async (value) => {
        if (!base.writable) return { code: 409, body: { error: 'this host is not a writer of the base' } }
        await base.append({ ...value, type: 'put', at: new Date().toISOString(), by: writerKey })
        await base.update()
        return { code: 200, body: { ok: true, viewLength: base.view.length } }
      },
      log: async (start) => readLog(base, start)
    }
  })
  const port = await status.listen()
  computeReady()
  log.info('status server listening', { port })

  // First announce: both flushed() must return true.
  const t0 = Date.now()
  const [fb, fd] = await Promise.all([dBoot.flushed(), dBase.flushed()])
  st.flushed.bootstrap = fb
  st.flushed.base = fd
  if (fb && fd) {
    await waitRelays(10000)
    st.announced = true
    st.announceSeconds = (Date.now() - t0) / 1000
    st.announcedAt = new Date().toISOString()
    metrics.announceFlush.observe(st.announceSeconds)
    log.info('announced', { announceSeconds: st.announceSeconds, relays: swarm.server.relayAddresses.length })
  } else {
    log.warn('first announce did not flush; the watchdog retries', { bootstrap: fb, base: fd })
  }

  // Watchdog: look our own announces up; when one is missing refresh the server (relays)
  // then re-announce.
  let watchdogRunning = false
  async function watchdog () {
    if (watchdogRunning || st.closing) return
    watchdogRunning = true
    try {
      const results = []
      for (const [name, topic, d] of [['bootstrap', bootTopic, dBoot], ['base', base.discoveryKey, dBase]]) {
        let ok = await isAnnounced(swarm, topic, 10000)
        if (!ok && !st.closing) {
          log.warn('own announce missing, re-announcing', { topic: name })
          metrics.reannounces.inc()
          swarm.server.refresh()
          await waitRelays(5000)
          await withTimeout(d.refresh({ server: true, client: false }), 20000)
          const flushed = await withTimeout(d.flushed(), 20000, false)
          ok = flushed && await isAnnounced(swarm, topic, 10000)
        }
        st.flushed[name] = st.flushed[name] || ok
        results.push(ok)
      }
      if (results.every(Boolean) && swarm.server.relayAddresses.length === 0 && !st.closing) {
        // Announces that flushed while the DHT was coming back can carry no relays: a lookup
        // finds them, yet nobody can connect. Refresh the server first, then re-announce.
        log.warn('no relay addresses, refreshing the server and re-announcing')
        metrics.reannounces.inc()
        swarm.server.refresh()
        await waitRelays(5000)
        for (const d of [dBoot, dBase]) await withTimeout(d.refresh({ server: true, client: false }), 20000)
      }
      const ok = results.every(Boolean) && swarm.server.relayAddresses.length > 0
      if (ok && !st.announced) {
        st.announceSeconds = st.announceSeconds ?? (Date.now() - t0) / 1000
        if (!st.announcedAt) metrics.announceFlush.observe(st.announceSeconds)
        st.announcedAt = new Date().toISOString()
        log.info('announce verified again', { announcedAt: st.announcedAt })
      }
      st.announced = ok
      if (!ok) log.warn('announce not verified', { results })
    } catch (err) {
      st.announced = false
      log.warn('watchdog failed', { error: err.message })
    } finally {
      watchdogRunning = false
      computeReady()
    }
  }
  const timer = setInterval(watchdog, cfg.watchdogIntervalMs)
  if (!st.announced) setImmediate(watchdog)
  swarm.dht.on('network-update', () => computeReady())


  return async function close () {
    st.closing = true
    clearInterval(timer)
    log.info('shutting down')
    await status.close()
    await withTimeout(Promise.all([swarm.leave(bootTopic), swarm.leave(base.discoveryKey)]), 5000)
    await withTimeout(swarm.destroy(), 5000)
    const viewLength = base.view.length
    await base.close()
    await store.close()
    log.info('closed', { viewLength })
  }
}

async function readLog (base, start) {
  await base.update()
  const length = base.view.length
  const entries = []
  for (let i = Math.max(0, start); i < length && entries.length < 1000; i++) entries.push(await base.view.get(i))
  return { length, start, entries }
}

module.exports = { runHost, readLog, FatalError }
