'use strict'
// Host side of writer admission, by policy:
//   Clients  a peer becomes a writer by a blind-pairing request made with the topic's invite
//            (derived from the member seed and the base key); the host opens it, appends
//            add-writer for the writer key inside, and confirms.
//   HostOnly every candidate holding the invite is opened and denied; nobody else is added.
//   Open     any peer that asks (`writer-request` on the key-offer channel) is added.
// Requests for another invite are ignored: deny() before open() throws inside blind-pairing
// and kills the process, so an unknown inviteId just returns.
const ReadyResource = require('ready-resource')
const BlindPairing = require('blind-pairing')
const { deriveInvite } = require('./membership')

class Admission extends ReadyResource {
  constructor ({ base, swarm, registry, policy, acceptWriters, memberSeed, pollMs, log, metrics }) {
    super()
    this.base = base
    this.swarm = swarm
    this.registry = registry
    this.policy = acceptWriters ? policy : 'HostOnly'
    this.memberSeed = memberSeed
    this.pollMs = pollMs
    this.log = log
    this.metrics = metrics
    this.invite = memberSeed ? deriveInvite(base.key, memberSeed) : null
    this.pairing = null
    this.member = null
    this.pending = new Map() // hex writer key -> Promise (onadd can run twice for one request)
  }

  async _open () {
    if (!this.invite) return
    this.pairing = new BlindPairing(this.swarm, { poll: this.pollMs })
    this.member = this.pairing.addMember({ discoveryKey: this.base.discoveryKey, onadd: (req) => this._onadd(req) })
  }

  async _close () {
    if (this.pairing) await this.pairing.close()
  }

  async _onadd (req) {
    if (!req.inviteId.equals(this.invite.id)) return // not our invite: no reply at all
    let userData
    try { userData = req.open(this.invite.publicKey) } catch { return }
    if (this.policy === 'HostOnly' || !userData || userData.length !== 32) {
      this.metrics.pairingDenied.inc()
      return req.deny()
    }
    if (await this.admit(userData.toString('hex'), 'invite')) req.confirm({ key: this.base.key })
  }

  // Open policy: a writer-request from any peer.
  async onWriterRequest (key, remoteKey) {
    if (this.policy !== 'Open' || typeof key !== 'string' || !/^[0-9a-f]{64}$/.test(key)) return false
    return this.admit(key, 'open', remoteKey)
  }

  admit (key, how, remoteKey = null) {
    if (!this.pending.has(key)) {
      const p = this._admit(key, how, remoteKey).finally(() => this.pending.delete(key))
      this.pending.set(key, p)
    }
    return this.pending.get(key)
  }

  async _admit (key, how, remoteKey) {
    if (!this.base.writable || this.closing) return false
    const info = await this.base.system.get(Buffer.from(key, 'hex'))
    this.registry.add(key)
    if (info && !info.isRemoved) return true // already a writer (a repeated request)
    try {
      await this.base.append({ type: 'add-writer', key })
      this.metrics.writersAdded.inc()
      this.log.info('writer added', { writerKey: key, how, peer: remoteKey && remoteKey.slice(0, 16) })
      return true
    } catch (err) {
      this.log.warn('adding writer failed', { error: err.message })
      return false
    }
  }
}

module.exports = Admission
