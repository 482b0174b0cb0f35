'use strict'
// A peer's stats as plain numbers (in the manner of Hyperswarm's `swarm.stats`): counters that
// only grow, gauges that go up and down, and timings (seconds, observed once per event, each
// also emitted as a 'timing' event). Member, Host and DhtNode count here; a program turns the
// numbers into metrics of its own (the reference program: prom-client series named
// `swarm_peer_<name>`). Each instrument describes itself: {kind, key, name, help}.
const EventEmitter = require('events')

class Instrument {
  constructor (kind, key, name, help) {
    this.kind = kind
    this.key = key
    this.name = name
    this.help = help
  }
}

class Counter extends Instrument {
  constructor (...args) {
    super(...args)
    this.value = 0
  }

  inc (n = 1) {
    if (!(n >= 0)) throw new RangeError(`a counter only grows: ${this.key} + ${n}`)
    this.value += n
  }
}

class Gauge extends Instrument {
  constructor (...args) {
    super(...args)
    this.value = 0
  }

  set (value) { this.value = value }
}

class Timing extends Instrument {
  constructor (kind, key, name, help, emit) {
    super(kind, key, name, help)
    this._emit = emit
    this.count = 0
    this.sum = 0
    this.last = null
  }

  observe (seconds) {
    this.count++
    this.sum += seconds
    this.last = seconds
    this._emit(this, seconds)
  }
}

const KINDS = { counter: Counter, gauge: Gauge, timing: Timing }

// [kind, key (the property), name (stable, snake_case, with its unit), what it counts]
const TABLE = [
  ['timing', 'announceFlush', 'announce_flush_seconds', 'Seconds from joining the topics to a flushed (stored) announce of both'],
  ['timing', 'firstPeer', 'first_peer_seconds', 'Seconds from start to the first connection to the (pinned) host or peer'],
  ['timing', 'replicated', 'replicated_seconds', 'Seconds from start to the base view replicated from the host'],
  ['gauge', 'connections', 'connections', 'Open Hyperswarm connections'],
  ['gauge', 'dhtOnline', 'dht_online', '1 while the DHT node considers itself online'],
  ['gauge', 'ready', 'ready', '1 while /readyz answers 200'],
  ['gauge', 'viewLength', 'view_length', 'Length of the Autobase view'],
  ['counter', 'offersIgnored', 'key_offers_ignored_total', 'Key offers ignored because they did not come from the pinned host or did not verify'],
  ['counter', 'offersSent', 'key_offers_sent_total', 'Signed key offers sent to peers'],
  ['counter', 'reannounces', 'reannounces_total', 'Watchdog re-announces after the own announce was missing'],
  ['counter', 'writersAdded', 'writers_added_total', 'Writers added (invite proven, or policy Open)'],
  ['counter', 'writersRemoved', 'writers_removed_total', 'Idle writers removed by the host sweep'],
  ['gauge', 'writers', 'writers', 'Active writers of the base (the host included)'],
  ['gauge', 'writable', 'writable', '1 while this peer is a writer of the base'],
  ['counter', 'pairingDenied', 'pairing_denied_total', 'Invite requests opened and denied (policy HostOnly or bad request)'],
  ['counter', 'entriesIgnored', 'writer_entries_ignored_total', 'Membership entries refused by apply (not from an active indexer, stale, malformed, the last indexer)'],
  ['counter', 'offersRefused', 'key_offers_refused_total', 'Key offers withheld from peers that did not prove membership'],
  ['gauge', 'indexers', 'indexers', 'Active indexers of the base, as this peer sees its system'],
  ['gauge', 'indexer', 'indexer', '1 while this peer is an active indexer of the base'],
  ['gauge', 'unconfirmed', 'unconfirmed_entries', 'Entries of the view not yet signed by a quorum of indexers (view length - signed length)'],
  ['counter', 'confirmNudges', 'confirm_nudges_total', 'Null appends by the confirmation watchdog (an indexer unblocking stalled confirmation)'],
  ['counter', 'pairingSilent', 'pairing_unanswered_total', 'Pairing requests left unanswered because this host is not an active indexer'],
  ['counter', 'hostsPromoted', 'hosts_promoted_total', 'Host promotions (add-indexer/replace-indexer) appended by this host'],
  ['counter', 'startedOver', 'host_started_over_total', 'Times this host found its writer key replaced or removed and started over on an empty store']
]

class Stats extends EventEmitter {
  constructor () {
    super()
    const emit = (timing, seconds) => this.emit('timing', timing, seconds)
    for (const [kind, key, name, help] of TABLE) this[key] = new KINDS[kind](kind, key, name, help, emit)
  }

  // Every instrument, in a stable order.
  instruments () {
    return TABLE.map(([, key]) => this[key])
  }

  // {key: number} for counters and gauges, {key: {count, sum, last}} for timings.
  toJSON () {
    const out = {}
    for (const i of this.instruments()) out[i.key] = i.kind === 'timing' ? { count: i.count, sum: i.sum, last: i.last } : i.value
    return out
  }
}

module.exports = Stats
