#!/usr/bin/env node
'use strict'
// swarm-peer host|client|dht-bootstrap: the reference peer, a program on the member library
// (@swarm-operator/member): the status port, prom-client metrics from the peers' stats, the JSON
// log app's API, JSON logs on stdout and signal handling.
const { Host, Member, DhtNode, ConfigError } = require('@swarm-operator/member')
const log = require('../lib/log')
const { createMetrics } = require('../lib/metrics')
const { logRoutes } = require('../lib/log-routes')
const Program = require('../lib/program')
const { runUntilSignal } = require('../lib/run')

const USAGE = 'usage: swarm-peer host|client|dht-bootstrap [--host <IPv4>] [--port <n>]'

function configure (role, args) {
  try {
    if (role === 'dht-bootstrap') return DhtNode.config(args)
    if (args.length) throw new ConfigError(`unexpected arguments for ${role}: ${args.join(' ')}`)
    return role === 'host' ? Host.config() : Member.config()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`swarm-peer ${role}: configuration error: ${err.message}\n`)
    process.exit(1)
  }
}

// Host and client run the library's default app, the JSON log, with its API on the app port.
function program (role, cfg) {
  const common = { ...cfg, log }
  if (role === 'dht-bootstrap') {
    const peer = new DhtNode(common)
    return new Program({ peer, metrics: createMetrics(role, peer.stats, { processMetrics: true }), statusPort: cfg.statusPort, log })
  }
  const peer = role === 'host' ? new Host(common) : new Member(common)
  const metrics = createMetrics(role, peer.stats, { processMetrics: true })
  return new Program({ peer, metrics, statusPort: cfg.statusPort, appPort: cfg.appPort, appHost: cfg.appHost, appRoutes: logRoutes, log })
}

function main () {
  const [role, ...args] = process.argv.slice(2)
  if (role === '--help' || role === '-h') { process.stdout.write(USAGE + '\n'); return }
  if (!['host', 'client', 'dht-bootstrap'].includes(role)) {
    process.stderr.write(`swarm-peer: unknown role ${JSON.stringify(role || '')}\n${USAGE}\n`)
    process.exit(2)
  }
  const cfg = configure(role, args)
  log.setRole(role)
  runUntilSignal(program(role, cfg), { log, name: `swarm-peer ${role}` })
}

main()
