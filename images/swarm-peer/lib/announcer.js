'use strict'
// The host's announces of the bootstrap topic and the base discovery key, and their watchdog:
// it looks its own announces up on the DHT; when one is missing it refreshes the server
// (relays), re-announces and checks again. When both are found but the server has no relay
// addresses (announces that flushed while the DHT was coming back) it re-announces too.
const ReadyResource = require('ready-resource')
const Timer = require('./timer')
const { isAnnounced, withTimeout } = require('./swarm')

class Announcer extends ReadyResource {
  constructor ({ replicator, topics, intervalMs, log, stats }) {
    super()
    this.replicator = replicator
    this.swarm = replicator.swarm
    this.log = log
    this.stats = stats
    this.topics = topics.map(([name, topic]) => ({ name, topic, discovery: null, flushed: false }))
    this.announced = false
    this.announcedAt = null
    this.announceSeconds = null
    this.t0 = 0
    this.watchdog = new Timer(() => this.check(), intervalMs, {
      onerror: (err) => { this.announced = false; log.warn('watchdog failed', { error: err.message }) }
    })
  }

  get flushed () { return this.topics.every((t) => t.flushed) }

  // Joins both topics and waits for the first announce; the watchdog takes over either way.
  async _open () {
    this.t0 = Date.now()
    for (const t of this.topics) t.discovery = this.replicator.join(t.topic, { server: true, client: false })
    const results = await Promise.all(this.topics.map((t) => t.discovery.flushed()))
    this.topics.forEach((t, i) => { t.flushed = results[i] })
    if (this.flushed) {
      await this.waitRelays(10000)
      this._verified()
      this.log.info('announced', { announceSeconds: this.announceSeconds, relays: this.swarm.server.relayAddresses.length })
    } else {
      this.log.warn('first announce did not flush; the watchdog retries', Object.fromEntries(this.topics.map((t) => [t.name, t.flushed])))
    }
    this.watchdog.start({ now: !this.announced })
  }

  async _close () {
    await this.watchdog.stop()
  }

  _verified () {
    if (this.announceSeconds === null) {
      this.announceSeconds = (Date.now() - this.t0) / 1000
      this.stats.announceFlush.observe(this.announceSeconds)
    }
    this.announced = true
    const first = this.announcedAt === null
    this.announcedAt = new Date().toISOString()
    if (first) this.emit('announced') // the host has a report to sign from now on
  }

  async waitRelays (ms) {
    const server = () => this.swarm.server
    for (const t = Date.now() + ms; server() && server().relayAddresses.length === 0 && Date.now() < t;) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return !!server() && server().relayAddresses.length > 0
  }

  async _reannounce (discovery) {
    this.stats.reannounces.inc()
    this.swarm.server.refresh()
    await this.waitRelays(5000)
    await withTimeout(discovery.refresh({ server: true, client: false }), 20000)
    return withTimeout(discovery.flushed(), 20000, false)
  }

  async _checkTopic (t) {
    let ok = await isAnnounced(this.swarm, t.topic, 10000)
    if (!ok && !this.closing) {
      this.log.warn('own announce missing, re-announcing', { topic: t.name })
      ok = await this._reannounce(t.discovery) && await isAnnounced(this.swarm, t.topic, 10000)
    }
    t.flushed = t.flushed || ok
    return ok
  }

  async check () {
    const results = []
    for (const t of this.topics) results.push(await this._checkTopic(t))
    if (results.every(Boolean) && this.swarm.server.relayAddresses.length === 0 && !this.closing) {
      this.log.warn('no relay addresses, refreshing the server and re-announcing')
      for (const t of this.topics) await this._reannounce(t.discovery)
    }
    const ok = results.every(Boolean) && this.swarm.server.relayAddresses.length > 0
    if (ok && !this.announced) this.log.info('announce verified again')
    if (ok) this._verified()
    else {
      this.announced = false
      this.log.warn('announce not verified', { results })
    }
  }
}

module.exports = Announcer
