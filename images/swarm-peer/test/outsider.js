'use strict'
// An outsider as the issue describes it: no secret, it does everything the old protocol let a
// stranger do. It waits for key offers on the bootstrap topic, opens the base it learns (or is
// told), asks to be a writer over the key-offer channel, tries a blind-pairing request with an
// invite it forged from the base key, and, were it ever writable, appends its own entries
// (data, and an add-writer of a third key).
const crypto = require('crypto')
const Corestore = require('corestore')
const Autobase = require('autobase')
const BlindPairing = require('blind-pairing')
const { createSwarm } = require('../lib/swarm')
const { bootstrapTopic } = require('../lib/identity')
const { logApp } = require('../lib/log-app')
const offer = require('../lib/offer')
const Timer = require('../lib/timer')
const { tmpdir } = require('./helpers')

const MARK = 'outsider-entry'

class Outsider {
  constructor ({ bootstrap, topic, baseKey = null }) {
    this.store = new Corestore(tmpdir() + '/outsider')
    this.swarm = createSwarm({ bootstrap, dhtHost: '127.0.0.1', firewalled: false })
    this.topic = topic
    this.baseKey = baseKey
    this.base = null
    this.offers = 0
    this.everWritable = false
    this.appended = 0
    this.channels = new Set()
    this.timer = new Timer(() => this._tick(), 500)
    this.swarm.on('connection', (conn) => {
      conn.on('error', () => {})
      this.store.replicate(conn)
      const ch = offer.attach(conn, (m) => this._onmessage(m))
      if (ch) { this.channels.add(ch); ch.send({ type: 'hello', proof: crypto.randomBytes(32).toString('hex') }) }
      conn.on('close', () => this.channels.delete(ch))
    })
  }

  async start () {
    this.swarm.join(bootstrapTopic(this.topic), { client: true, server: false })
    if (this.baseKey) await this._openBase(this.baseKey)
    this.timer.start({ now: true })
  }

  _onmessage (m) {
    if (m.type !== 'offer') return
    this.offers++
    const key = JSON.parse(m.envelope.payload).baseKey
    if (!this.base) this._openBase(key).catch(() => {})
  }

  async _openBase (key) {
    // The old apply: add-writer from anyone.
    const apply = async (nodes, view, host) => {
      for (const { value } of nodes) {
        if (value && value.type === 'add-writer') await host.addWriter(Buffer.from(value.key, 'hex'), { indexer: false }).catch(() => {})
        else await view.append(value)
      }
    }
    this.base = new Autobase(this.store, Buffer.from(key, 'hex'), { valueEncoding: 'json', open: logApp.open, apply })
    await this.base.ready()
    this.base.on('writable', () => { this.everWritable = true })
    this.swarm.join(this.base.discoveryKey, { client: true, server: true })
    this.pairing = new BlindPairing(this.swarm, { poll: 2000 })
    const forged = BlindPairing.createInvite(this.base.key) // a random seed: anyone with the key can
    this.candidate = this.pairing.addCandidate({ invite: forged.invite, userData: this.base.local.key })
  }

  async _tick () {
    if (!this.base) return
    const key = this.base.local.key.toString('hex')
    for (const ch of this.channels) ch.send({ type: 'writer-request', key })
    if (!this.base.writable) return
    this.everWritable = true
    await this.base.append({ type: 'put', key: MARK, value: this.appended++ })
    await this.base.append({ type: 'add-writer', key: crypto.randomBytes(32).toString('hex') })
  }

  async close () {
    await this.timer.stop()
    if (this.pairing) await this.pairing.close().catch(() => {})
    await this.swarm.destroy()
    if (this.base) await this.base.close().catch(() => {})
    await this.store.close()
  }
}

module.exports = { Outsider, MARK }
