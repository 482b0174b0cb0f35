'use strict'
// Key offers as a member receives them: usable only when signed by the pinned host and received
// over a connection whose remote key is that host; an offer naming another base than the
// configured one is ignored too (the configured key wins). Everything else is counted.
const signed = require('./signed')

class OfferInbox {
  constructor ({ topic, hostPublicKey, log, stats }) {
    this.topic = topic
    this.hostPublicKey = hostPublicKey
    this.log = log
    this.stats = stats
    this.ignored = 0
    this.conflicting = 0
    this.waiters = []
  }

  next () {
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  receive (info, m, baseKey) {
    if (m.type !== 'offer') return
    const payload = signed.verify(m.envelope, this.hostPublicKey)
    if (!payload || info.remoteKey !== this.hostPublicKey || payload.topic !== this.topic) {
      return this._ignore('key offer ignored', { from: info.remoteKey.slice(0, 16), reason: !payload ? 'not signed by the pinned host' : 'wrong peer or topic' })
    }
    if (baseKey && payload.baseKey !== baseKey) {
      this.conflicting++
      return this._ignore('pinned host offers another base key; keeping the configured one', { offered: payload.baseKey, kept: baseKey })
    }
    for (const resolve of this.waiters.splice(0)) resolve(payload)
  }

  _ignore (msg, fields) {
    this.ignored++
    this.stats.offersIgnored.inc()
    this.log.warn(msg, fields)
  }
}

module.exports = OfferInbox
