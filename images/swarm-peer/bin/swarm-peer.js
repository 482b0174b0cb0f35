#!/usr/bin/env node
'use strict'
const log = require('../lib/log')
const config = require('../lib/config')

const USAGE = 'usage: swarm-peer host|client|dht-bootstrap [--host <IPv4>] [--port <n>]'

async function main () {
  const [role, ...args] = process.argv.slice(2)
  if (role === '--help' || role === '-h') { process.stdout.write(USAGE + '\n'); return }
  if (!['host', 'client', 'dht-bootstrap'].includes(role)) {
    process.stderr.write(`swarm-peer: unknown role ${JSON.stringify(role || '')}\n${USAGE}\n`)
    process.exit(2)
  }
  let cfg
  try {
    if (role === 'host') cfg = config.host()
    else if (role === 'client') cfg = config.client()
    else cfg = config.dhtBootstrap(args)
    if (role !== 'dht-bootstrap' && args.length) throw new config.ConfigError(`unexpected arguments for ${role}: ${args.join(' ')}`)
  } catch (err) {
    if (err instanceof config.ConfigError) {
      process.stderr.write(`swarm-peer ${role}: configuration error: ${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
  log.setRole(role)
  let run
  if (role === 'host') run = require('../lib/host').runHost
  else if (role === 'client') run = require('../lib/client').runClient
  else run = require('../lib/dht-bootstrap').runDhtBootstrap

  let close = null
  let stopping = false
  const stop = async (signal) => {
    if (stopping) return
    stopping = true
    log.info('signal received', { signal })
    const force = setTimeout(() => { log.error('shutdown timed out'); process.exit(1) }, 20000)
    force.unref()
    if (!close) {
      // Still starting: run() closes as soon as it returns; a start that waits on the network
      // (a client waiting for a key offer) is given 10 s, then the process exits.
      setTimeout(() => { log.warn('exiting during start-up'); process.exit(0) }, 10000)
      return
    }
    try {
      await close()
      process.exit(0)
    } catch (err) {
      log.error('shutdown failed', { error: err.message })
      process.exit(1)
    }
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  try {
    close = await run(cfg)
    if (stopping) { await close(); process.exit(0) }
  } catch (err) {
    const msg = err && err.message ? err.message : String(err)
    log.error('fatal', { error: msg })
    process.stderr.write(`swarm-peer ${role}: ${msg}\n`)
    process.exit(1)
  }
}

main()
