'use strict'
// A private DHT bootstrap node (persistent, not firewalled), with the status server.
const DHT = require('hyperdht')
const log = require('./log')
const { createMetrics } = require('./metrics')
const { createStatusServer } = require('./status-server')

async function runDhtBootstrap (cfg) {
  const metrics = createMetrics('dht-bootstrap')
  const node = DHT.bootstrapper(cfg.dhtPort, cfg.dhtHost, { host: cfg.dhtHost })
  let ready = false
  await node.ready()
  ready = true
  metrics.dhtOnline.set(1)
  log.info('dht bootstrap node listening', { host: cfg.dhtHost, port: node.address().port })
  const status = createStatusServer({
    port: cfg.statusPort,
    metrics,
    log,
    handlers: {
      ready: () => {
        metrics.ready.set(ready ? 1 : 0)
        return { ready, reason: ready ? null : 'not bound' }
      },
      status: () => ({ role: 'dht-bootstrap', host: cfg.dhtHost, port: cfg.dhtPort, nodes: node.toArray().length })
    }
  })
  const port = await status.listen()
  log.info('status server listening', { port })
  return async function close () {
    ready = false
    await status.close()
    await node.destroy()
    log.info('closed')
  }
}

module.exports = { runDhtBootstrap }
