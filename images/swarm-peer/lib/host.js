'use strict'
// The bootstrap host: owns (or rejoins) the topic's Autobase, announces it, admits writers by
// policy, sweeps idle writers and signs what it reports. The status port can serve it before
// ready() resolves the first announce (`status()` is null until then).
const fs = require('fs')
const path = require('path')
const Corestore = require('corestore')
const ReadyResource = require('ready-resource')
const quiet = require('./quiet-log')
const { createMetrics } = require('./metrics')
const { fromSeed, bootstrapTopic } = require('./identity')
const { baseOptions } = require('./base-options')
const { openHostBase } = require('./host-base')
const { verifyOfferProof } = require('./membership')
const Replicator = require('./replicator')
const Announcer = require('./announcer')
const Admission = require('./admission')
const WriterRegistry = require('./writer-registry')
const signed = require('./signed')

class Host extends ReadyResource {
  // opts: the host config (lib/config.js) plus {app: {open, apply, genesis?}, log, metrics}
  constructor (opts) {
    super()
    this.role = 'host'
    this.opts = opts
    this.log = opts.log || quiet
    this.metrics = opts.metrics || createMetrics('host')
    this.keyPair = fromSeed(opts.seed)
    this.bootTopic = bootstrapTopic(opts.topic)
    this.store = null
    this.base = null
    this.replicator = null
    this.announcer = null
    this.admission = null
    this.registry = null
    this.firstPeer = false
  }

  get writerKey () { return this.base.local.key.toString('hex') }

  async _open () {
    const o = this.opts
    fs.mkdirSync(o.dataDir, { recursive: true })
    this.store = new Corestore(path.join(o.dataDir, 'corestore'))
    const opts = baseOptions(o.app, { encryptionKey: o.encryptionKey, log: this.log, metrics: this.metrics })
    const { base, mode, encrypted } = await openHostBase(this.store, { dataDir: o.dataDir, baseKey: o.baseKey, topic: o.topic, opts, genesis: o.app.genesis, log: this.log })
    this.base = base
    this.mode = mode
    this.encrypted = encrypted
    this.log.info('base open', { mode, encrypted, baseKey: base.key.toString('hex'), writerKey: this.writerKey, writable: base.writable, publicKey: this.keyPair.publicKey.toString('hex'), writersPolicy: o.writersPolicy })
    this._watchBase()
    const common = { log: this.log, metrics: this.metrics }
    this.replicator = new Replicator({ store: this.store, bootstrap: o.bootstrap, dhtHost: o.dhtHost, keyPair: this.keyPair, firewalled: false, ...common })
    this.replicator.attachWakeup(base.wakeupProtocol)
    this.replicator.on('peer', (info) => this._onpeer(info))
    this.replicator.on('message', (info, m) => this._onmessage(info, m))
    const connected = () => [...this.replicator.peers.values()].map((i) => i.writerKey).filter(Boolean)
    this.registry = new WriterRegistry({ base, dataDir: o.dataDir, idleMs: o.writerIdleMs, connected, ...common })
    await this.registry.ready()
    this.admission = new Admission({ base, swarm: this.replicator.swarm, registry: this.registry, policy: o.writersPolicy, acceptWriters: o.acceptWriters, memberSeed: o.memberSeed, pollMs: o.pairingPollMs, ...common })
    await this.admission.ready()
    this.announcer = new Announcer({ replicator: this.replicator, topics: [['bootstrap', this.bootTopic], ['base', base.discoveryKey]], intervalMs: o.watchdogIntervalMs, ...common })
    this.replicator.swarm.dht.on('network-update', () => this.readiness())
    await this.announcer.ready()
  }

  _watchBase () {
    const update = () => {
      this.metrics.viewLength.set(this.base.view.length)
      this.metrics.writable.set(this.base.writable ? 1 : 0)
      if (this.base.system) this.metrics.writers.set(this.base.system.members)
    }
    this.base.on('update', update)
    update()
  }

  async _close () {
    this.log.info('shutting down')
    if (this.announcer) await this.announcer.close()
    if (this.admission) await this.admission.close()
    if (this.registry) await this.registry.close()
    if (this.replicator) await this.replicator.close()
    const viewLength = this.base ? this.base.view.length : 0
    if (this.base) await this.base.close()
    if (this.store) await this.store.close()
    this.log.info('closed', { viewLength })
  }

  _onpeer (info) {
    this.log.info('peer connected', { peers: this.replicator.swarm.connections.size })
    if (!this.firstPeer) {
      this.firstPeer = true
      this.metrics.firstPeer.observe((Date.now() - this.replicator.started) / 1000)
    }
    if (this.opts.writersPolicy === 'Open') this._offer(info)
  }

  // hello {proof, writerKey?}: a member proving it holds the member seed (then it gets the key
  // offer) and saying which writer it is: a writer is "seen" while a proven connection names
  // it (policy Open: any connection). writer-request: policy Open.
  _onmessage (info, m) {
    if (m.type === 'hello') {
      const open = this.opts.writersPolicy === 'Open'
      info.proved = info.proved || verifyOfferProof(this.opts.memberSeed, this.keyPair.publicKey, info.conn.remotePublicKey, m.proof)
      if (typeof m.writerKey === 'string' && (info.proved || open)) {
        info.writerKey = m.writerKey
        this.registry.seen(m.writerKey)
      }
      if (info.proved || open) this._offer(info)
      else this.metrics.offersRefused.inc()
    } else if (m.type === 'writer-request') {
      this.admission.onWriterRequest(m.key, info.remoteKey).catch(() => {})
    }
  }

  _offer (info) {
    if (info.offered) return
    info.offered = true
    this.replicator.send(info, { type: 'offer', envelope: this.keyOffer() })
    this.metrics.offersSent.inc()
  }

  keyOffer () {
    return signed.sign({ type: 'key-offer', ...this._identity(), at: new Date().toISOString() }, this.keyPair)
  }

  _identity () {
    return {
      topic: this.opts.topic,
      bootstrapTopicHash: this.bootTopic.toString('hex'),
      baseKey: this.base.key.toString('hex'),
      writerKey: this.writerKey,
      discoveryKey: this.base.discoveryKey.toString('hex')
    }
  }

  readiness () {
    const a = this.announcer
    const swarm = this.replicator && this.replicator.swarm
    let reason = null
    if (!a) reason = 'opening the base'
    else if (!a.flushed) reason = 'announce not flushed'
    else if (!a.announced) reason = 'own announce missing on the DHT'
    else if (!swarm.dht.online) reason = 'DHT offline'
    else if (!swarm.server || swarm.server.relayAddresses.length === 0) reason = 'no relay addresses'
    if (this.closing) reason = 'shutting down'
    if (swarm) this.metrics.dhtOnline.set(swarm.dht.online ? 1 : 0)
    this.metrics.ready.set(reason === null ? 1 : 0)
    return { ready: reason === null, reason, writable: !!this.base && this.base.writable }
  }

  // The signed report; `nonce` (64 hex, from the operator) is signed into it when given.
  status ({ nonce = null } = {}) {
    if (!this.announcer || !this.announcer.announcedAt) return null
    const payload = {
      role: 'host',
      ...this._identity(),
      announcedAt: this.announcer.announcedAt,
      announceSeconds: this.announcer.announceSeconds,
      peers: this.replicator.swarm.connections.size,
      writable: this.base.writable,
      viewLength: this.base.view.length,
      writersPolicy: this.opts.writersPolicy,
      writers: this.base.system ? this.base.system.members : 0,
      encrypted: this.encrypted,
      mode: this.mode,
      baseLength: this.base.length
    }
    if (nonce) payload.nonce = nonce
    return signed.sign(payload, this.keyPair)
  }
}

module.exports = Host
