'use strict'
// Keeps confirmation flowing on an indexer (shared/notes/autobase-ha-facts.md, Q1). With one of
// three indexers gone, autobase 7.28.1's own acks stopped confirming the entries members wrote:
// view.signedLength froze while view.length grew (6 runs of 6). Its linearizer never acks a DAG
// whose only head is its own node ("never self-ack"), so the two survivors can each wait for the
// other; base.ack() runs the same check and does not help. A null append (apply skips it) by
// each survivor does. So, on every tick: while this peer is an active indexer and a view has had
// unconfirmed entries (length > signedLength) with no progress for `stallMs`, append null. When
// nothing moves after that (no quorum: a majority of indexers is down), the wait doubles up to
// `maxStallMs`, so a topic that lost its quorum is not filled with nulls.
const ReadyResource = require('ready-resource')
const Timer = require('./timer')
const { slotsCore } = require('./host-slots')

// Entries of a view core not yet signed by a quorum of indexers (0 for a view that is not a core).
function viewLag (core) {
  if (!core || typeof core.length !== 'number' || typeof core.signedLength !== 'number') return 0
  return Math.max(0, core.length - core.signedLength)
}

// The app's view and the host-slots view: what the null appends are for.
function unconfirmed (base) {
  if (!base || !base.view) return 0
  return viewLag(base.view) + viewLag(slotsCore(base.view))
}

function signedTotal (base) {
  const s = (core) => (core && typeof core.signedLength === 'number' ? core.signedLength : 0)
  return s(base.view) + s(slotsCore(base.view))
}

class Confirmer extends ReadyResource {
  constructor ({ base, isIndexer, stallMs = 2000, maxStallMs = 60000, tickMs = 250, log, metrics }) {
    super()
    this.base = base
    this.isIndexer = isIndexer
    this.stallMs = stallMs
    this.maxStallMs = maxStallMs
    this.log = log
    this.metrics = metrics
    this.wait = stallMs
    this.since = null // when the signed length last moved while entries waited
    this.signed = -1
    this.nudges = 0
    this.timer = new Timer(() => this.tick(), tickMs, { onerror: (err) => log.warn('confirmation watchdog failed', { error: err.message }) })
  }

  async _open () { this.timer.start() }
  async _close () { await this.timer.stop() }

  async tick (now = Date.now()) {
    const lag = unconfirmed(this.base)
    this.metrics.unconfirmed.set(viewLag(this.base.view))
    if (lag === 0 || !this.base.writable || !this.isIndexer()) {
      this.since = null
      this.wait = this.stallMs
      return
    }
    const signed = signedTotal(this.base)
    if (this.since === null || signed !== this.signed) {
      if (this.since !== null) this.wait = this.stallMs // progress
      this.signed = signed
      this.since = now
      return
    }
    if (now - this.since < this.wait || this.closing) return
    await this.base.append(null)
    this.nudges++
    this.metrics.confirmNudges.inc()
    this.since = now
    this.wait = Math.min(this.wait * 2, this.maxStallMs)
  }
}

module.exports = { Confirmer, unconfirmed, viewLag }
