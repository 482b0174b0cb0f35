'use strict'
// A topic of real peer processes for the benchmarks (bench/ha.js, bench/restore.js): three
// `swarm-peer host` processes on a loopback DHT, members (`swarm-peer client`), member 0 writing
// an entry every WRITE_EVERY_MS, and when each is acknowledged and confirmed (from member 0's
// view). Every wait has a deadline.
const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const h = require('../test/helpers')

const WRITE_EVERY_MS = 250

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function secretsDir (dir) {
  const write = (file) => { fs.mkdirSync(path.dirname(file), { recursive: true }); fs.writeFileSync(file, crypto.randomBytes(32).toString('hex')); return file }
  const seed = write(path.join(dir, 'identity', 'seed'))
  for (const n of [1, 2]) write(path.join(dir, 'identity', `seed-${n}`))
  return { seed, env: { ...h.topicSecrets(dir), SWARM_HOST_SEED_FILE: write(path.join(dir, 'hosts', 'invite-seed')), SWARM_HOST_REPLICAS: '3' } }
}

// One topic: three host processes, members, the writer loop and the confirmation tracker.
class Topic {
  constructor (boot, dir) {
    this.boot = boot
    this.dir = dir
    this.topic = `ha-${Date.now()}`
    this.secrets = secretsDir(dir)
    this.hosts = []
    this.members = []
    this.entries = new Map() // key -> {sent, acked, confirmed}
    this.baseKeys = new Set()
    this.seq = 0
    this.writing = false
  }

  async startHost (ordinal, extraEnv = {}) {
    const env = { ...this.secrets.env, SWARM_HOST_ORDINAL: String(ordinal), ...extraEnv }
    if (this.baseKey) env.SWARM_BASE_KEY = this.baseKey
    const p = await h.startHost({ topic: this.topic, bootstrap: this.boot.address, dataDir: path.join(this.dir, `host-${ordinal}`), seed: this.secrets.seed, env, waitReady: false })
    p.startedAt = Date.now()
    this.hosts[ordinal] = p
    return p
  }

  async report (p) {
    const r = await h.get(p.statusPort, '/status')
    if (r.status !== 200) return null
    const payload = JSON.parse(r.body.payload)
    this.baseKeys.add(payload.baseKey)
    return payload
  }

  // Every live host reports 3 indexers, none pending, none of `gone`, and is one of them.
  async threeIndexers (gone = null) {
    for (const p of this.hosts) {
      const r = p.child.exitCode === null ? await this.report(p) : null
      if (!r || !r.indexer || r.indexers !== 3 || r.pendingIndexers !== 0 || (gone && r.indexerKeys.includes(gone))) return false
    }
    return true
  }

  async setUp () {
    await this.startHost(0)
    await h.waitFor(async () => (await h.get(this.hosts[0].statusPort, '/readyz')).status === 200, 60000, 'host 0 ready', this.hosts[0].child)
    const r0 = await this.report(this.hosts[0])
    this.baseKey = r0.baseKey
    this.hostPublicKey = (await h.hostStatus(this.hosts[0].statusPort)).envelope.publicKey
    await Promise.all([1, 2].map((n) => this.startHost(n)))
    await h.waitFor(() => this.threeIndexers(), 90000, '3 indexers')
    for (let i = 0; i < 2; i++) this.members.push(await this.startMember())
    for (const m of this.members) await this.writable(m)
  }

  async startMember () {
    const m = await h.startClient({ topic: this.topic, bootstrap: this.boot.address, baseKey: this.baseKey, hostPublicKey: this.hostPublicKey, env: this.secrets.env, waitReady: false })
    m.startedAt = Date.now()
    return m
  }

  async writable (m) {
    await h.waitFor(async () => { const s = (await h.get(m.statusPort, '/status')).body; return s && s.writable }, 90000, 'member writable', m.child)
    return Date.now() - m.startedAt
  }

  // Member 0 appends an entry every WRITE_EVERY_MS; member 0's view says when each is confirmed.
  startWriting () {
    this.writing = true
    this.writer = (async () => {
      while (this.writing) {
        const key = `e${this.seq++}`
        const e = { sent: Date.now(), acked: null, confirmed: null }
        this.entries.set(key, e)
        const r = await h.post(this.members[0].appPort, '/append', { key, value: this.seq }).catch(() => ({ status: 0 }))
        if (r.status === 200) e.acked = Date.now()
        await sleep(WRITE_EVERY_MS)
      }
    })()
    this.confirming = (async () => {
      let from = 0
      while (this.writing) {
        const l = (await h.get(this.members[0].appPort, `/log?start=${from}`)).body
        if (l) {
          const now = Date.now()
          l.entries.forEach((x, i) => {
            const e = this.entries.get(x.key)
            if (e && e.confirmed === null && from + i < l.signedLength) e.confirmed = now
          })
          from = Math.max(from, Math.min(l.signedLength, from + l.entries.length))
        }
        await sleep(100)
      }
    })()
  }

  async stopWriting () {
    this.writing = false
    await Promise.all([this.writer, this.confirming])
  }

  acked (before = Infinity) {
    return [...this.entries].filter(([, e]) => e.acked !== null && e.acked < before).map(([k]) => k)
  }

  // Of `keys`, how many are in every live member's and host's view.
  async foundEverywhere (keys) {
    const peers = [...this.members, ...this.hosts].filter((p) => p.child.exitCode === null)
    const seen = await Promise.all(peers.map((p) => this.allKeys(p)))
    return keys.filter((k) => seen.every((s) => s.has(k))).length
  }

  async allKeys (p) {
    const keys = new Set()
    for (let start = 0; ;) {
      const l = (await h.get(p.appPort, `/log?start=${start}`)).body
      if (!l) return keys
      for (const e of l.entries) keys.add(e.key)
      start += l.entries.length
      if (l.entries.length === 0 || start >= l.length) return keys
    }
  }

  async waitFound (keys, ms = 60000) {
    const t = Date.now() + ms
    let found = 0
    while (Date.now() < t && (found = await this.foundEverywhere(keys)) < keys.length) await sleep(500)
    return found
  }

  async stop () {
    await Promise.all([...this.members, ...this.hosts].map((p) => h.stop(p.child)))
  }
}

module.exports = { Topic, secretsDir, sleep }
