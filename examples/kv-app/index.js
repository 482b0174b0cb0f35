#!/usr/bin/env node
'use strict'
// autokv: a small key-value agent on a SwarmTopic, built on the swarm-peer member library.
// It runs as the topic's client group: the operator gives it the SWARM_* environment (base key,
// host public key, member seed, encryption key); it serves /healthz /readyz /status /metrics on
// SWARM_STATUS_PORT and its own API on SWARM_APP_HOST:SWARM_APP_PORT.
const { Member, Program, config, log, createMetrics, runUntilSignal } = require('swarm-peer')
const { kvApp, kvRoutes } = require('./kv')

let cfg
try {
  cfg = config.client()
} catch (err) {
  process.stderr.write(`autokv: configuration error: ${err.message}\n`)
  process.exit(1)
}
log.setRole('autokv')
const metrics = createMetrics('client', { processMetrics: true })
const member = new Member({ ...cfg, app: kvApp, log, metrics })
const program = new Program({ peer: member, statusPort: cfg.statusPort, appPort: cfg.appPort, appHost: cfg.appHost, appRoutes: kvRoutes, log })
runUntilSignal(program, { log, name: 'autokv' })
