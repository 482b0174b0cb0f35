'use strict'
// The member's stats (member.stats, plain numbers) as Prometheus series, named as the reference
// peer names them (swarm_peer_<name>, role "client"), so the chart's dashboard shows autokv's
// replicas beside the reference clients. Counters and gauges are read when scraped; timings are
// observed into histograms as they happen.
const prom = require('prom-client')

const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

function createMetrics (stats) {
  const registry = new prom.Registry()
  registry.setDefaultLabels({ role: 'client' })
  const histograms = new Map()
  for (const s of stats.instruments()) {
    const opts = { name: 'swarm_peer_' + s.name, help: s.help, registers: [registry] }
    if (s.kind === 'counter') new prom.Counter({ ...opts, collect () { this.reset(); this.inc(s.value) } }) // eslint-disable-line no-new
    else if (s.kind === 'gauge') new prom.Gauge({ ...opts, collect () { this.set(s.value) } }) // eslint-disable-line no-new
    else histograms.set(s, new prom.Histogram({ ...opts, buckets: BUCKETS }))
  }
  stats.on('timing', (s, seconds) => histograms.get(s).observe(seconds))
  return registry
}

module.exports = { createMetrics }
