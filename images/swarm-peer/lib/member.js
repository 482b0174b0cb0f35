'use strict'
// A member of a topic: what a user's app (and the reference client) runs. Opens the topic's
// Autobase by its recorded key with the app's own open/apply (never creates a base), pins the
// host's public key, replicates with the host and with the other members (it joins the base's
// discovery key as client and server), asks to be a writer as the policy says (lib/joiner.js)
// and reports readiness: on the recorded base, replicated, connected to >= 1 member.
const fs = require('fs')
const os = require('os')
const path = require('path')
const Corestore = require('corestore')
const Autobase = require('autobase')
const ReadyResource = require('ready-resource')
const quiet = require('./quiet-log')
const Stats = require('./stats')
const config = require('./config')
const { isSystem } = require('./system-apply')
const { logApp } = require('./log-app')
const { bootstrapTopic } = require('./identity')
const { baseOptions } = require('./base-options')
const { offerProof } = require('./membership')
const { withTimeout } = require('./swarm')
const { unconfirmed } = require('./confirmer')
const Replicator = require('./replicator')
const Joiner = require('./joiner')
const OfferInbox = require('./offer-inbox')

class Member extends ReadyResource {
  // opts: the client config (Member.config(), lib/config.js) plus {app: {open, apply} (default: the
  // JSON log app), log, stats}
  constructor (opts) {
    super()
    this.role = 'client'
    this.opts = { writersPolicy: 'Clients', requestWriter: true, offerTimeoutMs: 0, ...opts, app: opts.app || logApp }
    this.log = opts.log || quiet
    this.stats = opts.stats || new Stats()
    this.bootTopic = bootstrapTopic(opts.topic)
    this.baseKey = opts.baseKey || null
    this.store = null
    this.base = null
    this.bootCore = null
    this.replicator = null
    this.joiner = null
    this.inbox = new OfferInbox({ topic: opts.topic, hostPublicKey: opts.hostPublicKey, log: this.log, stats: this.stats })
    this.replicated = false
    this.firstPeer = false
  }

  // A member's options from the SWARM_* environment (throws a ConfigError naming the variable).
  static config (env = process.env) { return config.client(env) }

  // Whether an entry's value is one of the library's own (membership) entries, which it applies
  // itself and never passes to the app's apply.
  static isSystem (value) { return isSystem(value) }

  get writerKey () { return this.base && this.base.local ? this.base.local.key.toString('hex') : null }
  get writable () { return !!this.base && this.base.writable }

  async _open () {
    const o = this.opts
    if (o.requireBootstrap && !this.baseKey) throw new Error('a base key is required (SWARM_REQUIRE_BOOTSTRAP): a member never creates a base')
    if (!o.dataDir) Object.assign(o, { dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-member-')), ephemeralDataDir: true })
    fs.mkdirSync(o.dataDir, { recursive: true })
    this.store = new Corestore(path.join(o.dataDir, 'corestore'))
    this.replicator = new Replicator({ store: this.store, bootstrap: o.bootstrap, dhtHost: o.dhtHost, firewalled: false, log: this.log, stats: this.stats })
    this.replicator.on('peer', (info) => this._onpeer(info))
    this.replicator.on('message', (info, m) => this.inbox.receive(info, m, this.baseKey))
    this.replicator.join(this.bootTopic, { server: false, client: true })
    if (!this.baseKey) this.baseKey = await this._awaitOffer()
    await this._openBase()
    this.joiner = new Joiner({ base: this.base, replicator: this.replicator, hostConns: () => this.hostConns(), policy: o.writersPolicy, memberSeed: o.memberSeed, requestWriter: o.requestWriter, log: this.log })
    await this.joiner.ready()
  }

  async _awaitOffer () {
    this.log.info('waiting for a key offer from the pinned host', { hostPublicKey: this.opts.hostPublicKey })
    const got = this.inbox.next()
    const p = this.opts.offerTimeoutMs ? await withTimeout(got, this.opts.offerTimeoutMs, null) : await got
    if (!p) throw new Error(`no key offer from the pinned host within ${this.opts.offerTimeoutMs} ms`)
    this.log.info('base key offered by the pinned host', { baseKey: p.baseKey })
    return p.baseKey
  }

  async _openBase () {
    const key = Buffer.from(this.baseKey, 'hex')
    this.base = new Autobase(this.store, key, baseOptions(this.opts.app, { encryptionKey: this.opts.encryptionKey, ackIntervalMs: this.opts.ackIntervalMs, log: this.log, stats: this.stats }))
    await this.base.ready()
    this.bootCore = this.store.get({ key })
    await this.bootCore.ready()
    this.log.info('base open', { baseKey: this.baseKey, writerKey: this.writerKey, writable: this.base.writable })
    this.base.on('update', () => this._onupdate())
    this.base.on('writable', () => { this.stats.writable.set(1); this._hello() })
    this.base.on('unwritable', () => this.stats.writable.set(0))
    this.replicator.attachWakeup(this.base.wakeupProtocol)
    this.replicator.join(this.base.discoveryKey, { server: true, client: true })
    this._hello()
    this.base.update().then(() => this._onupdate(), () => {})
  }

  _onupdate () {
    this.stats.viewLength.set(this.base.view.length || 0)
    this.stats.unconfirmed.set(unconfirmed(this.base))
    if (!this.replicated && this.base.length > 0 && this.membersConnected() > 0) {
      this.replicated = true
      const s = (Date.now() - this.replicator.started) / 1000
      this.stats.replicated.observe(s)
      this.log.info('replicated', { replicatedSeconds: s, viewLength: this.base.view.length })
    }
  }

  hostConns () {
    return [...this.replicator.peers.values()].filter((i) => i.remoteKey === this.opts.hostPublicKey)
  }

  // Peers replicating the base (the host or another member).
  membersConnected () {
    return this.bootCore ? this.bootCore.peers.length : 0
  }

  _onpeer (info) {
    if (info.remoteKey !== this.opts.hostPublicKey) return
    if (!this.firstPeer) {
      this.firstPeer = true
      const s = (Date.now() - this.replicator.started) / 1000
      this.stats.firstPeer.observe(s)
      this.log.info('connected to host', { firstPeerSeconds: s })
    }
    this._hello(info)
  }

  // Tells the pinned host which writer this is and, with the member seed, proves membership
  // (the host then offers the key: it withholds offers from peers without the proof).
  _hello (only = null) {
    for (const info of only ? [only] : this.hostConns()) {
      const proof = this.opts.memberSeed ? offerProof(this.opts.memberSeed, info.conn.remotePublicKey, this.replicator.publicKey) : null
      this.replicator.send(info, { type: 'hello', proof, writerKey: this.writerKey })
    }
  }

  readiness () {
    if (this.base) this._onupdate()
    let reason = null
    if (!this.base) reason = this.baseKey ? 'opening the base' : 'waiting for the base key'
    else if (this.membersConnected() === 0) reason = 'not connected to any member'
    else if (!this.replicated) reason = 'base not replicated yet'
    if (this.closing) reason = 'shutting down'
    if (this.replicator) this.stats.dhtOnline.set(this.replicator.swarm.dht.online ? 1 : 0)
    this.stats.ready.set(reason === null ? 1 : 0)
    return { ready: reason === null, reason, writable: !!this.base && this.base.writable }
  }

  status () {
    // The base is set before its ready() resolves: until then its discoveryKey and view are null.
    const b = this.base && this.base.discoveryKey && this.base.view ? this.base : null
    return {
      role: 'client',
      topic: this.opts.topic,
      bootstrapTopicHash: this.bootTopic.toString('hex'),
      baseKey: this.baseKey,
      writerKey: this.writerKey,
      discoveryKey: b ? b.discoveryKey.toString('hex') : null,
      hostPublicKey: this.opts.hostPublicKey,
      hostConnected: this.replicator ? this.hostConns().length > 0 : false,
      membersConnected: this.membersConnected(),
      replicated: this.replicated,
      viewLength: b ? b.view.length : 0,
      signedLength: b ? b.view.signedLength || 0 : 0,
      unconfirmed: b ? unconfirmed(b) : 0,
      writable: this.writable,
      writersPolicy: this.opts.writersPolicy,
      peers: this.replicator ? this.replicator.swarm.connections.size : 0,
      offersIgnored: this.inbox.ignored,
      conflictingOffers: this.inbox.conflicting
    }
  }

  async _close () {
    if (this.joiner) {
      await this.joiner.leave().catch((err) => this.log.warn('leaving the writers failed', { error: err.message }))
      await this.joiner.close()
    }
    if (this.replicator) await this.replicator.close()
    if (this.base) await this.base.close()
    if (this.store) await this.store.close()
    if (this.opts.ephemeralDataDir) fs.rmSync(this.opts.dataDir, { recursive: true, force: true })
    this.log.info('closed')
  }
}

module.exports = Member
