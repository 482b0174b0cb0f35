'use strict'
// The peer's Prometheus metrics (SPEC section 6), made from the library's plain stats: each
// instrument of `peer.stats` becomes the series `swarm_peer_<name>` (counters and gauges read at
// scrape time, timings observed into histograms as they happen). Only a `role` label: no keys,
// no pod names.
const prom = require('prom-client')

const PREFIX = 'swarm_peer_'
const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

// prom-client names three process gauges `*_total`, which Prometheus reserves for counters
// (`promtool check metrics` rejects them); the per-type gauges without the suffix remain.
const MISNAMED_GAUGES = ['active_handles_total', 'active_requests_total', 'active_resources_total']

function series (instrument, registry) {
  const common = { name: PREFIX + instrument.name, help: instrument.help, registers: [registry] }
  if (instrument.kind === 'counter') {
    return new prom.Counter({ ...common, collect () { this.reset(); this.inc(instrument.value) } })
  }
  if (instrument.kind === 'gauge') {
    return new prom.Gauge({ ...common, collect () { this.set(instrument.value) } })
  }
  return new prom.Histogram({ ...common, buckets: BUCKETS })
}

// stats: a library Stats (peer.stats), before the peer opens (a timing observed earlier is not
// in its histogram). processMetrics: the process_* collectors, once per process (the program
// turns them on; a process running several peers leaves them off for all but one).
function createMetrics (role, stats, { processMetrics = false } = {}) {
  const registry = new prom.Registry()
  registry.setDefaultLabels({ role })
  if (processMetrics) {
    prom.collectDefaultMetrics({ register: registry, prefix: PREFIX + 'process_' })
    for (const name of MISNAMED_GAUGES) registry.removeSingleMetric(PREFIX + 'process_nodejs_' + name)
  }
  const histograms = new Map()
  for (const instrument of stats.instruments()) {
    const metric = series(instrument, registry)
    if (instrument.kind === 'timing') histograms.set(instrument, metric)
  }
  const ontiming = (instrument, seconds) => {
    const h = histograms.get(instrument)
    if (h) h.observe(seconds)
  }
  stats.on('timing', ontiming)
  return { registry, close: () => stats.off('timing', ontiming) }
}

module.exports = { createMetrics, BUCKETS, PREFIX }
