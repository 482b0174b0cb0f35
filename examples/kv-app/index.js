#!/usr/bin/env node
'use strict'
// autokv: a small key-value agent on a SwarmTopic, built on the member library. It runs as the
// topic's client group: the operator gives it the SWARM_* environment (base key, host public key,
// member seed, encryption key). It serves GET /healthz /readyz /status /metrics on
// SWARM_STATUS_PORT (the probes, Prometheus) and its own API on SWARM_APP_HOST:SWARM_APP_PORT;
// SIGTERM (or SIGINT) closes the member (it leaves the writer set) and exits 0.
const { Member, ConfigError } = require('@swarm-operator/member')
const { kvApp, kvRoutes } = require('./kv')
const { serve, stop } = require('./server')
const { createMetrics } = require('./metrics')

const write = (level) => (msg, fields) => process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level, app: 'autokv', msg, ...fields }) + '\n')
const log = { info: write('info'), warn: write('warn'), error: write('error') }

function config () {
  try {
    return Member.config()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`autokv: configuration error: ${err.message}\n`)
    process.exit(1)
  }
}

function statusRoutes (member, metrics) {
  return {
    'GET /healthz': () => ({ body: { ok: true } }),
    'GET /readyz': () => {
      const r = member.readiness()
      return { code: r.ready ? 200 : 503, body: r }
    },
    'GET /status': () => ({ body: member.status() }),
    'GET /metrics': async () => ({ body: await metrics.metrics(), type: metrics.contentType })
  }
}

async function main () {
  const cfg = config()
  const member = new Member({ ...cfg, app: kvApp, log })
  const status = await serve({ port: cfg.statusPort, routes: statusRoutes(member, createMetrics(member.stats)) })
  let api = null
  const shutdown = async () => {
    setTimeout(() => process.exit(1), 20000).unref()
    if (api) await stop(api)
    await member.close()
    await stop(status)
    process.exit(0)
  }
  process.once('SIGTERM', shutdown)
  process.once('SIGINT', shutdown)
  await member.ready()
  api = await serve({ port: cfg.appPort, host: cfg.appHost, routes: kvRoutes(member) })
  log.info('autokv ready to serve', { statusPort: status.address().port, appPort: api.address().port })
}

main().catch((err) => {
  process.stderr.write(`autokv: ${err.message}\n`)
  process.exit(1)
})
