'use strict'
// Issue 18, node side: three indexer hosts on one base, in process on a loopback hyperdht
// testnet. The apply rule (membership entries only from an active indexer), admission by any
// indexer host and only by one, the confirmation watchdog, promotion after a lost disk (host 1
// and the creator), an old disk coming back, a host beyond N retiring, and a base made before
// host slots going from 1 to 3 hosts. "Killing" a host here is closing it; bench/ha.js does the
// same with SIGKILLed processes. Figures are FIGURE diagnostics, never asserted as timings.
const test = require('node:test')
const assert = require('node:assert')
const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const Corestore = require('corestore')
const Autobase = require('autobase')
const { testnet, secrets, startHost, startHosts, allIndexers, startMember, closeAll, until, viewHas } = require('./inproc')
const { readSlots, slotsCore } = require('../lib/host-slots')
const { logApp } = require('../lib/log-app')
const { STATE_FILE } = require('../lib/host-base')
const signed = require('../lib/signed')
const { tmpdir, normally } = require('./helpers')

let bootstrap
test.before(async () => { ({ bootstrap } = await testnet()) }, normally(1))
test.after(closeAll)

const hex = (b) => b.toString('hex')
const topicName = (what) => `${what}-${Date.now()}`
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const counter = async (c) => c.value
// (base.system is null for a moment while autobase rebuilds its apply state)
const indexerKeys = (peer) => peer.base.system ? peer.base.system.indexers.map((i) => hex(i.key)).sort() : []

async function slotsOf (peer) {
  await peer.base.update()
  return Object.fromEntries(await readSlots(slotsCore(peer.base.view)))
}

async function writerRecord (peer, key) {
  return peer.base && peer.base.system ? peer.base.system.get(Buffer.from(key, 'hex')) : null
}

// Appends from `member` and waits until the entry is below the member's signed length.
async function confirmedWrite (member, value, ms = 90000) {
  const t0 = Date.now()
  await member.base.append({ type: 'put', key: 'w', value })
  const index = member.base.view.length - 1
  await until(() => member.base.view.signedLength > index, ms, `entry ${value} confirmed`)
  return Date.now() - t0
}

async function allHave (peers, key, ms = 90000) {
  for (const p of peers) await until(() => viewHas(p, (e) => e.key === key), ms, `${key} on ${p.role} ${p.ordinal ?? ''}`)
}

test('three hosts: host 0 creates the base, hosts 1 and 2 rejoin it and are promoted; slots, signed reports, readiness', normally(4), async (t) => {
  const secret = secrets()
  const t0 = Date.now()
  const hosts = await startHosts({ bootstrap, topic: topicName('three'), secret })
  t.diagnostic(`FIGURE 3 active indexers ${Date.now() - t0} ms after host 0 started (in process)`)
  const keys = hosts.map((h) => h.writerKey)
  assert.deepStrictEqual(hosts.map((h) => h.mode), ['create', 'rejoin', 'rejoin'])
  assert.strictEqual(new Set(hosts.map((h) => hex(h.base.key))).size, 1)
  assert.strictEqual(new Set(hosts.map((h) => hex(h.keyPair.publicKey))).size, 3, 'each host has its own identity')
  const want = { 0: keys[0], 1: keys[1], 2: keys[2] }
  for (const h of hosts) await until(async () => JSON.stringify(await slotsOf(h)) === JSON.stringify(want), 60000, 'slots on every host')
  for (const [i, h] of hosts.entries()) {
    await until(() => h.readiness().ready && h.seat.state === 'indexer' && h.seat.slots.size === 3, 60000, `host ${i} ready, its seat sees 3 slots`)
    const nonce = crypto.randomBytes(32).toString('hex')
    const r = signed.verify(h.status({ nonce }), hex(h.keyPair.publicKey))
    assert.ok(r, 'the report verifies with the host\'s own key')
    assert.strictEqual(r.nonce, nonce)
    assert.strictEqual(r.ordinal, i)
    assert.strictEqual(r.replicas, 3)
    assert.strictEqual(r.indexer, true)
    assert.strictEqual(r.indexers, 3)
    assert.strictEqual(r.seat, 'indexer')
    assert.strictEqual(typeof r.unconfirmed, 'number')
    assert.strictEqual(r.writerKey, keys[i])
    assert.deepStrictEqual(r.indexerKeys.sort(), [...keys].sort())
    assert.deepStrictEqual(r.hostSlots, [0, 1, 2].map((o) => ({ ordinal: o, key: keys[o] })))
    assert.strictEqual(r.startedOver, false)
    assert.strictEqual(r.startOver, null)
  }
})

test('apply: membership entries written by a non-indexer are ignored on every peer; a member cannot remove an indexer', normally(6), async () => {
  const topic = topicName('rule')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret })
  const member = await startMember({ bootstrap, topic, host: hosts[0], secret })
  const reader = await startMember({ bootstrap, topic, host: hosts[0], secret: { ...secret, memberSeed: null } })
  await until(() => member.writable, 90000, 'member writable')
  const before = indexerKeys(hosts[0])
  const slotsBefore = await slotsOf(hosts[0])
  const ignoredBefore = await Promise.all(hosts.map((h) => counter(h.stats.entriesIgnored)))
  const rogue = [
    { type: 'add-writer', key: reader.writerKey },
    { type: 'add-indexer', key: reader.writerKey, ordinal: 3 },
    { type: 'replace-indexer', key: reader.writerKey, old: hosts[1].writerKey, ordinal: 1 },
    { type: 'host-slot', key: member.writerKey, ordinal: 4 },
    { type: 'remove-writer', key: hosts[2].writerKey }
  ]
  for (const e of rogue) await member.base.append(e)
  await member.base.append({ type: 'put', key: 'after-rogue', value: 1 })
  const peers = [...hosts, member, reader]
  await allHave(peers, 'after-rogue')
  for (const p of peers) {
    assert.deepStrictEqual(indexerKeys(p), before)
    assert.deepStrictEqual(await slotsOf(p), slotsBefore)
    assert.strictEqual(await writerRecord(p, reader.writerKey), null, 'the reader was never added')
    assert.ok(!await viewHas(p, (e) => rogue.some((r) => r.type === e.type)), 'no membership entry reached the app\'s view')
  }
  for (const [i, h] of hosts.entries()) assert.ok(await counter(h.stats.entriesIgnored) - ignoredBefore[i] >= rogue.length, `host ${i} counted the ignored entries`)
  assert.strictEqual(reader.writable, false)
  assert.strictEqual(hosts[2].base.writable, true)
  assert.strictEqual(hosts[2].isIndexer(), true)
})

test('a host that is a writer but not an indexer leaves pairing requests unanswered: the candidate is not paired, nothing is appended', normally(11), async () => {
  const topic = topicName('silent')
  const secret = secrets()
  const h0 = await startHost({ bootstrap, topic, secret, replicas: 3 })
  const baseKey = hex(h0.base.key)
  const hostPublicKey = hex(h0.keyPair.publicKey)
  // Host 1 without the host invite seed: it never asks to be promoted. Host 0 adds it as a plain writer.
  const h1 = await startHost({ bootstrap, topic, secret, replicas: 3, ordinal: 1, baseKey, hostSeed: null })
  assert.strictEqual(await h0.admission.admit(h1.writerKey, 'test'), true)
  await until(() => h1.base.writable, 60000, 'host 1 writable')
  assert.strictEqual(h1.isIndexer(), false)
  await h0.close()
  const appendedBefore = h1.base.local.length
  const m = await startMember({ bootstrap, topic, host: null, baseKey, hostPublicKey, secret })
  let paired = false
  m.joiner.candidate.pairing.then(() => { paired = true }, () => {})
  await until(() => m.membersConnected() > 0, 90000, 'the member replicates with host 1')
  await sleep(10000) // the request reaches host 1 over their connection within about a second
  assert.strictEqual(paired, false, 'the candidate was not paired')
  assert.strictEqual(m.writable, false)
  assert.strictEqual(h1.base.local.length, appendedBefore, 'host 1 appended nothing')
  assert.ok(await counter(h1.stats.pairingSilent) >= 1, 'host 1 got the request and left it unanswered')
})

test('a removed host cannot admit; it starts over with a new key and is promoted into its emptied slot', normally(9), async () => {
  const topic = topicName('removed')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret })
  const [h0, h1, h2] = hosts
  const old = h2.writerKey
  const { base, admission } = h2
  await h0.base.append({ type: 'remove-writer', key: old })
  await until(() => !base.writable, 60000, 'host 2 no longer writable')
  assert.strictEqual(await admission.admit(crypto.randomBytes(32).toString('hex'), 'test'), false)
  await assert.rejects(base.append({ type: 'add-writer', key: crypto.randomBytes(32).toString('hex') }))
  await until(() => h2.startedOver && h2.base && h2.isIndexer() && allIndexers(hosts, 3), 180000, 'host 2 back as an indexer')
  assert.strictEqual(h2.startedOver.reason, 'removed')
  assert.strictEqual(h2.startedOver.writerKey, old)
  assert.notStrictEqual(h2.writerKey, old)
  assert.strictEqual(h2.mode, 'rejoin')
  for (const h of [h0, h1]) {
    await until(async () => (await slotsOf(h))[2] === h2.writerKey && (await writerRecord(h, old))?.isRemoved, 60000, 'slot 2 holds the new key, the old one removed')
  }
})

// Every peer applies one add-writer per candidate: the writer set grows by exactly the candidates
// and nobody is demoted or removed, however many hosts answered. Entries appended beyond that
// (two hosts that found one request at the same moment, one by the direct channel, one by the
// DHT poll) are applied as duplicates that change nothing; they are printed, not hidden.
test('every indexer host admits; each candidate is added once, even when two hosts answer it', normally(10), async (t) => {
  const topic = topicName('admit')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret })
  const t0 = Date.now()
  const members = await Promise.all(Array.from({ length: 6 }, () => startMember({ bootstrap, topic, host: hosts[0], secret })))
  for (const m of members) await until(() => m.writable, 180000, 'member writable')
  const parallelMs = Date.now() - t0
  const perHost = await Promise.all(hosts.map((h) => counter(h.stats.writersAdded)))
  const reader = await startMember({ bootstrap, topic, host: hosts[0], secret: { ...secret, memberSeed: null } })
  const both = await Promise.all([hosts[1].admission.admit(reader.writerKey, 'test'), hosts[2].admission.admit(reader.writerKey, 'test')])
  assert.deepStrictEqual(both, [true, true])
  await until(() => reader.writable, 90000, 'reader writable')
  await sleep(2000)
  const keys = [...members, reader].map((m) => m.writerKey)
  for (const p of [...hosts, ...members, reader]) {
    await until(async () => { await p.base.update(); return p.base.system && p.base.system.members === 3 + keys.length }, 90000, 'every writer applied')
    for (const k of keys) {
      const info = await writerRecord(p, k)
      assert.strictEqual(info.isRemoved, false)
      assert.strictEqual(info.isIndexer, false)
    }
    assert.strictEqual(p.base.system.indexers.length, 3)
  }
  for (const m of [...members, reader]) assert.strictEqual(m.writable, true)
  const appended = (await Promise.all(hosts.map((h) => counter(h.stats.writersAdded)))).reduce((a, b) => a + b, 0)
  t.diagnostic(`FIGURE 6 members started at once, all writable in ${parallelMs} ms; add-writer entries appended per host ${perHost.join(', ')}; ` +
    `${appended} entries for ${keys.length} candidates (one key admitted by two hosts at once included), ${keys.length} applied`)
})

test('with one of three hosts down, members\' entries are confirmed (the confirmation watchdog)', normally(20), async (t) => {
  const topic = topicName('confirm')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret })
  const m = await startMember({ bootstrap, topic, host: hosts[0], secret })
  await until(() => m.writable, 90000, 'member writable')
  await confirmedWrite(m, 0)
  await hosts[2].close()
  const times = []
  for (let i = 1; i <= 4; i++) times.push(await confirmedWrite(m, i))
  t.diagnostic(`FIGURE member write -> confirmed with host 2 down (ms): ${times.join(', ')}; watchdog nulls ${hosts[0].confirmer.nudges} + ${hosts[1].confirmer.nudges}`)
})

test('without the watchdog (confirmWatchdog: false) the same entries stay unconfirmed: the autobase gap it covers', normally(33), async () => {
  const topic = topicName('no-watchdog')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret, confirmWatchdog: false })
  const m = await startMember({ bootstrap, topic, host: hosts[0], secret })
  await until(() => m.writable, 90000, 'member writable')
  await confirmedWrite(m, 0)
  await hosts[2].close()
  await m.base.append({ type: 'put', key: 'w', value: 1 })
  const index = m.base.view.length - 1
  await sleep(20000)
  await hosts[0].base.update()
  assert.ok(hosts[0].base.view.signedLength <= index, 'not confirmed on host 0')
  assert.ok(m.base.view.signedLength <= index, 'not confirmed on the member')
})

test('with two of three hosts gone (no quorum) the watchdog backs off instead of filling the base with nulls', normally(35), async (t) => {
  const topic = topicName('no-quorum')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret })
  const m = await startMember({ bootstrap, topic, host: hosts[0], secret })
  await until(() => m.writable, 90000, 'member writable')
  await hosts[1].close()
  await hosts[2].close()
  await m.base.append({ type: 'put', key: 'w', value: 'no quorum' })
  await until(() => hosts[0].base.view.length > hosts[0].base.view.signedLength, 60000, 'the entry waits on host 0')
  const before = hosts[0].confirmer.nudges
  await sleep(30000)
  const nulls = hosts[0].confirmer.nudges - before
  t.diagnostic(`FIGURE no quorum: ${nulls} watchdog nulls in 30 s on the surviving host (a null every 1-2 s would be 15-30)`)
  assert.ok(nulls >= 1, 'it tried')
  assert.ok(nulls <= 8, `backed off: ${nulls}`)
  assert.ok(hosts[0].base.view.signedLength < hosts[0].base.view.length, 'nothing is confirmed without a majority')
})

// Host `ordinal` loses its disk: closed, its data directory deleted, started again on an empty
// one with the recorded base key. Returns the new host and the time to 3/3 indexers.
async function loseDisk (hosts, ordinal, { bootstrap, topic, secret }) {
  const lost = hosts[ordinal]
  const old = lost.writerKey
  const baseKey = hex(lost.base.key)
  const dataDir = lost.opts.dataDir
  await lost.close()
  fs.rmSync(dataDir, { recursive: true, force: true })
  const t0 = Date.now()
  const fresh = await startHost({ bootstrap, topic, secret, replicas: 3, ordinal, baseKey, dataDir })
  hosts[ordinal] = fresh
  await until(() => allIndexers(hosts, 3) && hosts.every((h) => !indexerKeys(h).includes(old)), 180000, '3 indexers again, the old key gone')
  return { fresh, old, ms: Date.now() - t0 }
}

for (const ordinal of [1, 0]) {
  test(`host ${ordinal}${ordinal === 0 ? ' (the creator)' : ''} loses its disk: it rejoins, is promoted and its old key removed, with no other step`, normally(19), async (t) => {
    const topic = topicName('lost-' + ordinal)
    const secret = secrets()
    const hosts = await startHosts({ bootstrap, topic, secret })
    const baseKey = hex(hosts[0].base.key)
    const m = await startMember({ bootstrap, topic, host: hosts[0], secret })
    await until(() => m.writable, 90000, 'member writable')
    await confirmedWrite(m, 'before')
    const { fresh, old, ms } = await loseDisk(hosts, ordinal, { bootstrap, topic, secret })
    t.diagnostic(`FIGURE host ${ordinal} disk lost: 3/3 indexers ${ms} ms after the new host started (in process)`)
    assert.strictEqual(fresh.mode, 'rejoin')
    assert.notStrictEqual(fresh.writerKey, old)
    assert.strictEqual(hex(fresh.base.key), baseKey, 'the same base')
    for (const h of hosts) {
      await until(async () => (await writerRecord(h, old))?.isRemoved && (await slotsOf(h))[ordinal] === fresh.writerKey, 60000, 'old key removed, the slot holds the new key')
    }
    await allHave([fresh], 'w')
    assert.ok(await viewHas(fresh, (e) => e.value === 'before'), 'the entry written before is on the new host')
    await confirmedWrite(m, 'after')
    if (ordinal === 0) {
      // The new pair {host 0, host 1} is a working majority: host 2 goes, entries are still confirmed.
      await hosts[2].close()
      await confirmedWrite(m, 'host 2 down too')
    }
  })
}

test('two disks lost together: the new hosts are added optimistically but never confirm, and the reports say so (not indexers, the old consensus set)', normally(20), async (t) => {
  const topic = topicName('two-lost')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret })
  const baseKey = hex(hosts[0].base.key)
  const m = await startMember({ bootstrap, topic, host: hosts[0], secret })
  await until(() => m.writable, 90000, 'member writable')
  const old = hosts.map((h) => h.writerKey)
  for (const o of [1, 2]) {
    const dataDir = hosts[o].opts.dataDir
    await hosts[o].close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
  for (const o of [1, 2]) hosts[o] = await startHost({ bootstrap, topic, secret, replicas: 3, ordinal: o, baseKey, dataDir: tmpdir() + '/host' })
  // Host 0 appends the new keys: the optimistic view shows them (what the reports said before).
  await until(() => [1, 2].every((o) => indexerKeys(hosts[0]).includes(hosts[o].writerKey)), 90000, 'new keys in the optimistic view')
  await sleep(5000)
  const reports = hosts.map((h) => signed.verify(h.status({ nonce: 'ab'.repeat(32) }), hex(h.keyPair.publicKey)))
  t.diagnostic(`two disks lost: reports ${JSON.stringify(reports.map((r) => ({ indexer: r.indexer, indexers: r.indexers })))}`)
  assert.strictEqual(reports[0].indexer, true, 'host 0 is still an indexer of the consensus')
  for (const o of [1, 2]) {
    assert.strictEqual(reports[o].indexer, false, `host ${o} on a new key confirms nothing: not an indexer`)
    assert.notStrictEqual(hosts[o].readiness().reason, null, `host ${o} is not Ready`)
  }
  for (const r of reports) {
    assert.ok(r.indexerKeys.includes(old[0]), 'the consensus still names host 0')
    assert.ok(r.indexerKeys.every((k) => old.includes(k)), 'and only old keys: the new ones were never confirmed')
  }
  await m.base.append({ type: 'put', key: 'w', value: 'after two disks' })
  const index = m.base.view.length - 1
  await sleep(10000)
  assert.ok(m.base.view.signedLength <= index, 'nothing is confirmed again')
  assert.strictEqual(hex(hosts[0].base.key), baseKey, 'the same base')
})

test('an old disk whose key was replaced comes back: the host says so, wipes its store and starts over (never two writer keys for one ordinal)', normally(12), async () => {
  const topic = topicName('old-disk')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret })
  const oldHost = hosts[1]
  const oldKey = oldHost.writerKey
  const baseKey = hex(oldHost.base.key)
  const oldDir = oldHost.opts.dataDir
  await oldHost.close()
  // The old disk is kept aside; host 1 starts on a new one and replaces the old key.
  const newDir = tmpdir() + '/host1-new'
  const replacement = await startHost({ bootstrap, topic, secret, replicas: 3, ordinal: 1, baseKey, dataDir: newDir })
  hosts[1] = replacement
  await until(() => allIndexers(hosts, 3), 180000, 'replacement promoted')
  const replacementKey = replacement.writerKey
  await replacement.close()
  // The old disk returns as host 1.
  const back = await startHost({ bootstrap, topic, secret, replicas: 3, ordinal: 1, baseKey, dataDir: oldDir })
  hosts[1] = back
  assert.strictEqual(back.mode, 'reopen')
  await until(() => back.startedOver !== null, 90000, 'the returning host starts over')
  assert.deepStrictEqual({ reason: back.startedOver.reason, writerKey: back.startedOver.writerKey, slotKey: back.startedOver.slotKey }, { reason: 'replaced', writerKey: oldKey, slotKey: replacementKey })
  await until(() => back.base && back.isIndexer() && allIndexers(hosts, 3), 180000, 'promoted again with a new key')
  assert.ok(![oldKey, replacementKey].includes(back.writerKey))
  const removed = async (h, key) => { const info = await writerRecord(h, key); return !!info && info.isRemoved }
  for (const h of [hosts[0], hosts[2], back]) {
    await until(async () => await removed(h, oldKey) && await removed(h, replacementKey) && (await slotsOf(h))[1] === back.writerKey, 60000, 'old and replacement keys removed, slot 1 the new key')
    assert.deepStrictEqual(indexerKeys(h), [hosts[0].writerKey, hosts[2].writerKey, back.writerKey].sort())
  }
  const r = signed.verify(back.status(), hex(back.keyPair.publicKey))
  assert.strictEqual(r.startedOver, true)
  assert.strictEqual(r.startOver.reason, 'replaced')
})

test('a host beyond SWARM_HOST_REPLICAS (scaling down) removes itself from the indexers and reports retired', normally(6), async () => {
  const topic = topicName('retire')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret })
  const key = hosts[2].writerKey
  const dataDir = hosts[2].opts.dataDir
  await hosts[2].close()
  const leaving = await startHost({ bootstrap, topic, secret, replicas: 1, ordinal: 2, baseKey: hex(hosts[0].base.key), dataDir })
  await until(() => leaving.seat.state === 'retired', 90000, 'retired')
  for (const h of [hosts[0], hosts[1]]) {
    await until(() => indexerKeys(h).length === 2 && !indexerKeys(h).includes(key), 90000, 'two indexers left')
    await until(async () => (await slotsOf(h))[2] === undefined, 60000, 'slot 2 cleared')
  }
  assert.strictEqual(leaving.readiness().ready, true, 'a retired host is ready (its pod can go)')
  assert.strictEqual(JSON.parse(leaving.status().payload).seat, 'retired')
})

test('a base made before host slots (one host, one view) goes from 1 to 3 hosts: host 0 claims slot 0, hosts 1 and 2 are promoted', normally(7), async () => {
  const topic = topicName('upgrade')
  const secret = secrets()
  // The base as an older swarm-peer made it: the app's view only, entries from the host.
  const dataDir = tmpdir() + '/old-host'
  fs.mkdirSync(dataDir, { recursive: true })
  const store = new Corestore(path.join(dataDir, 'corestore'))
  const old = new Autobase(store, null, { valueEncoding: 'json', open: logApp.open, apply: logApp.apply, encryptionKey: secret.encryptionKey })
  await old.ready()
  await old.append(logApp.genesis(topic))
  await old.append({ type: 'put', key: 'old', value: 1 })
  const baseKey = hex(old.key)
  await old.close()
  await store.close()
  fs.writeFileSync(path.join(dataDir, STATE_FILE), JSON.stringify({ baseKey, topic, createdAt: new Date().toISOString(), mode: 'create', encrypted: true }))

  const h0 = await startHost({ bootstrap, topic, secret, replicas: 3, dataDir, baseKey })
  assert.strictEqual(h0.mode, 'reopen')
  await until(async () => (await slotsOf(h0))[0] === h0.writerKey, 60000, 'host 0 claimed slot 0')
  const others = await Promise.all([1, 2].map((ordinal) => startHost({ bootstrap, topic, secret, replicas: 3, ordinal, baseKey })))
  const hosts = [h0, ...others]
  await until(() => allIndexers(hosts, 3), 180000, '3 indexers')
  assert.strictEqual(hex(h0.base.key), baseKey)
  await allHave(hosts, 'old')
  const m = await startMember({ bootstrap, topic, host: h0, secret })
  await until(() => m.writable, 90000, 'member writable')
  await confirmedWrite(m, 'after-upgrade')
})
