'use strict'
// A member's side of writer admission, by policy:
//   Clients  with the member seed: a blind-pairing request made with the topic's invite
//            (derived from the seed and the base key), carrying this peer's writer key;
//            retried every `retryMs` until the base says this peer is writable
//   Open     a `writer-request` to the pinned host on the key-offer channel, retried likewise
//   HostOnly nothing: the peer replicates and reads
// leave() takes this writer out of the base on a graceful stop (a `remove-writer` of its own
// key, which apply honours from the writer itself) and waits, bounded, until a peer has it.
const ReadyResource = require('ready-resource')
const BlindPairing = require('blind-pairing')
const Timer = require('./timer')
const { deriveInvite } = require('./membership')
const { appendWhenIdle } = require('./append')

class Joiner extends ReadyResource {
  constructor ({ base, replicator, hostConns, policy, memberSeed, requestWriter, retryMs = 5000, log }) {
    super()
    this.base = base
    this.replicator = replicator
    this.hostConns = hostConns
    this.policy = policy
    this.memberSeed = memberSeed
    this.log = log
    this.enabled = requestWriter && (policy === 'Open' || (policy === 'Clients' && !!memberSeed))
    this.pairing = null
    this.candidate = null
    this.requestedAt = 0
    this.writableAt = null
    this.timer = new Timer(() => this._tick(), retryMs, { onerror: (err) => log.warn('writer request failed', { error: err.message }) })
  }

  async _open () {
    this.started = Date.now()
    this.base.on('writable', () => this._onwritable())
    if (this.base.writable) this._onwritable()
    if (this.enabled) this.timer.start({ now: true })
  }

  _onwritable () {
    if (this.writableAt === null) this.writableAt = Date.now()
    this.log.info('writable', { writerKey: this.base.local.key.toString('hex'), writerSeconds: (this.writableAt - this.started) / 1000 })
    this._dropCandidate()
  }

  async _tick () {
    if (this.base.writable || this.closing) return
    if (this.policy === 'Open') {
      for (const info of this.hostConns()) this.replicator.send(info, { type: 'writer-request', key: this.base.local.key.toString('hex') })
      return
    }
    if (this.candidate && Date.now() - this.requestedAt < 15000) return
    this._dropCandidate()
    if (!this.pairing) this.pairing = new BlindPairing(this.replicator.swarm, { poll: 5000 })
    const { invite } = deriveInvite(this.base.key, this.memberSeed)
    this.requestedAt = Date.now()
    this.candidate = this.pairing.addCandidate({ invite, userData: this.base.local.key })
    this.candidate.request.on('rejected', (err) => this.log.warn('writer request rejected', { code: err && err.code }))
  }

  _dropCandidate () {
    if (!this.candidate) return
    this.candidate.close().catch(() => {})
    this.candidate = null
  }

  async leave () {
    if (!this.base.writable) return false
    const key = this.base.local.key.toString('hex')
    await appendWhenIdle(this.base, { type: 'remove-writer', key }, { timeoutMs: 3000 })
    const local = this.base.local
    const sent = () => local.peers.some((p) => p.remoteLength >= local.length)
    for (const until = Date.now() + 3000; !sent() && Date.now() < until;) await new Promise((resolve) => setTimeout(resolve, 50))
    const ok = sent()
    this.log.info('left the writers', { writerKey: key, acknowledged: ok })
    return ok
  }

  async _close () {
    await this.timer.stop()
    this._dropCandidate()
    if (this.pairing) await this.pairing.close()
  }
}

module.exports = Joiner
