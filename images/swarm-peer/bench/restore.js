#!/usr/bin/env node
'use strict'
// Every host disk lost, the hosts restored from their identity seeds (issue 21's recovery, peer
// side). Each peer is its own process (the real `swarm-peer host|client` on a loopback DHT).
// Per run: three hosts, two members, member 0 writing an entry every 250 ms; every host
// SIGKILLed and its data directory deleted; BENCH_DOWN_MS later the three hosts start again on
// empty disks with SWARM_RESTORE=true (and the base key, the seeds and the topic's Secrets: no
// nonce, nothing else). Not a test: it prints, per run and as the median of BENCH_RUNS (default
// 3) runs:
//  - restore start -> every host Ready; each host's restore as it reports it (reading its slot
//    from a member, the gate that pulls its writer core back);
//  - restore start -> the first and the last of the writes acknowledged during the outage
//    confirmed (confirmation resumed);
//  - restore start -> a new member (a process started with the restore) writable;
//  - the writer keys and base key after the restore (must be the old ones), entries acknowledged
//    before the end found in every member's and host's view, and `conflict` lines (a forked
//    writer core, hypercore's own message) in any peer's output (must be none).
// Every wait has a deadline; all child processes are stopped at the end. BENCH_RUNS=1 for a quick look.
const fs = require('fs')
const os = require('os')
const path = require('path')
const h = require('../test/helpers')
const { Topic, sleep } = require('./topic')

const RUNS = Number(process.env.BENCH_RUNS || 3)
const DOWN_MS = Number(process.env.BENCH_DOWN_MS || 10000)
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN }
const sec = (ms) => (ms / 1000).toFixed(2)

async function keysOf (t) {
  return Promise.all(t.hosts.map(async (p) => (await t.report(p)).writerKey))
}

async function ready (p) {
  await h.waitFor(async () => (await h.get(p.statusPort, '/readyz')).status === 200, 180000, 'restored host ready', p.child)
  return Date.now()
}

function conflicts (t) {
  return [...t.hosts, ...t.members, ...t.lost].filter((p) => /conflict detected/.test(p.child.stdoutText + p.child.stderrText)).length
}

async function restoreAll (t) {
  const keys = await keysOf(t)
  t.lost = [...t.hosts]
  for (const [n, p] of t.hosts.entries()) {
    await h.stop(p.child, 'SIGKILL')
    fs.rmSync(path.join(t.dir, `host-${n}`), { recursive: true, force: true })
  }
  const tLoss = Date.now()
  await sleep(DOWN_MS)
  const outage = [...t.entries].filter(([, e]) => e.sent > tLoss && e.acked !== null && e.confirmed === null)
  const t0 = Date.now()
  await Promise.all([0, 1, 2].map((n) => t.startHost(n, { SWARM_RESTORE: 'true' })))
  const member = await t.startMember()
  const [readyAt, writableMs] = await Promise.all([
    Promise.all(t.hosts.map(ready)).then((ts) => Math.max(...ts) - t0),
    t.writable(member).then(() => Date.now() - t0)
  ])
  t.members.push(member)
  await h.waitFor(() => outage.every(([, e]) => e.confirmed !== null), 120000, 'the outage writes confirmed')
  const confirmed = outage.map(([, e]) => e.confirmed - t0)
  const reports = await Promise.all(t.hosts.map((p) => h.waitFor(() => t.report(p), 60000, 'host report', p.child)))
  return {
    readyMs: readyAt,
    firstMs: Math.min(...confirmed),
    lastMs: Math.max(...confirmed),
    outageWrites: outage.length,
    writableMs,
    sameKeys: reports.every((r, n) => r.writerKey === keys[n] && r.restored === true),
    startedOver: reports.filter((r) => r.startedOver).length,
    restores: reports.map((r) => r.restore)
  }
}

async function run (boot, i) {
  const dir = h.tmpdir('swarm-peer-bench-restore-')
  const t = new Topic(boot, dir)
  t.lost = []
  try {
    await t.setUp()
    t.startWriting()
    await sleep(5000)
    const r = await restoreAll(t)
    await sleep(2000)
    await t.stopWriting()
    const all = t.acked()
    r.found = await t.waitFound(all)
    r.of = all.length
    r.baseKeys = t.baseKeys.size
    r.conflicts = conflicts(t)
    console.log(`run ${i + 1}: every host lost ${DOWN_MS / 1000} s, then restored: all 3 Ready ${sec(r.readyMs)} s after the restore started ` +
      `(per host: slot read ${r.restores.map((x) => sec(x.findMs)).join('/')} s, gate ${r.restores.map((x) => sec(x.gateMs)).join('/')} s, log ${r.restores.map((x) => x.length).join('/')} blocks); ` +
      `the ${r.outageWrites} writes of the outage confirmed ${sec(r.firstMs)} s (first) to ${sec(r.lastMs)} s (last) after; ` +
      `a new member writable ${sec(r.writableMs)} s after; same writer keys ${r.sameKeys}; hosts that started over ${r.startedOver}; entries found everywhere ${r.found}/${r.of}; ` +
      `base keys seen ${r.baseKeys}; peers that printed a conflict ${r.conflicts}`)
    return r
  } catch (err) {
    const keep = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-peer-bench-restore-logs-'))
    for (const [i, p] of [...t.lost, ...t.hosts, ...t.members].entries()) fs.writeFileSync(path.join(keep, `peer-${i}.log`), p.child.stdoutText + p.child.stderrText)
    console.error(`run ${i + 1} failed; the peers' output is in ${keep}`)
    throw err
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
  console.log(`loopback testnet: dht-bootstrap at ${boot.address}; ${RUNS} runs, each peer its own process; ` +
    `${os.cpus().length} CPUs, load average ${load()} (the figures are upper bounds on a busy machine)`)
  const rs = []
  try {
    for (let i = 0; i < RUNS; i++) rs.push(await run(boot, i))
  } finally {
    await h.stopAll()
  }
  const m = (f) => sec(median(rs.map(f)))
  console.log(`median of ${rs.length}: restore -> confirmation resumed (first outage write confirmed) ${m((r) => r.firstMs)} s, ` +
    `every outage write confirmed ${m((r) => r.lastMs)} s; restore -> a new member writable ${m((r) => r.writableMs)} s; ` +
    `restore -> 3 hosts Ready ${m((r) => r.readyMs)} s; gate ${m((r) => median(r.restores.map((x) => x.gateMs)))} s`)
  console.log(`all runs: hosts restored on their old keys ${rs.filter((r) => r.sameKeys).length}/${rs.length}; ` +
    `acknowledged entries missing ${rs.reduce((n, r) => n + r.of - r.found, 0)}; base-key changes ${rs.reduce((n, r) => n + r.baseKeys - 1, 0)}; ` +
    `peers that printed a conflict ${rs.reduce((n, r) => n + r.conflicts, 0)}`)
  console.log(`bench done in ${((Date.now() - t0) / 1000).toFixed(1)} s; load average ${load()}`)
  process.exit(0)
}

main().catch(async (err) => { console.error(err); await h.stopAll(); process.exit(1) })
