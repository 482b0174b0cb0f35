'use strict'
// A private DHT bootstrap node (persistent, not firewalled).
const DHT = require('hyperdht')
const ReadyResource = require('ready-resource')
const quiet = require('./quiet-log')
const Stats = require('./stats')
const config = require('./config')

class DhtNode extends ReadyResource {
  constructor ({ dhtHost, dhtPort, log = quiet, stats = new Stats() }) {
    super()
    this.role = 'dht-bootstrap'
    this.host = dhtHost
    this.port = dhtPort
    this.log = log
    this.stats = stats
    this.node = null
  }

  // Its options from `--host <IPv4> --port <n>` and the environment (SWARM_DHT_HOST, SWARM_DHT_PORT).
  static config (argv = [], env = process.env) { return config.dhtBootstrap(argv, env) }

  async _open () {
    this.node = DHT.bootstrapper(this.port, this.host, { host: this.host })
    await this.node.ready()
    this.stats.dhtOnline.set(1)
    this.log.info('dht bootstrap node listening', { host: this.host, port: this.node.address().port })
  }

  async _close () {
    if (this.node) await this.node.destroy()
    this.log.info('closed')
  }

  readiness () {
    const ready = this.opened && !this.closing
    this.stats.ready.set(ready ? 1 : 0)
    return { ready, reason: ready ? null : 'not bound' }
  }

  status () {
    return { role: 'dht-bootstrap', host: this.host, port: this.port, nodes: this.node ? this.node.toArray().length : 0 }
  }
}

module.exports = DhtNode
