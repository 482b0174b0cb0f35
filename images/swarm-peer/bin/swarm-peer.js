#!/usr/bin/env node
'use strict'
// swarm-peer host|client|dht-bootstrap: the reference peer, a thin program over the library.
const log = require('../lib/log')
const config = require('../lib/config')
const { createMetrics } = require('../lib/metrics')
const { logApp, logRoutes } = require('../lib/log-app')
const { Host, Member, DhtNode, Program, runUntilSignal } = require('..')

const USAGE = 'usage: swarm-peer host|client|dht-bootstrap [--host <IPv4>] [--port <n>]'

function configure (role, args) {
  try {
    if (role === 'dht-bootstrap') return config.dhtBootstrap(args)
    if (args.length) throw new config.ConfigError(`unexpected arguments for ${role}: ${args.join(' ')}`)
    return role === 'host' ? config.host() : config.client()
  } catch (err) {
    if (!(err instanceof config.ConfigError)) throw err
    process.stderr.write(`swarm-peer ${role}: configuration error: ${err.message}\n`)
    process.exit(1)
  }
}

function program (role, cfg) {
  const metrics = createMetrics(role, { processMetrics: true })
  const common = { ...cfg, log, metrics }
  if (role === 'dht-bootstrap') return new Program({ peer: new DhtNode(common), statusPort: cfg.statusPort, log })
  const peer = role === 'host' ? new Host({ ...common, app: logApp }) : new Member({ ...common, app: logApp })
  return new Program({ peer, statusPort: cfg.statusPort, appPort: cfg.appPort, appHost: cfg.appHost, appRoutes: logRoutes, log })
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
