'use strict'
// Keeps confirmation flowing on an indexer (shared/notes/autobase-ha-facts.md, Q1). With one of
// three indexers gone, autobase 7.28.1's own acks stopped confirming the entries members wrote:
// view.signedLength froze while view.length grew (6 runs of 6; here too, in process). The
// linearizer's shouldAck() (never ack when the only head is your own node, never when no head
// is closer to confirming) then says no on both survivors; base.ack() asks the same and does
// not help. A null append (apply skips it) by each survivor does. So, on every tick: while this peer is an active indexer and a view has had
// unconfirmed entries (length > signedLength) with no progress for `stallMs` times a random
// 1-2, append null. The jitter matters: without it (1 s) the survivors nudged at the same
// moment, each null was a head concurrent with the other's, and confirmation stayed stalled in
// 3 of 7 in-process runs (with it: 0 of 6). After
// FREE_NUDGES fruitless nudges (no quorum: a majority of indexers is down) the wait doubles up
// to `maxStallMs`, so a topic that lost its quorum is not filled with nulls.
const ReadyResource = require('ready-resource')
const Timer = require('./timer')
const { slotsCore } = require('./host-slots')
const { appendWhenIdle } = require('./append')

const FREE_NUDGES = 3 // nudges at the base period before the wait starts doubling

const isCore = (c) => !!c && typeof c.length === 'number' && typeof c.signedLength === 'number'

// Entries of a view core not yet signed by a quorum of indexers (0 for a view that is not a core).
function viewLag (core) {
  return isCore(core) ? Math.max(0, core.length - core.signedLength) : 0
}

// The cores the null appends are for: the app's view (a core, or an object of cores) and the
// host-slots view.
function viewCores (base) {
  if (!base || !base.view) return []
  const app = isCore(base.view) ? [base.view] : Object.values(base.view).filter(isCore)
  const slots = slotsCore(base.view)
  return slots ? [...app, slots] : app
}

function unconfirmed (base) {
  return viewCores(base).reduce((n, c) => n + viewLag(c), 0)
}

function signedTotal (base) {
  return viewCores(base).reduce((n, c) => n + c.signedLength, 0)
}

class Confirmer extends ReadyResource {
  constructor ({ base, isIndexer, stallMs = 1000, maxStallMs = 60000, tickMs = 250, log, stats }) {
    super()
    this.base = base
    this.isIndexer = isIndexer
    this.stallMs = stallMs
    this.maxStallMs = maxStallMs
    this.log = log
    this.stats = stats
    this.wait = stallMs
    this.since = null // when the signed length last moved while entries waited
    this.signed = -1
    this.nudges = 0
    this.fruitless = 0 // nudges since the signed length last moved
    this.jitter = 1 + Math.random() // survivors that nudge at the same moment make two concurrent heads, which stall again
    this.timer = new Timer(() => this.tick(), tickMs, { onerror: (err) => log.warn('confirmation watchdog failed', { error: err.message }) })
  }

  _progress () {
    this.wait = this.stallMs
    this.fruitless = 0
  }

  async _open () { this.timer.start() }
  async _close () { await this.timer.stop() }

  async tick (now = Date.now()) {
    const lag = unconfirmed(this.base)
    this.stats.unconfirmed.set(lag)
    if (lag === 0 || !this.base.writable || !this.isIndexer()) {
      this.since = null
      this._progress()
      return
    }
    const signed = signedTotal(this.base)
    if (this.since === null || signed !== this.signed) {
      if (this.since !== null) this._progress()
      this.signed = signed
      this.since = now
      return
    }
    if (now - this.since < this.wait * this.jitter || this.closing) return
    await appendWhenIdle(this.base, null)
    this.nudges++
    this.stats.confirmNudges.inc()
    this.since = now
    this.jitter = 1 + Math.random()
    if (++this.fruitless > FREE_NUDGES) this.wait = Math.min(this.wait * 2, this.maxStallMs)
  }
}

module.exports = { Confirmer, unconfirmed, viewLag }
