'use strict'
// Prometheus metrics (SPEC section 6). Only a `role` label: no keys, no pod names.
const prom = require('prom-client')

const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

// processMetrics: the process_* collectors (once per process: the programs turn them on, an
// app running several peers in one process leaves them off).
function createMetrics (role, { processMetrics = false } = {}) {
  const registry = new prom.Registry()
  registry.setDefaultLabels({ role })
  if (processMetrics) prom.collectDefaultMetrics({ register: registry, prefix: 'swarm_peer_process_' })
  // prom-client names three gauges `*_total`, which Prometheus reserves for counters
  // (`promtool check metrics` rejects them); the per-type gauges without the suffix remain.
  for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
    registry.removeSingleMetric('swarm_peer_process_nodejs_' + name)
  }
  const m = {
    registry,
    announceFlush: new prom.Histogram({ name: 'swarm_peer_announce_flush_seconds', help: 'Seconds from joining the topics to a flushed (stored) announce of both', buckets: BUCKETS, registers: [registry] }),
    firstPeer: new prom.Histogram({ name: 'swarm_peer_first_peer_seconds', help: 'Seconds from start to the first connection to the (pinned) host or peer', buckets: BUCKETS, registers: [registry] }),
    replicated: new prom.Histogram({ name: 'swarm_peer_replicated_seconds', help: 'Seconds from start to the base view replicated from the host', buckets: BUCKETS, registers: [registry] }),
    connections: new prom.Gauge({ name: 'swarm_peer_connections', help: 'Open Hyperswarm connections', registers: [registry] }),
    dhtOnline: new prom.Gauge({ name: 'swarm_peer_dht_online', help: '1 while the DHT node considers itself online', registers: [registry] }),
    ready: new prom.Gauge({ name: 'swarm_peer_ready', help: '1 while /readyz answers 200', registers: [registry] }),
    viewLength: new prom.Gauge({ name: 'swarm_peer_view_length', help: 'Length of the Autobase view', registers: [registry] }),
    offersIgnored: new prom.Counter({ name: 'swarm_peer_key_offers_ignored_total', help: 'Key offers ignored because they did not come from the pinned host or did not verify', registers: [registry] }),
    offersSent: new prom.Counter({ name: 'swarm_peer_key_offers_sent_total', help: 'Signed key offers sent to peers', registers: [registry] }),
    reannounces: new prom.Counter({ name: 'swarm_peer_reannounces_total', help: 'Watchdog re-announces after the own announce was missing', registers: [registry] }),
    writersAdded: new prom.Counter({ name: 'swarm_peer_writers_added_total', help: 'Writers added (invite proven, or policy Open)', registers: [registry] }),
    writersRemoved: new prom.Counter({ name: 'swarm_peer_writers_removed_total', help: 'Idle writers removed by the host sweep', registers: [registry] }),
    writers: new prom.Gauge({ name: 'swarm_peer_writers', help: 'Active writers of the base (the host included)', registers: [registry] }),
    writable: new prom.Gauge({ name: 'swarm_peer_writable', help: '1 while this peer is a writer of the base', registers: [registry] }),
    pairingDenied: new prom.Counter({ name: 'swarm_peer_pairing_denied_total', help: 'Invite requests opened and denied (policy HostOnly or bad request)', registers: [registry] }),
    entriesIgnored: new prom.Counter({ name: 'swarm_peer_writer_entries_ignored_total', help: 'Membership entries refused by apply (not from an active indexer, stale, malformed, the last indexer)', registers: [registry] }),
    offersRefused: new prom.Counter({ name: 'swarm_peer_key_offers_refused_total', help: 'Key offers withheld from peers that did not prove membership', registers: [registry] }),
    indexers: new prom.Gauge({ name: 'swarm_peer_indexers', help: 'Active indexers of the base, as this peer sees its system', registers: [registry] }),
    indexer: new prom.Gauge({ name: 'swarm_peer_indexer', help: '1 while this peer is an active indexer of the base', registers: [registry] }),
    unconfirmed: new prom.Gauge({ name: 'swarm_peer_unconfirmed_entries', help: 'Entries of the view not yet signed by a quorum of indexers (view length - signed length)', registers: [registry] }),
    confirmNudges: new prom.Counter({ name: 'swarm_peer_confirm_nudges_total', help: 'Null appends by the confirmation watchdog (an indexer unblocking stalled confirmation)', registers: [registry] }),
    pairingSilent: new prom.Counter({ name: 'swarm_peer_pairing_unanswered_total', help: 'Pairing requests left unanswered because this host is not an active indexer', registers: [registry] }),
    hostsPromoted: new prom.Counter({ name: 'swarm_peer_hosts_promoted_total', help: 'Host promotions (add-indexer/replace-indexer) appended by this host', registers: [registry] }),
    startedOver: new prom.Counter({ name: 'swarm_peer_host_started_over_total', help: 'Times this host found its writer key replaced or removed and started over on an empty store', registers: [registry] })
  }
  return m
}

module.exports = { createMetrics, BUCKETS }
