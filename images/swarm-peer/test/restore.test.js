'use strict'
// Issue 21's recovery, peer side: hosts restored after every host disk is lost (a namespace
// restored from a backup), in process on a loopback hyperdht testnet. A host's store key is
// derived from its identity seed and a nonce the base's host-slot record keeps; in restore mode
// (SWARM_RESTORE) a host on an empty disk reads its slot from a member, derives the key, pulls
// its writer core back (the gate) and only then opens the base: the same indexer again.
// "Losing" a host here is closing it and deleting its data directory; bench/restore.js does the
// same with SIGKILLed processes. Figures are FIGURE diagnostics, never asserted as timings.
const test = require('node:test')
const assert = require('node:assert')
const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const Corestore = require('corestore')
const Autobase = require('autobase')
const { testnet, secrets, startHost, startHosts, allIndexers, startMember, closeAll, until, viewHas } = require('./inproc')
const { readSlotRecords, slotsCore } = require('../lib/host-slots')
const { readKeyFile, derivePrimaryKey, KEY_FILE } = require('../lib/host-store')
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
const indexerKeys = (peer) => peer.base && peer.base.system ? peer.base.system.indexers.map((i) => hex(i.key)).sort() : []

async function slotRecords (peer) {
  await peer.base.update()
  return Object.fromEntries(await readSlotRecords(slotsCore(peer.base.view)))
}

// Appends from `member` and waits until the entry is below the member's signed length.
async function confirmedWrite (member, value, ms = 120000) {
  const t0 = Date.now()
  await member.base.append({ type: 'put', key: 'w', value })
  const index = member.base.view.length - 1
  await until(() => member.base.view.signedLength > index, ms, `entry ${value} confirmed`)
  return Date.now() - t0
}

// Every host "lost": closed, its data directory deleted.
async function loseAll (hosts) {
  for (const h of hosts) {
    const dir = h.opts.dataDir
    await h.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function restoreHost (ordinal, { topic, secret, baseKey, replicas = 3, ...rest }) {
  return startHost({ bootstrap, topic, secret, replicas, ordinal, baseKey, restore: true, dataDir: tmpdir() + '/restored', ...rest })
}

// A member written while no host ran: admitted by a restored host, its entry confirmed and seen
// by the member outside. Returns the times (ms) from `t0`.
async function newMemberWrites (host, outside, { topic, secret, t0 }) {
  const newcomer = await startMember({ bootstrap, topic, host, secret })
  await until(() => newcomer.writable, 120000, 'the new member writable')
  const writable = Date.now() - t0
  await confirmedWrite(newcomer, 'newcomer')
  await until(() => viewHas(outside, (e) => e.value === 'newcomer'), 60000, 'the outside member sees the new member\'s entry')
  const index = await indexOf(outside, (e) => e.value === 'newcomer')
  await until(() => outside.base.view.signedLength > index, 120000, 'the new member\'s entry confirmed on the outside member')
  return { writable, confirmed: Date.now() - t0 }
}

async function indexOf (peer, pred) {
  await peer.base.update()
  for (let i = 0; i < peer.base.view.length; i++) if (pred(await peer.base.view.get(i))) return i
  return -1
}

test('every host lost, a member keeps the base: the hosts restored from their identity seeds alone are the same indexers; confirmation and admission resume', normally(32), async (t) => {
  const topic = topicName('restore-all')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret })
  const baseKey = hex(hosts[0].base.key)
  const keys = hosts.map((h) => h.writerKey)
  const outside = await startMember({ bootstrap, topic, host: hosts[0], secret })
  await until(() => outside.writable, 90000, 'member writable')
  await confirmedWrite(outside, 'before')
  for (const h of hosts) {
    await until(async () => { const r = await slotRecords(h); return [0, 1, 2].every((o) => r[o] && r[o].key === keys[o] && r[o].nonce === hosts[o].nonce) }, 60000, 'every slot records its key\'s nonce')
  }
  await loseAll(hosts)
  await outside.base.append({ type: 'put', key: 'w', value: 'outage' })
  const outage = outside.base.view.length - 1

  // Host 1's new disk holds a store but no base (a first start that stopped before its base opened).
  const dirs = [0, 1, 2].map(() => tmpdir() + '/restored')
  const stray = new Corestore(path.join(dirs[1], 'corestore'))
  await stray.ready()
  await stray.close()
  const t0 = Date.now()
  const restored = await Promise.all([0, 1, 2].map((o) => restoreHost(o, { topic, secret, baseKey, dataDir: dirs[o] })))
  const readyMs = Date.now() - t0
  for (const [o, h] of restored.entries()) {
    assert.strictEqual(h.restored, true, `host ${o}: ${h.restore.why}`)
    assert.strictEqual(h.writerKey, keys[o], `host ${o} has its old writer key`)
    assert.strictEqual(hex(h.base.key), baseKey)
    const r = signed.verify(h.status(), hex(h.keyPair.publicKey))
    assert.strictEqual(r.restored, true)
    assert.strictEqual(typeof r.restore.gateMs, 'number')
    assert.strictEqual(r.restore.writerKey, keys[o])
  }
  await until(() => outside.base.view.signedLength > outage, 120000, 'the entry written in the outage confirmed')
  const confirmedMs = Date.now() - t0
  await until(() => allIndexers(restored, 3), 60000, 'three indexers')
  for (const h of restored) {
    assert.deepStrictEqual(indexerKeys(h), [...keys].sort(), 'the same indexers, no membership entry')
    assert.ok(await viewHas(h, (e) => e.value === 'before'), 'the old entry is readable on the restored host')
  }
  const { writable, confirmed } = await newMemberWrites(restored[1], outside, { topic, secret, t0 })
  t.diagnostic(`FIGURE restore of 3 hosts: all open ${readyMs} ms (gates ${restored.map((h) => h.restore.gateMs).join(', ')} ms), ` +
    `outage entry confirmed ${confirmedMs} ms, a new member writable ${writable} ms, its entry confirmed everywhere ${confirmed} ms (from the restore's start, in process)`)
})

test('restore with 2 of 3 hosts: confirmation resumes, a new member is admitted; the third, on a seed that does not give its key, starts as today and is promoted', normally(49), async (t) => {
  const topic = topicName('restore-two')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret })
  const baseKey = hex(hosts[0].base.key)
  const keys = hosts.map((h) => h.writerKey)
  const outside = await startMember({ bootstrap, topic, host: hosts[0], secret })
  await until(() => outside.writable, 90000, 'member writable')
  await confirmedWrite(outside, 'before')
  await loseAll(hosts)
  await outside.base.append({ type: 'put', key: 'w', value: 'outage' })
  const outage = outside.base.view.length - 1

  const t0 = Date.now()
  const restored = await Promise.all([0, 1].map((o) => restoreHost(o, { topic, secret, baseKey })))
  assert.deepStrictEqual(restored.map((h) => [h.restored, h.writerKey]), [[true, keys[0]], [true, keys[1]]])
  await until(() => outside.base.view.signedLength > outage, 120000, 'the outage entry confirmed by 2 of 3')
  const confirmedMs = Date.now() - t0
  const { writable } = await newMemberWrites(restored[0], outside, { topic, secret, t0 })
  t.diagnostic(`FIGURE restore of 2 of 3 hosts: outage entry confirmed ${confirmedMs} ms, a new member writable ${writable} ms (from the restore's start, in process)`)

  // Host 2 with another seed (a rotated Secret): the slot's nonce gives another key. The member
  // writes all along (entries confirmed by the two restored hosts) while host 2 reads its slot.
  let writing = true
  const writer = (async () => { for (let i = 0; writing; i++) { await outside.base.append({ type: 'put', key: 'busy', value: i }); await sleep(200) } })()
  const third = await restoreHost(2, { topic, secret, baseKey, seed: crypto.randomBytes(32) }).finally(() => { writing = false })
  await writer
  assert.strictEqual(third.restored, false)
  assert.match(third.restore.why, /give [0-9a-f]{16}, not the slot's key/)
  assert.notStrictEqual(third.writerKey, keys[2])
  assert.strictEqual(third.mode, 'rejoin')
  const all = [...restored, third]
  await until(() => allIndexers(all, 3) && all.every((h) => !indexerKeys(h).includes(keys[2])), 180000, 'the third promoted in place of the old key')
})

test('a restore-mode host whose ordinal has no slot starts as today (a new key) and is promoted by the restored ones', normally(50), async () => {
  const topic = topicName('restore-noslot')
  const secret = secrets()
  // Hosts 0 and 1 of 3; host 2 never ran: slot 2 is empty.
  const h0 = await startHost({ bootstrap, topic, secret, replicas: 3 })
  const baseKey = hex(h0.base.key)
  const h1 = await startHost({ bootstrap, topic, secret, replicas: 3, ordinal: 1, baseKey })
  await until(() => allIndexers([h0, h1], 2), 120000, 'two indexers')
  const keys = [h0.writerKey, h1.writerKey]
  const outside = await startMember({ bootstrap, topic, host: h0, secret })
  await until(() => outside.writable, 90000, 'member writable')
  await confirmedWrite(outside, 'before')
  await loseAll([h0, h1])

  const restored = await Promise.all([0, 1, 2].map((o) => restoreHost(o, { topic, secret, baseKey })))
  assert.deepStrictEqual(restored.map((h) => h.restored), [true, true, false])
  assert.deepStrictEqual(restored.slice(0, 2).map((h) => h.writerKey), keys)
  assert.strictEqual(restored[2].restore.why, 'the base has no host slot for ordinal 2')
  assert.strictEqual(restored[2].mode, 'rejoin')
  await until(() => allIndexers(restored, 3), 180000, 'host 2 promoted into its empty slot')
  const slots = await slotRecords(restored[0])
  assert.strictEqual(slots[2].key, restored[2].writerKey)
  assert.strictEqual(slots[2].nonce, restored[2].nonce, 'the promotion recorded the new key\'s nonce')
})

test('a host on an empty disk without restore mode never reuses an old key; an old disk that comes back in restore mode starts over on a new key', normally(13), async () => {
  const topic = topicName('restore-never')
  const secret = secrets()
  const hosts = await startHosts({ bootstrap, topic, secret })
  const baseKey = hex(hosts[0].base.key)
  const old = { key: hosts[1].writerKey, nonce: hosts[1].nonce, dir: hosts[1].opts.dataDir }
  assert.match(old.nonce, /^[0-9a-f]{64}$/)
  assert.deepStrictEqual(readKeyFile(old.dir).nonce, old.nonce, 'the nonce is on the disk')
  await hosts[1].close()
  // A lost disk, normal mode: a new nonce, a new key, recorded in the slot by the promotion.
  hosts[1] = await startHost({ bootstrap, topic, secret, replicas: 3, ordinal: 1, baseKey, dataDir: tmpdir() + '/new' })
  const replacement = { key: hosts[1].writerKey, nonce: hosts[1].nonce }
  assert.notStrictEqual(replacement.nonce, old.nonce)
  assert.notStrictEqual(replacement.key, old.key)
  assert.strictEqual(hosts[1].restore, null)
  await until(async () => allIndexers(hosts, 3) && (await slotRecords(hosts[0]))[1]?.nonce === replacement.nonce, 180000, 'replacement promoted, its nonce recorded')
  await hosts[1].close()
  // The old disk returns in restore mode: it is not empty, so no restore; its key was replaced,
  // so it starts over, and never on the replacement's key (which the seed and the slot's nonce
  // would make again).
  const back = await startHost({ bootstrap, topic, secret, replicas: 3, ordinal: 1, baseKey, dataDir: old.dir, restore: true })
  hosts[1] = back
  assert.strictEqual(back.mode, 'reopen')
  assert.strictEqual(back.restore, null)
  await until(() => back.startedOver !== null && back.base && back.isIndexer() && allIndexers(hosts, 3), 180000, 'started over and promoted again')
  assert.ok(![old.key, replacement.key].includes(back.writerKey), 'a new key')
  assert.strictEqual(back.restored, false)
})

test('a store made before derived keys (random primary key, a base of release 0.1.0: one host, no slots) keeps working; restoring it finds no slot and starts as today', normally(8), async () => {
  const topic = topicName('restore-old')
  const secret = secrets()
  const dataDir = tmpdir() + '/old-host'
  fs.mkdirSync(dataDir, { recursive: true })
  const store = new Corestore(path.join(dataDir, 'corestore'))
  const made = new Autobase(store, null, { valueEncoding: 'json', open: logApp.open, apply: logApp.apply, encryptionKey: secret.encryptionKey })
  await made.ready()
  await made.append(logApp.genesis(topic))
  await made.append({ type: 'put', key: 'old', value: 1 })
  const baseKey = hex(made.key)
  const writerKey = hex(made.local.key)
  await made.close()
  await store.close()
  fs.writeFileSync(path.join(dataDir, STATE_FILE), JSON.stringify({ baseKey, topic, createdAt: new Date().toISOString(), mode: 'create', encrypted: true }))

  // Restore mode on a disk that holds its base: reopened as it is.
  const h = await startHost({ bootstrap, topic, secret, dataDir, restore: true })
  assert.strictEqual(h.mode, 'reopen')
  assert.strictEqual(h.writerKey, writerKey)
  assert.strictEqual(h.nonce, null, 'a random key has no nonce')
  assert.strictEqual(h.restore, null)
  assert.ok(!fs.existsSync(path.join(dataDir, KEY_FILE)))
  const outside = await startMember({ bootstrap, topic, host: h, secret })
  await until(() => outside.writable, 90000, 'member writable')
  await confirmedWrite(outside, 'new')
  assert.deepStrictEqual(await slotRecords(h), {}, 'no host-slot entry: the log is as release 0.1.0 writes it')
  await loseAll([h])

  const fresh = await restoreHost(0, { topic, secret, baseKey, replicas: 1 })
  assert.strictEqual(fresh.restored, false)
  assert.strictEqual(fresh.restore.why, 'the base has no host slot for ordinal 0')
  assert.strictEqual(fresh.mode, 'rejoin')
  assert.notStrictEqual(fresh.writerKey, writerKey)
  await until(() => viewHas(fresh, (e) => e.value === 'new'), 60000, 'the base replicated from the member')
})

test('one host (N = 1): the creator records its slot with its nonce; lost and restored from its seed, it is the base\'s writer again and admits', normally(19), async (t) => {
  const topic = topicName('restore-one')
  const secret = secrets()
  const h = await startHost({ bootstrap, topic, secret })
  const baseKey = hex(h.base.key)
  assert.strictEqual(h.writerKey, baseKey, 'the creator\'s writer key is the base key')
  await until(async () => (await slotRecords(h))[0]?.nonce === h.nonce, 30000, 'slot 0 recorded with the nonce')
  assert.strictEqual(hex(derivePrimaryKey(secret.seed, Buffer.from(h.nonce, 'hex'))), hex(h.store.primaryKey))
  const outside = await startMember({ bootstrap, topic, host: h, secret })
  await until(() => outside.writable, 90000, 'member writable')
  await confirmedWrite(outside, 'before')
  await loseAll([h])
  await outside.base.append({ type: 'put', key: 'w', value: 'outage' })
  const outage = outside.base.view.length - 1

  const t0 = Date.now()
  const back = await restoreHost(0, { topic, secret, baseKey, replicas: 1 })
  assert.strictEqual(back.restored, true, back.restore.why)
  assert.strictEqual(back.writerKey, baseKey)
  assert.strictEqual(back.base.writable, true)
  assert.strictEqual(back.isIndexer(), true)
  await until(() => outside.base.view.signedLength > outage, 120000, 'the outage entry confirmed')
  const { writable } = await newMemberWrites(back, outside, { topic, secret, t0 })
  t.diagnostic(`FIGURE restore of one host: outage entry confirmed ${Date.now() - t0} ms, a new member writable ${writable} ms (gate ${back.restore.gateMs} ms)`)
})

test('a restore interrupted before its gate passed leaves a store that is never opened as it is', normally(1), async () => {
  const topic = topicName('restore-half')
  const secret = secrets()
  const dataDir = tmpdir() + '/half'
  fs.mkdirSync(path.join(dataDir, 'corestore'), { recursive: true })
  const nonce = crypto.randomBytes(32).toString('hex')
  const store = new Corestore(path.join(dataDir, 'corestore'), { primaryKey: derivePrimaryKey(secret.seed, Buffer.from(nonce, 'hex')), unsafe: true })
  const halfKey = hex(await Autobase.getLocalKey(store))
  await store.close()
  fs.writeFileSync(path.join(dataDir, KEY_FILE), JSON.stringify({ nonce, ordinal: 0, restoring: true }))
  const h = await startHost({ bootstrap, topic, secret, dataDir })
  assert.notStrictEqual(h.writerKey, halfKey, 'the half-restored key is not used')
  assert.notStrictEqual(h.nonce, nonce)
  assert.strictEqual(readKeyFile(dataDir).restoring, false)
})

test('apply: a slot\'s nonce is recorded once and never changed; a malformed nonce is refused', normally(1), async () => {
  const topic = topicName('restore-apply')
  const secret = secrets()
  const h = await startHost({ bootstrap, topic, secret })
  await until(async () => (await slotRecords(h))[0]?.nonce === h.nonce, 30000, 'slot 0 recorded')
  const other = crypto.randomBytes(32).toString('hex')
  await h.base.append({ type: 'host-slot', key: h.writerKey, ordinal: 0, nonce: other })
  await h.base.append({ type: 'add-indexer', key: crypto.randomBytes(32).toString('hex'), ordinal: 3, nonce: 'not hex' })
  await h.base.append({ type: 'put', key: 'after', value: 1 })
  await until(() => viewHas(h, (e) => e.key === 'after'), 30000, 'applied')
  const slots = await slotRecords(h)
  assert.deepStrictEqual(Object.keys(slots), ['0'])
  assert.strictEqual(slots[0].nonce, h.nonce)
  await sleep(100)
})
