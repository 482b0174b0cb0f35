'use strict'
// The process's one Hyperswarm: replicates the Corestore on every connection, opens the
// key-offer channel next to it and keeps per-connection state in a Map (connections are
// never patched). Emits 'peer' (info) when a connection opens, 'peer-close' (info), and
// 'message' (info, msg) for key-offer channel messages.
const ReadyResource = require('ready-resource')
const { createSwarm, withTimeout } = require('./swarm')
const offer = require('./offer')

class Replicator extends ReadyResource {
  constructor ({ store, bootstrap, dhtHost, keyPair = null, firewalled, stats, log }) {
    super()
    this.store = store
    this.stats = stats
    this.log = log
    this.swarm = createSwarm({ bootstrap, dhtHost, keyPair, firewalled })
    this.peers = new Map() // conn -> {conn, remoteKey, channel, ...role-specific fields}
    this.topics = []
    this.wakeup = null // the base's wakeup protocol (Autobase's replicate() does the same)
    this.started = Date.now()
    this.swarm.on('connection', (conn) => {
      try { this._onconnection(conn) } catch (err) { log.error('connection handler failed', { error: err.stack }) }
    })
  }

  get publicKey () { return this.swarm.keyPair.publicKey }

  join (topic, opts) {
    this.topics.push(topic)
    return this.swarm.join(topic, opts)
  }

  // Once the base is open: its wakeup protocol runs on every replication stream.
  attachWakeup (wakeup) {
    this.wakeup = wakeup
    for (const info of this.peers.values()) wakeup.addStream(info.stream)
  }

  send (info, msg) {
    if (info.channel) info.channel.send(msg)
  }

  _onconnection (conn) {
    const info = { conn, remoteKey: conn.remotePublicKey.toString('hex'), stream: null, channel: null }
    this.peers.set(conn, info)
    this.stats.connections.set(this.swarm.connections.size)
    conn.on('error', () => {})
    conn.on('close', () => {
      this.peers.delete(conn)
      this.stats.connections.set(this.swarm.connections.size)
      this.emit('peer-close', info)
    })
    info.stream = this.store.replicate(conn)
    if (this.wakeup) this.wakeup.addStream(info.stream)
    info.channel = offer.attach(conn, (m) => this.emit('message', info, m))
    this.emit('peer', info)
  }

  async _close () {
    await withTimeout(Promise.all(this.topics.map((t) => this.swarm.leave(t))), 5000)
    await withTimeout(this.swarm.destroy(), 5000)
  }
}

module.exports = Replicator
