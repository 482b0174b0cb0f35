'use strict'
// A host's seat among the base's indexers (host n of N, N > 1). Every tick it looks at the base
// and does the one thing its state needs:
//   indexer    active indexer holding its slot: nothing
//   claiming   active indexer, its slot empty (the creator; a base made before slots): appends
//              `host-slot` for itself (with the nonce of its key; an indexer whose slot holds its
//              key without the nonce appends it too, staying `indexer`)
//   pairing    not a writer yet (rejoined on SWARM_BASE_KEY with an empty disk): a blind-pairing
//              request with the host invite, carrying its writer key, ordinal and nonce, renewed every
//              `requestMs` until an indexer promotes it
//   promoting  added as an indexer, active with its first ack (autobase acks by itself)
//   replaced   its writer key was removed (its slot names another key, or none): emits
//              'start-over' once that held for `settleMs`; the host wipes its store and rejoins
//              with a new key (never a second writer identity for one ordinal)
//   retiring   ordinal >= N (the topic is scaling down): removes itself from the indexers
//   retired    ordinal >= N and no longer an indexer: nothing (its pod can go)
//   conflict   active indexer but its slot holds another key, or its key holds another slot
//              (two pods with one ordinal?): logged, nothing done
const ReadyResource = require('ready-resource')
const Timer = require('./timer')
const { appendWhenIdle, localWriterBusy } = require('./append')
const { deriveHostInvite, encodeHostRequest, readSlotRecords, ownSlotEntry, slotsCore, slotOf } = require('./host-slots')

const READ_TIMEOUT_MS = 10000 // one read of the base in a tick (see tick())

class IndexerSeat extends ReadyResource {
  // nonce: of this host's key (lib/host-store.js), hex, or null for a key made before derived keys
  constructor ({ base, pairing, ordinal, replicas, hostSeed, nonce = null, isIndexer, tickMs = 1000, requestMs = 10000, settleMs = 2000, log }) {
    super()
    this.base = base
    this.nonce = nonce
    this.pairing = pairing
    this.ordinal = ordinal
    this.replicas = replicas
    this.invite = hostSeed ? deriveHostInvite(base.key, hostSeed) : null
    this.isIndexer = isIndexer
    this.requestMs = requestMs
    this.settleMs = settleMs
    this.log = log
    this.state = 'starting'
    this.slots = new Map() // ordinal -> key
    this.records = new Map() // ordinal -> {key, nonce}
    this.candidate = null
    this.requestedAt = 0
    this.loggedAt = 0
    this.appendedAt = 0 // last host-slot / remove-writer of itself
    this.removedSince = null
    this.timer = new Timer(() => this.tick(), tickMs, { onerror: (err) => log.warn('indexer seat check failed', { error: err.message }) })
  }

  async _open () { this.timer.start({ now: true }) }

  async _close () {
    await this.timer.stop()
    this._drop()
  }

  get me () { return this.base.local.key.toString('hex') }

  async tick (now = Date.now()) {
    if (this.closing || !this.base.system) return // (null while autobase rebuilds its apply state)
    // Bounded reads: a block of a fast-forwarded view that no peer sends in time fails this tick
    // (logged) and the next tick reads again, rather than stopping the seat's timer for ever.
    const info = await this.base.system.get(this.base.local.key, { timeout: READ_TIMEOUT_MS })
    this.records = await readSlotRecords(slotsCore(this.base.view), { timeout: READ_TIMEOUT_MS })
    this.slots = new Map([...this.records].map(([ordinal, r]) => [ordinal, r.key]))
    if (!info || !info.isRemoved) this.removedSince = null
    if (this.ordinal >= this.replicas) return this._retire(now)
    if (this.isIndexer()) return this._seated(now)
    if (info && info.isRemoved) return this._removed(now)
    if (info && info.isIndexer) return this._set('promoting', () => this._drop())
    this._set('pairing')
    this._request(now)
  }

  _set (state, fn = null) {
    if (state !== this.state) this.log.info('indexer seat', { ordinal: this.ordinal, state, was: this.state, writerKey: this.me })
    this.state = state
    if (fn) fn()
  }

  async _seated (now) {
    this._drop()
    const slot = this.slots.get(this.ordinal) || null
    const held = slotOf(this.slots, this.me)
    if (slot !== this.me && (slot !== null || held !== null)) {
      if (this.state !== 'conflict') this.log.error('indexer seat conflict: another key holds this ordinal, or this key another ordinal', { ordinal: this.ordinal, slot, held })
      return this._set('conflict')
    }
    this._set(slot === this.me ? 'indexer' : 'claiming')
    const entry = ownSlotEntry(this.records, this.ordinal, this.me, this.nonce)
    if (!entry || now - this.appendedAt < this.requestMs) return
    // (a restored host's view is behind while its own log is applied: its slot may look empty;
    // never append then, lib/append.js; a later tick sees the slot)
    if (localWriterBusy(this.base)) return
    this.appendedAt = now
    await appendWhenIdle(this.base, entry)
  }

  _removed (now) {
    this._drop()
    if (this.removedSince === null) this.removedSince = now
    if (now - this.removedSince < this.settleMs || this.state === 'replaced') return
    const slotKey = this.slots.get(this.ordinal) || null
    this._set('replaced')
    this.emit('start-over', { reason: slotKey ? 'replaced' : 'removed', writerKey: this.me, slotKey })
  }

  async _retire (now) {
    this._drop()
    if (!this.isIndexer()) return this._set('retired')
    this._set('retiring')
    if (now - this.appendedAt < this.requestMs || localWriterBusy(this.base)) return
    if (!this.base.removeable(this.base.local.key)) {
      this.log.warn('retiring host is the last indexer; it stays', { ordinal: this.ordinal })
      this.appendedAt = now
      return
    }
    this.appendedAt = now
    await appendWhenIdle(this.base, { type: 'remove-writer', key: this.me })
    this.log.info('retiring: removed this host from the indexers', { ordinal: this.ordinal, replicas: this.replicas })
  }

  _request (now) {
    if (!this.invite || !this.pairing) {
      if (this.requestedAt === 0) this.log.error('no host invite seed (SWARM_HOST_SEED_FILE): this host cannot ask to be promoted')
      this.requestedAt = now
      return
    }
    if (this.candidate && now - this.requestedAt < this.requestMs) return
    this._drop()
    this.requestedAt = now
    this.candidate = this.pairing.addCandidate({ invite: this.invite.invite, userData: encodeHostRequest(this.base.local.key, this.ordinal, this.nonce) })
    this.candidate.request.on('rejected', (err) => this.log.warn('promotion request rejected', { code: err && err.code }))
    if (now - this.loggedAt >= 60000) {
      this.loggedAt = now
      this.log.info('asking to be promoted to indexer', { ordinal: this.ordinal, writerKey: this.me })
    }
  }

  _drop () {
    if (!this.candidate) return
    this.candidate.close().catch(() => {})
    this.candidate = null
  }
}

module.exports = IndexerSeat
