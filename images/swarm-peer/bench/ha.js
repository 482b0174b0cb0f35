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
const h = require('../test/helpers')
const { Topic, sleep } = require('./topic')

const RUNS = Number(process.env.BENCH_RUNS || 3)
const DOWN_MS = Number(process.env.BENCH_DOWN_MS || 15000)
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN }
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN }
const sec = (ms) => (ms / 1000).toFixed(2)

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
