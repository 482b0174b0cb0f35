'use strict'
// A bootstrap host (host n of N): owns (host 0 creates) or rejoins the topic's Autobase,
// announces it, admits writers by policy while it is an indexer, keeps its seat among the
// indexers (N > 1), keeps confirmation flowing, sweeps idle writers (host 0) and signs what it
// reports. The status port can serve it before ready() resolves the first announce (`status()`
// is null until then). A host whose writer key was replaced starts over in place: everything
// but the identity is closed, the store wiped and the base rejoined ('start-over' of the seat).
// Its store's key is derived from its identity seed (lib/host-store.js); in restore mode a host
// on an empty disk first takes back its ordinal's old writer key (lib/host-restore.js).
const fs = require('fs')
const crypto = require('hypercore-crypto')
const ReadyResource = require('ready-resource')
const quiet = require('./quiet-log')
const Stats = require('./stats')
const config = require('./config')
const { logApp } = require('./log-app')
const { fromSeed, bootstrapTopic } = require('./identity')
const { baseOptions } = require('./base-options')
const { openHostBase, wipeStore, hasBase } = require('./host-base')
const { openHostStore, halfRestored, restoreDone, removeStore } = require('./host-store')
const { HostRestore } = require('./host-restore')
const { readSlotRecords, slotsCore, ownSlotEntry } = require('./host-slots')
const { verifyOfferProof } = require('./membership')
const { Confirmer, unconfirmed } = require('./confirmer')
const Replicator = require('./replicator')
const Announcer = require('./announcer')
const Admission = require('./admission')
const IndexerSeat = require('./indexer-seat')
const WriterRegistry = require('./writer-registry')
const signed = require('./signed')
const { appendWhenIdle, deferAcksWhileBusy } = require('./append')

// Whether `base`'s local writer is one of the system's active indexers (what apply checks). A
// new base lists no indexer until its first entry: its creator is one (autobase's `ackable`).
function activeIndexer (base) {
  if (!base || !base.opened || !base.writable || !base.system) return false
  const indexers = base.system.indexers
  if (indexers.length === 0) return base.ackable
  return indexers.some((i) => i.key.equals(base.local.key))
}

// The indexers that confirm entries: autobase's consensus (its linearizer). `base.system.indexers`
// is the optimistic view, where an indexer added by an entry nobody could confirm already shows
// (both other hosts' disks lost at once: host 0 adds their new keys, they show in system.indexers
// and report themselves indexers, yet nothing is ever confirmed again). The report says the
// consensus, so the operator's Quorum says what confirms. (`linearizer` is autobase's own field,
// pinned 7.28.x; the optimistic view is the fallback while it is being rebuilt.)
function consensusIndexerKeys (base) {
  if (base && base.linearizer && base.linearizer.indexers) return base.linearizer.indexers.map((w) => w.core.key)
  return base && base.system ? base.system.indexers.map((i) => i.key) : []
}

function consensusIndexer (base) {
  if (!activeIndexer(base)) return false
  if (!base.linearizer || !base.linearizer.indexers || base.linearizer.indexers.length === 0) return true
  return base.isIndexer === true
}

// What a host created without a setting uses (the defaults of Host.config()).
const HOST_DEFAULTS = { ordinal: 0, replicas: 1, hostSeed: null, writersPolicy: 'Clients', acceptWriters: true, writerIdleMs: 900000, pairingPollMs: 30000, watchdogIntervalMs: 30000 }

class Host extends ReadyResource {
  // opts: the host config (Host.config(), lib/config.js) plus {app: {open, apply, genesis?} (default:
  // the JSON log app), log, stats}
  constructor (opts) {
    super()
    this.role = 'host'
    this.opts = { ...HOST_DEFAULTS, ...opts, app: opts.app || logApp }
    this.ordinal = this.opts.ordinal
    this.replicas = this.opts.replicas
    this.log = opts.log || quiet
    this.stats = opts.stats || new Stats()
    this.keyPair = fromSeed(opts.seed)
    this.bootTopic = bootstrapTopic(opts.topic)
    this.firstPeer = false
    this.startedOver = null // {reason, writerKey, slotKey, at} once this process started over
    this.restarting = null
    this.restoring = null // the HostRestore while restore mode runs (readiness says what it waits for)
    this.restore = null // its result: {restored, why, writerKey, length, target, findMs, gateMs, at}
    this._reset()
  }

  // The host's options from the SWARM_* environment (throws a ConfigError naming the variable).
  static config (env = process.env) { return config.host(env) }

  _reset () {
    this.store = null
    this.nonce = null // of the store's primary key (lib/host-store.js); null: a store made before derived keys
    this.baseJoined = false // the swarm looks for the base's peers (a restore's gate, or several hosts)
    this.base = null
    this.replicator = null
    this.announcer = null
    this.admission = null
    this.registry = null
    this.seat = null
    this.confirmer = null
  }

  // Several hosts (or one leaving them): the seat, the confirmation watchdog, indexer readiness.
  get multi () { return this.replicas > 1 || this.ordinal > 0 }
  get writerKey () { return this.base.local.key.toString('hex') }
  isIndexer () { return activeIndexer(this.base) }

  async _open () {
    await this._start(this.opts.baseKey, { restore: !!this.opts.restore })
  }

  // A close while restore mode waits (for a member, for its log) stops the wait.
  close () {
    if (this.restoring) this.restoring.abort()
    return super.close()
  }

  async _start (baseKey, { restore = false } = {}) {
    const o = this.opts
    fs.mkdirSync(o.dataDir, { recursive: true })
    if (!hasBase(o.dataDir) && halfRestored(o.dataDir)) {
      this.log.warn('a restore did not finish on this disk: its store is removed (never opened without the restore gate)', { ordinal: this.ordinal })
      removeStore(o.dataDir)
    }
    if (restore && baseKey && !hasBase(o.dataDir)) {
      removeStore(o.dataDir) // a store with no base on its disk (a start that stopped before the base opened) holds nothing recorded
      await this._restoreStore(baseKey)
    }
    if (!this.store) await this._openStore()
    if (!this.replicator) this.replicator = this._replicator()
    const opts = baseOptions(o.app, { encryptionKey: o.encryptionKey, ackIntervalMs: o.ackIntervalMs, log: this.log, stats: this.stats, onapplied: (type, key) => this._onapplied(type, key) })
    const { base, mode, encrypted } = await openHostBase(this.store, { dataDir: o.dataDir, baseKey, topic: o.topic, opts, genesis: o.app.genesis, log: this.log, ordinal: this.ordinal })
    restoreDone(o.dataDir)
    deferAcksWhileBusy(base) // (lib/append.js)
    this.base = base
    this.mode = mode
    this.encrypted = encrypted
    this.log.info('base open', { mode, encrypted, ordinal: this.ordinal, replicas: this.replicas, baseKey: base.key.toString('hex'), writerKey: this.writerKey, writable: base.writable, restored: this.restored, publicKey: this.keyPair.publicKey.toString('hex'), writersPolicy: o.writersPolicy })
    this._watchBase()
    this.replicator.attachWakeup(base.wakeupProtocol)
    // Hosts find each other: with several, each also looks for the others (a server-only swarm
    // never dials one; members join as client and server anyway). A restore joined already.
    if (this.multi && !this.baseJoined) this.replicator.join(base.discoveryKey, { server: false, client: true })
    await this._startMembership()
    this._replayEarly()
    if (!this.multi) await this._recordSoloSlot()
    this.announcer = new Announcer({ replicator: this.replicator, topics: [['bootstrap', this.bootTopic], ['base', base.discoveryKey]], intervalMs: o.watchdogIntervalMs, log: this.log, stats: this.stats })
    this.announcer.on('announced', () => this.emit('report')) // `status()` is not null from now on
    this.replicator.swarm.dht.on('network-update', () => this.readiness())
    await this.announcer.ready()
  }

  // This process took back its ordinal's old writer key (and still has it: not after a start over).
  get restored () { return !!this.restore && this.restore.restored && !!this.base && this.writerKey === this.restore.writerKey }

  async _openStore () {
    const { store, nonce, fresh } = await openHostStore(this.opts.dataDir, { seed: this.opts.seed, ordinal: this.ordinal })
    this.store = store
    this.nonce = nonce
    if (fresh) this.log.info('new store on an empty disk: a new writer key', { ordinal: this.ordinal, nonce })
  }

  _replicator () {
    const o = this.opts
    const r = new Replicator({ store: this.store, bootstrap: o.bootstrap, dhtHost: o.dhtHost, keyPair: this.keyPair, firewalled: false, log: this.log, stats: this.stats })
    r.on('peer', (info) => this._onpeer(info))
    r.on('message', (info, m) => this._onmessage(info, m))
    return r
  }

  // Restore mode on an empty disk (lib/host-restore.js): on success the store holds this
  // ordinal's old writer key, its writer core back whole; else nothing is kept and the host
  // starts as without restore mode. `this.restore` says which, and why.
  async _restoreStore (baseKey) {
    const r = new HostRestore({ opts: this.opts, baseKey, log: this.log, settleMs: this.opts.restoreSettleMs })
    this.restoring = r
    this.log.info('restore mode: reading this host\'s slot from a member of the base', { ordinal: this.ordinal, baseKey })
    try {
      const slot = await r.find()
      const store = slot && await r.open(slot)
      if (store) {
        this.store = store
        this.nonce = slot.nonce
        this.replicator = this._replicator()
        this.replicator.join(crypto.discoveryKey(Buffer.from(baseKey, 'hex')), { server: false, client: true })
        this.baseJoined = true
        this.log.info('restore: the store holds this host\'s old writer key; pulling its log back before the base opens', { ordinal: this.ordinal, writerKey: slot.key, target: slot.target })
        await r.gate(store, slot)
      }
    } catch (err) {
      if (this.replicator) await this.replicator.close().catch(() => {})
      if (this.store) await this.store.close().catch(() => {})
      this._reset()
      throw err
    } finally {
      this.restoring = null
    }
    this.restore = r.result
    if (r.result.restored) this.log.info('restored: the same writer key, its log back whole', { ordinal: this.ordinal, ...r.result })
    else this.log.warn('not restored: starting as a host on an empty disk (a new writer key)', { ordinal: this.ordinal, why: r.result.why })
  }

  // Messages that came while a restore opened the base (the swarm ran for its gate): answered now.
  _replayEarly () {
    for (const info of this.replicator.peers.values()) {
      const early = info.early || []
      info.early = null
      for (const m of early) this._onmessage(info, m)
      if (this.opts.writersPolicy === 'Open') this._offer(info)
    }
  }

  // One host (N = 1) has no seat: the creator records its slot with the nonce of its key once,
  // so that it can be restored from its seed (a store made before derived keys has no nonce:
  // nothing is appended, the log stays as it was).
  async _recordSoloSlot () {
    if (!this.nonce || !this.isIndexer()) return
    try {
      const entry = ownSlotEntry(await readSlotRecords(slotsCore(this.base.view)), this.ordinal, this.writerKey, this.nonce)
      if (entry) await appendWhenIdle(this.base, entry)
    } catch (err) {
      this.log.warn('recording this host\'s slot failed', { error: err.message })
    }
  }

  async _startMembership () {
    const o = this.opts
    const common = { log: this.log, stats: this.stats }
    const isIndexer = () => this.isIndexer()
    const connected = () => [...this.replicator.peers.values()].map((i) => i.writerKey).filter(Boolean)
    this.registry = new WriterRegistry({ base: this.base, dataDir: o.dataDir, idleMs: o.writerIdleMs, connected, sweeps: this.ordinal === 0, isIndexer, ...common })
    await this.registry.ready()
    this.admission = new Admission({ base: this.base, swarm: this.replicator.swarm, registry: this.registry, policy: o.writersPolicy, acceptWriters: o.acceptWriters, memberSeed: o.memberSeed, hostSeed: o.hostSeed, replicas: this.replicas, isIndexer, pollMs: o.pairingPollMs, ...common })
    await this.admission.ready()
    if (!this.multi) return
    this.seat = new IndexerSeat({ base: this.base, pairing: this.admission.pairing, ordinal: this.ordinal, replicas: this.replicas, hostSeed: o.hostSeed, nonce: this.nonce, isIndexer, log: this.log })
    this.seat.on('start-over', (why) => this._startOverSoon(why))
    await this.seat.ready()
    if (o.confirmWatchdog === false) return // only to measure autobase without it (test/ha.test.js)
    this.confirmer = new Confirmer({ base: this.base, isIndexer, stallMs: o.confirmStallMs, ...common })
    await this.confirmer.ready()
  }

  _onapplied (type, key) {
    if (type === 'add-writer' && this.registry) this.registry.track(key)
  }

  _watchBase () {
    const base = this.base
    const update = () => {
      this.stats.viewLength.set(base.view.length)
      this.stats.writable.set(base.writable ? 1 : 0)
      this.stats.indexer.set(consensusIndexer(base) ? 1 : 0)
      this.stats.unconfirmed.set(unconfirmed(base))
      if (base.system) {
        this.stats.writers.set(base.system.members)
        this.stats.indexers.set(consensusIndexerKeys(base).length)
      }
    }
    base.on('update', update)
    update()
  }

  async _stop () {
    for (const part of [this.announcer, this.confirmer, this.seat, this.admission, this.registry, this.replicator]) {
      if (part) await part.close()
    }
    const viewLength = this.base ? this.base.view.length : 0
    if (this.base) await this.base.close()
    if (this.store) await this.store.close()
    this._reset()
    return viewLength
  }

  async _close () {
    if (this.restarting) await this.restarting
    this.log.info('shutting down')
    const viewLength = await this._stop()
    this.log.info('closed', { viewLength })
  }

  _startOverSoon (why) {
    if (this.restarting || this.closing) return
    this.restarting = this._startOver(why).catch((err) => {
      this.log.error('starting over failed', { error: err.message })
      this.emit('fatal', err)
    }).finally(() => { this.restarting = null })
  }

  // This host's writer key was removed from the base (replaced by a newer key for its ordinal):
  // wipe the store and rejoin the same base, with a new key, as a host that lost its disk.
  async _startOver (why) {
    const baseKey = this.base.key.toString('hex')
    this.log.warn('this host\'s writer key is no longer in the base: starting over on an empty store', { ordinal: this.ordinal, ...why })
    this.stats.startedOver.inc()
    await this._stop()
    wipeStore(this.opts.dataDir)
    this.startedOver = { ...why, at: new Date().toISOString() }
    if (!this.closing) await this._start(baseKey, { restore: false }) // never the replaced key again
  }

  _onpeer (info) {
    this.log.info('peer connected', { peers: this.replicator.swarm.connections.size })
    if (!this.firstPeer) {
      this.firstPeer = true
      this.stats.firstPeer.observe((Date.now() - this.replicator.started) / 1000)
    }
    if (this.opts.writersPolicy === 'Open' && this.registry) this._offer(info)
  }

  // hello {proof, writerKey?}: a member proving it holds the member seed (then it gets the key
  // offer) and saying which writer it is: a writer is "seen" while a proven connection names
  // it (policy Open: any connection). writer-request: policy Open.
  _onmessage (info, m) {
    if (!this.registry) { // (a restore's gate: the base is not open yet)
      info.early = [...(info.early || []).slice(-3), m]
      return
    }
    if (m.type === 'hello') {
      const open = this.opts.writersPolicy === 'Open'
      info.proved = info.proved || verifyOfferProof(this.opts.memberSeed, this.keyPair.publicKey, info.conn.remotePublicKey, m.proof)
      if (typeof m.writerKey === 'string' && (info.proved || open)) {
        info.writerKey = m.writerKey
        this.registry.seen(m.writerKey)
      }
      if (info.proved || open) this._offer(info)
      else this.stats.offersRefused.inc()
    } else if (m.type === 'writer-request') {
      this.admission.onWriterRequest(m.key, info.remoteKey).catch(() => {})
    }
  }

  _offer (info) {
    if (info.offered) return
    info.offered = true
    this.replicator.send(info, { type: 'offer', envelope: this.keyOffer() })
    this.stats.offersSent.inc()
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

  // N = 1: announce verified (as before N existed). N > 1: also an active indexer (host n of N
  // serves as one of the base's indexers; a rolling update waits for it), except a host beyond N
  // (retiring: it has no seat to earn).
  readiness () {
    const a = this.announcer
    const swarm = this.replicator && this.replicator.swarm
    let reason = null
    if (this.restoring) reason = this.restoring.reason
    else if (this.restarting) reason = 'starting over on an empty store'
    else if (!a) reason = 'opening the base'
    else if (!a.flushed) reason = 'announce not flushed'
    else if (!a.announced) reason = 'own announce missing on the DHT'
    else if (!swarm.dht.online) reason = 'DHT offline'
    else if (!swarm.server || swarm.server.relayAddresses.length === 0) reason = 'no relay addresses'
    else if (this.multi && this.ordinal < this.replicas && !consensusIndexer(this.base)) reason = 'not an indexer yet'
    if (this.closing) reason = 'shutting down'
    if (swarm) this.stats.dhtOnline.set(swarm.dht.online ? 1 : 0)
    this.stats.ready.set(reason === null ? 1 : 0)
    return { ready: reason === null, reason, writable: !!this.base && this.base.writable }
  }

  // The signed report; `nonce` (64 hex, from the operator) is signed into it when given.
  status ({ nonce = null } = {}) {
    if (this.restarting || !this.announcer || !this.announcer.announcedAt) return null
    const b = this.base
    const payload = {
      role: 'host',
      ...this._identity(),
      announcedAt: this.announcer.announcedAt,
      announceSeconds: this.announcer.announceSeconds,
      peers: this.replicator.swarm.connections.size,
      writable: b.writable,
      viewLength: b.view.length,
      writersPolicy: this.opts.writersPolicy,
      writers: b.system ? b.system.members : 0,
      encrypted: this.encrypted,
      mode: this.mode,
      baseLength: b.length,
      ...this._seatReport()
    }
    if (nonce) payload.nonce = nonce
    return signed.sign(payload, this.keyPair)
  }

  _seatReport () {
    const b = this.base
    const indexer = consensusIndexer(b) // what confirms, not the optimistic view (see consensusIndexerKeys)
    const keys = consensusIndexerKeys(b)
    const slots = this.seat ? [...this.seat.slots].sort((x, y) => x[0] - y[0]).map(([ordinal, key]) => ({ ordinal, key })) : []
    return {
      ordinal: this.ordinal,
      replicas: this.replicas,
      indexer,
      indexers: keys.length,
      indexerKeys: keys.map((k) => k.toString('hex')),
      pendingIndexers: b.system ? b.system.pendingIndexers.length : 0,
      seat: this.seat ? this.seat.state : (indexer ? 'indexer' : 'none'),
      hostSlots: slots,
      signedLength: b.view.signedLength || 0,
      unconfirmed: unconfirmed(b),
      startedOver: this.startedOver !== null,
      startOver: this.startedOver,
      restored: this.restored,
      restore: this.restore
    }
  }
}

module.exports = Host
