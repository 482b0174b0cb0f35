'use strict'
// A peer as a program: the status port (GET /healthz /readyz /status /metrics) listening from
// the start, the peer opened behind it, and the app's own API (if it has routes) on
// SWARM_APP_HOST:SWARM_APP_PORT once the peer is open. close() stops them in reverse order.
const HttpServer = require('./http-server')
const { statusRoutes } = require('./status-routes')

class Program {
  // peer: a Host, Member or DhtNode of the library; metrics: createMetrics(role, peer.stats);
  // appRoutes(peer) -> route table, or null
  constructor ({ peer, metrics, statusPort, appPort = null, appHost = '127.0.0.1', appRoutes = null, log }) {
    this.peer = peer
    this.metrics = metrics
    this.log = log
    this.status = new HttpServer({ port: statusPort, routes: statusRoutes(peer, metrics), log })
    this.appOpts = appRoutes ? { port: appPort, host: appHost, routes: null, make: appRoutes } : null
    this.app = null
  }

  async start () {
    const port = await this.status.listen()
    this.log.info('status server listening', { port })
    await this.peer.ready()
    this.peer.readiness()
    if (this.appOpts) {
      this.app = new HttpServer({ port: this.appOpts.port, host: this.appOpts.host, routes: this.appOpts.make(this.peer), log: this.log })
      const appPort = await this.app.listen()
      this.log.info('app server listening', { host: this.appOpts.host, port: appPort })
    }
  }

  async close () {
    if (this.app) await this.app.close()
    await this.status.close()
    await this.peer.close()
    this.metrics.close()
  }
}

module.exports = Program
