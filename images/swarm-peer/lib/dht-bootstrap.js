'use strict'
// A private DHT bootstrap node (persistent, not firewalled).
const DHT = require('hyperdht')
const ReadyResource = require('ready-resource')
const quiet = require('./quiet-log')

class DhtNode extends ReadyResource {
  constructor ({ dhtHost, dhtPort, log = quiet, metrics }) {
    super()
    this.role = 'dht-bootstrap'
    this.host = dhtHost
    this.port = dhtPort
    this.log = log
    this.metrics = metrics
    this.node = null
  }

  async _open () {
    this.node = DHT.bootstrapper(this.port, this.host, { host: this.host })
    await this.node.ready()
    this.metrics.dhtOnline.set(1)
    this.log.info('dht bootstrap node listening', { host: this.host, port: this.node.address().port })
  }

  async _close () {
    if (this.node) await this.node.destroy()
    this.log.info('closed')
  }

  readiness () {
    const ready = this.opened && !this.closing
    this.metrics.ready.set(ready ? 1 : 0)
    return { ready, reason: ready ? null : 'not bound' }
  }

  status () {
    return { role: 'dht-bootstrap', host: this.host, port: this.port, nodes: this.node ? this.node.toArray().length : 0 }
  }
}

module.exports = DhtNode
