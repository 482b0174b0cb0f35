'use strict'
// Issue 8, in process on a loopback hyperdht testnet: writers by invitation only (policy
// Clients), host-only add-writer, an encrypted base. Figures are printed as diagnostics
// (FIGURE lines), never asserted as timings.
const test = require('node:test')
const assert = require('node:assert')
const crypto = require('crypto')
const Corestore = require('corestore')
const { testnet, secrets, startHost, startMember, closeAll, until, viewHas } = require('./inproc')
const { Outsider, MARK } = require('./outsider')
const { createSwarm } = require('../lib/swarm')
const { tmpdir, normally } = require('./helpers')

const topic = 'trust-' + Date.now()
let bootstrap, host, secret

test.before(async () => {
  ({ bootstrap } = await testnet())
  secret = secrets()
  host = await startHost({ bootstrap, topic, secret })
}, normally(2))
test.after(closeAll)

test('a member client (policy Clients) becomes writable and its entry reaches the host', normally(2), async (t) => {
  const times = []
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now()
    const m = await startMember({ bootstrap, topic, host, secret })
    await until(() => m.writable, 30000, 'member writable')
    times.push(Date.now() - t0)
    await m.base.append({ type: 'put', key: 'member-' + i, value: i })
    await until(() => viewHas(host, (e) => e.key === 'member-' + i), 15000, 'host sees the member entry')
  }
  t.diagnostic(`FIGURE member time to writer (start -> writable, ms): ${times.join(', ')}`)
})

test('outsiders (topic only; topic + base key + host key; the reference client with the public env) never become writable in 30 s', normally(31), async (t) => {
  const member = await startMember({ bootstrap, topic, host, secret })
  const outsiders = [
    new Outsider({ bootstrap, topic }),
    new Outsider({ bootstrap, topic, baseKey: host.base.key.toString('hex') })
  ]
  for (const o of outsiders) await o.start()
  // The reference client run by an outsider with the public env only (topic, base key, host
  // public key), claiming policy Open: it sends writer-requests to the pinned host.
  const publicEnv = await startMember({ bootstrap, topic, host, secret: { memberSeed: null, encryptionKey: null }, writersPolicy: 'Open' })
  publicEnv.base.on('writable', () => { publicEnv.everWritable = true })
  await new Promise((resolve) => setTimeout(resolve, 30000))
  assert.strictEqual(publicEnv.writable || !!publicEnv.everWritable, false)
  assert.strictEqual(publicEnv.base.view.length, 0, 'without the encryption key it reads nothing')
  await member.base.append({ type: 'put', key: 'after-outsiders', value: 1 })
  await until(() => viewHas(host, (e) => e.key === 'after-outsiders'), 15000, 'host caught up')
  const [topicOnly, withKey] = outsiders
  assert.strictEqual(topicOnly.offers, 0, 'no key offer to a peer without the membership proof')
  assert.strictEqual(topicOnly.base, null)
  assert.ok(withKey.base, 'the second outsider opened the base by key')
  for (const o of outsiders) assert.strictEqual(o.everWritable, false)
  for (const peer of [host, member]) assert.strictEqual(await viewHas(peer, (e) => e.key === MARK), false)
  const writes = outsiders.reduce((n, o) => n + o.appended, 0)
  t.diagnostic(`FIGURE outsider writes accepted: ${writes}; offers to the topic-only outsider: ${topicOnly.offers}`)
  for (const o of outsiders) await o.close()
})

test('an add-writer appended by a non-host writer is ignored', normally(1), async () => {
  const writer = await startMember({ bootstrap, topic, host, secret })
  await until(() => writer.writable, 30000, 'member writable')
  // A reader: the base key and the encryption key, no member seed.
  const reader = await startMember({ bootstrap, topic, host, secret: { ...secret, memberSeed: null } })
  const key = reader.writerKey
  await writer.base.append({ type: 'add-writer', key })
  await writer.base.append({ type: 'put', key: 'after-rogue-add', value: 1 })
  for (const [name, peer] of [['host', host], ['writer', writer], ['reader', reader]]) {
    await until(() => viewHas(peer, (e) => e.key === 'after-rogue-add'), 30000, 'entry replicated to the ' + name)
  }
  assert.strictEqual(await host.base.system.get(Buffer.from(key, 'hex')), null)
  assert.strictEqual(reader.writable, false)
  assert.ok(host.stats.entriesIgnored.value >= 1, 'the host counted the ignored entries')
})

test('an outsider replicating the cores reads no plaintext; members do', normally(1), async () => {
  const marker = 'plaintext-marker-' + crypto.randomBytes(8).toString('hex')
  await host.base.append({ type: 'put', key: 'secret', value: marker })
  const member = await startMember({ bootstrap, topic, host, secret })
  await until(() => viewHas(member, (e) => e.value === marker), 15000, 'member reads the marker')
  const store = new Corestore(tmpdir() + '/raw')
  const swarm = createSwarm({ bootstrap, dhtHost: '127.0.0.1', firewalled: false })
  swarm.on('connection', (c) => { c.on('error', () => {}); store.replicate(c) })
  const core = store.get({ key: host.base.key })
  await core.ready()
  swarm.join(host.base.discoveryKey, { client: true, server: false })
  await until(async () => { await core.update({ wait: true }); return core.length >= host.base.local.length }, 15000, 'raw core replicated')
  const blocks = []
  for (let i = 0; i < core.length; i++) blocks.push(await core.get(i))
  assert.ok(blocks.length >= 2)
  assert.ok(blocks.every((b) => !b.includes(marker) && !b.includes('"put"')), 'ciphertext only')
  await swarm.destroy()
  await store.close()
})
