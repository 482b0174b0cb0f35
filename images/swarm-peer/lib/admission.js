'use strict'
// Host side of admission: one blind-pairing member on the base's discovery key answers two
// invites, and only while this host is an active indexer (a writer that is not an indexer, or a
// removed host, stays silent: its add-writer would be ignored by apply and a confirmed candidate
// would never become writable; another host answers instead).
//   client invite (from the member seed), by policy:
//     Clients  the request is opened and `add-writer` appended for the writer key inside
//     HostOnly every request is opened and denied; nobody is added
//     Open     any peer that asks (`writer-request` on the key-offer channel) is added
//   host invite (from the host-only seed, the `<name>-hosts` Secret): a host asking to be an
//            indexer for its ordinal: `add-indexer`, or `replace-indexer` when its slot holds an
//            older key (that host lost its disk)
// Requests for another invite are ignored: deny() before open() throws inside blind-pairing
// and kills the process, so an unknown inviteId just returns. Admission is idempotent: a key
// already admitted is confirmed without a second entry (apply ignores a duplicate anyway).
const ReadyResource = require('ready-resource')
const BlindPairing = require('blind-pairing')
const { deriveInvite } = require('./membership')
const { deriveHostInvite, decodeHostRequest, readSlots, slotsCore, slotOf } = require('./host-slots')
const { appendWhenIdle } = require('./append')

const RECENT_MS = 10000

class Admission extends ReadyResource {
  constructor ({ base, swarm, registry, policy, acceptWriters, memberSeed, hostSeed = null, replicas = 1, isIndexer, pollMs, log, stats }) {
    super()
    this.base = base
    this.swarm = swarm
    this.registry = registry
    this.policy = acceptWriters ? policy : 'HostOnly'
    this.replicas = replicas
    this.isIndexer = isIndexer
    this.pollMs = pollMs
    this.log = log
    this.stats = stats
    this.invite = memberSeed ? deriveInvite(base.key, memberSeed) : null
    this.hostInvite = hostSeed ? deriveHostInvite(base.key, hostSeed) : null
    this.pairing = null // shared with the host's own promotion request (lib/indexer-seat.js)
    this.member = null
    this.pending = new Map() // hex key -> Promise (onadd can run twice for one request)
    this.appended = new Map() // hex key -> ms: entries this host appended, until apply shows them
  }

  async _open () {
    if (!this.invite && !this.hostInvite) return
    this.pairing = new BlindPairing(this.swarm, { poll: this.pollMs })
    this.member = this.pairing.addMember({ discoveryKey: this.base.discoveryKey, onadd: (req) => this._onadd(req) })
  }

  async _close () {
    if (this.pairing) await this.pairing.close()
  }

  async _onadd (req) {
    const client = this.invite && req.inviteId.equals(this.invite.id)
    const host = this.hostInvite && req.inviteId.equals(this.hostInvite.id)
    if (!client && !host) return // not our invite: no reply at all
    if (!this.isIndexer() || this.closing) {
      this.stats.pairingSilent.inc()
      return
    }
    let userData
    try { userData = req.open((client ? this.invite : this.hostInvite).publicKey) } catch { return }
    if (host) return this._onhost(req, userData)
    if (this.policy === 'HostOnly' || !userData || userData.length !== 32) {
      this.stats.pairingDenied.inc()
      return req.deny()
    }
    if (await this.admit(userData.toString('hex'), 'invite')) req.confirm({ key: this.base.key })
  }

  async _onhost (req, userData) {
    const r = decodeHostRequest(userData)
    if (!r) {
      this.stats.pairingDenied.inc()
      return req.deny()
    }
    if (r.ordinal >= this.replicas) {
      this.log.warn('host request for an ordinal beyond SWARM_HOST_REPLICAS left unanswered', { ordinal: r.ordinal, replicas: this.replicas })
      return
    }
    if (await this.once(r.key, () => this._promote(r.key, r.ordinal, r.nonce))) req.confirm({ key: this.base.key })
  }

  // Open policy: a writer-request from any peer.
  async onWriterRequest (key, remoteKey) {
    if (this.policy !== 'Open' || typeof key !== 'string' || !/^[0-9a-f]{64}$/.test(key)) return false
    return this.admit(key, 'open', remoteKey)
  }

  admit (key, how, remoteKey = null) {
    return this.once(key, () => this._admit(key, how, remoteKey))
  }

  // One run per key at a time; a failed read of the base (its apply state being rebuilt: the
  // system core closed under us) is a request not answered this time, never a crash.
  once (key, fn) {
    if (!this.pending.has(key)) {
      const run = fn().catch((err) => {
        this.log.warn('admission failed', { writerKey: key, error: err.message })
        return false
      })
      this.pending.set(key, run.finally(() => this.pending.delete(key)))
    }
    return this.pending.get(key)
  }

  // Whether this host appended an entry for `key` in the last RECENT_MS: apply took 0.1 to 2 s to
  // show it (in process, 3 hosts), and a request repeated in between (the direct channel, then
  // the DHT poll) must not append again. A promotion that apply refused as stale is appended
  // again after that, when the host asks again.
  _recent (key, now = Date.now()) {
    for (const [k, at] of this.appended) if (now - at > RECENT_MS) this.appended.delete(k)
    return this.appended.has(key)
  }

  async _known (key) {
    if (!this.base.system) return null
    await this.base.update()
    return this.base.system.get(Buffer.from(key, 'hex'))
  }

  async _admit (key, how, remoteKey) {
    if (!this.isIndexer() || this.closing) return false
    const info = await this._known(key)
    this.registry.add(key)
    if ((info && !info.isRemoved) || this._recent(key)) return true // already a writer (a repeated request)
    try {
      this.appended.set(key, Date.now())
      await appendWhenIdle(this.base, { type: 'add-writer', key })
      this.stats.writersAdded.inc()
      this.log.info('writer added', { writerKey: key, how, peer: remoteKey && remoteKey.slice(0, 16), writers: this.base.system.members, length: this.base.length })
      return true
    } catch (err) {
      this.appended.delete(key)
      this.log.warn('adding writer failed', { error: err.message })
      return false
    }
  }

  // The entry that makes `key` host `ordinal`'s indexer, unless the view already says so. It
  // carries the nonce of the key (the host's request has it when its key is derived: the slot
  // record keeps it for a restore).
  async _promote (key, ordinal, nonce = null) {
    if (!this.isIndexer() || this.closing) return false
    const info = await this._known(key)
    const slots = await readSlots(slotsCore(this.base.view))
    const current = slots.get(ordinal) || null
    if (current === key || this._recent(key)) return true // promoted already (active with its first ack)
    const held = slotOf(slots, key)
    if (held !== null || (info && info.isRemoved)) {
      this.log.warn('host request refused', { ordinal, writerKey: key, why: held !== null ? `holds slot ${held}` : 'key was removed' })
      return false
    }
    const entry = current ? { type: 'replace-indexer', key, old: current, ordinal } : { type: 'add-indexer', key, ordinal }
    if (nonce) entry.nonce = nonce
    try {
      this.appended.set(key, Date.now())
      await appendWhenIdle(this.base, entry)
    } catch (err) {
      this.appended.delete(key)
      this.log.warn('promoting host failed', { ordinal, error: err.message })
      return false
    }
    this.stats.hostsPromoted.inc()
    this.log.info('host promoted to indexer', { ordinal, writerKey: key, replaces: current })
    return true
  }
}

module.exports = Admission
