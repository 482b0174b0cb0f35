'use strict'
// The program's Prometheus series, made from the library's plain stats: exactly the series
// docs/metrics.md documents (names and types: the contract the dashboard and alerts read), with
// the values the stats hold when scraped.
const test = require('node:test')
const assert = require('node:assert')
const fs = require('fs')
const path = require('path')
const { Stats } = require('@swarm-operator/member')
const { createMetrics } = require('../lib/metrics')

const DOC = path.join(__dirname, '..', '..', '..', '..', 'docs', 'metrics.md')

// The peers' table of docs/metrics.md: | `swarm_peer_<name>` | type | meaning |
function documented () {
  const rows = fs.readFileSync(DOC, 'utf8').matchAll(/^\| `(swarm_peer_[a-z_]+)` \| (counter|gauge|histogram) \|/gm)
  return [...rows].map(([, name, type]) => `${name} ${type}`).sort()
}

test('the series are the documented ones, with their types', async () => {
  const doc = documented()
  assert.ok(doc.length >= 20, `docs/metrics.md lists ${doc.length} peer series`)
  for (const role of ['host', 'client', 'dht-bootstrap']) {
    const metrics = createMetrics(role, new Stats())
    const got = (await metrics.registry.getMetricsAsJSON()).map((m) => `${m.name} ${m.type}`).sort()
    assert.deepStrictEqual(got, doc, role)
    metrics.close()
  }
})

test('counters and gauges read the stats when scraped; timings fill histograms', async () => {
  const stats = new Stats()
  const metrics = createMetrics('host', stats)
  const scrape = () => metrics.registry.metrics()
  assert.match(await scrape(), /^swarm_peer_key_offers_sent_total\{role="host"\} 0$/m)
  stats.offersSent.inc()
  stats.offersSent.inc(2)
  stats.connections.set(4)
  stats.firstPeer.observe(0.3)
  let text = await scrape()
  assert.match(text, /^swarm_peer_key_offers_sent_total\{role="host"\} 3$/m)
  assert.match(text, /^swarm_peer_connections\{role="host"\} 4$/m)
  assert.match(text, /^swarm_peer_first_peer_seconds_bucket\{le="0.25",role="host"\} 0$/m)
  assert.match(text, /^swarm_peer_first_peer_seconds_bucket\{le="0.5",role="host"\} 1$/m)
  assert.match(text, /^swarm_peer_first_peer_seconds_count\{role="host"\} 1$/m)
  stats.offersSent.inc()
  stats.connections.set(1)
  text = await scrape()
  assert.match(text, /^swarm_peer_key_offers_sent_total\{role="host"\} 4$/m)
  assert.match(text, /^swarm_peer_connections\{role="host"\} 1$/m)
  metrics.close()
  stats.firstPeer.observe(1) // after close(): no longer observed
  assert.match(await scrape(), /^swarm_peer_first_peer_seconds_count\{role="host"\} 1$/m)
})

test('the process metrics, when asked for, carry the prefix and no gauge named *_total', async () => {
  const metrics = createMetrics('client', new Stats(), { processMetrics: true })
  const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name)
  assert.ok(names.includes('swarm_peer_process_process_cpu_seconds_total'), names.join(' '))
  assert.deepStrictEqual((await metrics.registry.getMetricsAsJSON()).filter((m) => m.type === 'gauge' && m.name.endsWith('_total')).map((m) => m.name), [])
  metrics.close()
})
