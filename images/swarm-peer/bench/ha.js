#!/usr/bin/env node
'use strict'
// Three indexer hosts, each peer its own process (the real `swarm-peer host|client` on a loopback
// DHT), members writing all along; faults by SIGKILL. Not a test: it prints, per run and as the
// median of BENCH_RUNS (default 3) runs:
//  - host 1 killed: kill -> first member write confirmed, and member write -> confirmed p50/p95
//    while it is down;
//  - a new member started while host 1 is down: start -> writable (process spawn, and the
//    member's own writer request -> writable);
//  - host 1's disk lost, then host 0's (the creator): new process started -> 3/3 indexers again
//    (the old key gone from every host's report);
//  - entries acknowledged before each fault and found in every member's and host's view after
//    it, and the base keys seen in every report (must be one).
// Every wait has a deadline; all child processes are stopped at the end. BENCH_RUNS=1 for a quick look.
const fs = require('fs')
const os = require('os')
const path = require('path')
const crypto = require('crypto')
const h = require('../test/helpers')

const RUNS = Number(process.env.BENCH_RUNS || 3)
const DOWN_MS = Number(process.env.BENCH_DOWN_MS || 15000)
const WRITE_EVERY_MS = 250

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN }
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN }
const sec = (ms) => (ms / 1000).toFixed(2)

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

  async startHost (ordinal) {
    const env = { ...this.secrets.env, SWARM_HOST_ORDINAL: String(ordinal) }
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

async function hostKilled (t) {
  const before = t.acked()
  const victim = t.hosts[1]
  const tKill = Date.now()
  await h.stop(victim.child, 'SIGKILL')
  await h.waitFor(() => [...t.entries].some(([, e]) => e.sent > tKill && e.confirmed !== null), 60000, 'a write after the kill confirmed')
  const firstConfirmed = Math.min(...[...t.entries].filter(([, e]) => e.sent > tKill && e.confirmed !== null).map(([, e]) => e.confirmed)) - tKill
  const newMember = await t.startMember()
  await t.writable(newMember)
  const w = await h.waitFor(async () => writableLog(newMember), 10000, 'the member logs writable', newMember.child)
  const joinMs = Date.parse(w.time) - newMember.startedAt
  t.members.push(newMember)
  await sleep(Math.max(0, DOWN_MS - (Date.now() - tKill)))
  const down = [...t.entries].filter(([, e]) => e.sent > tKill && e.acked !== null)
  await h.waitFor(() => down.every(([, e]) => e.confirmed !== null), 60000, 'writes while host 1 was down confirmed')
  const latencies = down.map(([, e]) => e.confirmed - e.sent)
  const writerMs = w.writerSeconds * 1000
  await t.startHost(1)
  await h.waitFor(() => t.threeIndexers(), 90000, 'host 1 back on its disk')
  return { firstConfirmed, p50: pct(latencies, 50), p95: pct(latencies, 95), writes: latencies.length, joinMs, writerMs, found: await t.waitFound(before), of: before.length }
}

// The member's own log line: when it became writable, and how long after its writer request.
function writableLog (m) {
  for (const line of m.child.stdoutText.split('\n')) {
    if (line.includes('"msg":"writable"')) try { return JSON.parse(line) } catch {}
  }
  return null
}

async function diskLost (t, ordinal) {
  const before = t.acked()
  const old = (await t.report(t.hosts[ordinal])).writerKey
  await h.stop(t.hosts[ordinal].child, 'SIGKILL')
  fs.rmSync(path.join(t.dir, `host-${ordinal}`), { recursive: true, force: true })
  const p = await t.startHost(ordinal)
  await h.waitFor(() => t.threeIndexers(old), 120000, `host ${ordinal} promoted again`, p.child)
  return { healMs: Date.now() - p.startedAt, found: await t.waitFound(before), of: before.length }
}

async function run (boot, i) {
  const dir = h.tmpdir('swarm-peer-bench-ha-')
  const t = new Topic(boot, dir)
  try {
    await t.setUp()
    t.startWriting()
    await sleep(5000)
    const killed = await hostKilled(t)
    const lost1 = await diskLost(t, 1)
    const lost0 = await diskLost(t, 0)
    await sleep(2000)
    await t.stopWriting()
    const all = t.acked()
    const found = await t.waitFound(all)
    const r = { killed, lost1, lost0, found, of: all.length, baseKeys: t.baseKeys.size }
    console.log(`run ${i + 1}: host 1 killed: first member write confirmed ${sec(killed.firstConfirmed)} s after the kill, ` +
      `member writes confirmed p50 ${sec(killed.p50)} s p95 ${sec(killed.p95)} s (${killed.writes} writes while down); ` +
      `new member writable ${sec(killed.joinMs)} s after its process started (${sec(killed.writerMs)} s from its writer request); ` +
      `host 1 disk lost: 3/3 indexers ${sec(lost1.healMs)} s after the new process started; host 0 (creator) disk lost: ${sec(lost0.healMs)} s; ` +
      `entries found everywhere after each fault: ${killed.found}/${killed.of}, ${lost1.found}/${lost1.of}, ${lost0.found}/${lost0.of}, at the end ${found}/${all.length}; ` +
      `base keys seen ${t.baseKeys.size}`)
    return r
  } finally {
    t.writing = false
    await t.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function main () {
  const t0 = Date.now()
  const boot = await h.startBootstrap()
  const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' ')
  console.log(`loopback testnet: dht-bootstrap at ${boot.address}; ${RUNS} runs, each peer its own process, host down ${DOWN_MS / 1000} s; ` +
    `${os.cpus().length} CPUs, load average ${load()} (the figures are upper bounds on a busy machine)`)
  const rs = []
  try {
    for (let i = 0; i < RUNS; i++) rs.push(await run(boot, i))
  } finally {
    await h.stopAll()
  }
  const m = (f) => sec(median(rs.map(f)))
  const lost = rs.reduce((n, r) => n + (r.killed.of - r.killed.found) + (r.lost1.of - r.lost1.found) + (r.lost0.of - r.lost0.found) + (r.of - r.found), 0)
  console.log(`median of ${rs.length}: host killed -> first member write confirmed ${m((r) => r.killed.firstConfirmed)} s; ` +
    `member writes confirmed with one host down p95 ${m((r) => r.killed.p95)} s (p50 ${m((r) => r.killed.p50)} s); ` +
    `new member writable with one host down ${m((r) => r.killed.joinMs)} s from process start, ${m((r) => r.killed.writerMs)} s from its writer request; ` +
    `disk lost -> 3/3 indexers: host 1 ${m((r) => r.lost1.healMs)} s, host 0 ${m((r) => r.lost0.healMs)} s`)
  console.log(`all runs: acknowledged entries missing after a fault ${lost}; base-key changes ${rs.reduce((n, r) => n + r.baseKeys - 1, 0)}`)
  console.log(`bench done in ${((Date.now() - t0) / 1000).toFixed(1)} s; load average ${load()}`)
  process.exit(0)
}

main().catch(async (err) => { console.error(err); await h.stopAll(); process.exit(1) })
