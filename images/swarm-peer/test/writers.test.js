'use strict'
// Writers do not pile up (issue 8), and the writer policies HostOnly and Open. In process on a
// loopback hyperdht testnet. Figures are printed as FIGURE diagnostics.
const test = require('node:test')
const assert = require('node:assert')
const { testnet, secrets, startHost, startMember, closeAll, until, viewHas } = require('./inproc')
const { normally } = require('./helpers')

let bootstrap
test.before(async () => { ({ bootstrap } = await testnet()) }, normally(1))
test.after(closeAll)

const writers = (host) => host.base.system.members

test('50 client restarts (empty disk each time) leave a bounded writer set', normally(26), async (t) => {
  const topic = 'restarts-' + Date.now()
  const secret = secrets()
  const host = await startHost({ bootstrap, topic, secret, writerIdleMs: 4000 })
  const steady = await startMember({ bootstrap, topic, host, secret }) // the replica that stays
  await until(() => steady.writable, 30000, 'steady member writable')
  let max = 0
  for (let i = 0; i < 50; i++) {
    const m = await startMember({ bootstrap, topic, host, secret })
    await until(() => m.writable, 30000, `restart ${i} writable`)
    await m.base.append({ type: 'put', key: 'restart', value: i })
    if (i % 10 === 9) { // a crash: no graceful leave, the idle sweep has to remove it
      await m.joiner.close()
      m.joiner = null
    }
    await m.close()
    await host.base.update()
    max = Math.max(max, writers(host))
  }
  const afterRestarts = writers(host)
  // Five crashed writers wait for the sweep (idle 4 s); graceful ones left at once.
  await until(async () => { await host.base.update(); return writers(host) <= 2 }, 30000, 'sweep of crashed writers')
  const settled = writers(host)
  t.diagnostic(`FIGURE writer set after 50 restarts (1 steady replica + host; 5 crashes): ${afterRestarts} right after, max ${max} during, ${settled} after the idle sweep`)
  // Bound: replicas (1) + host (1) + slack (the crashed writers not yet idle for SWARM_WRITER_IDLE_MS).
  assert.ok(afterRestarts <= 2 + 5, `writers after restarts: ${afterRestarts}`)
  assert.strictEqual(settled, 2)
  assert.strictEqual(steady.writable, true, 'a connected replica is never swept')
  assert.strictEqual(host.base.writable, true, 'the host (the last indexer) is never removed')
})

// The host (the base's bootstrap writer) is its only indexer: members are added with
// indexer: false. Both guards are shown: apply ignores a `remove-writer` of the last indexer
// (system-apply.js) and the idle sweep never appends one (writer-registry.js). Autobase's own
// removeWriter() would throw too; the guard is what makes it an ignored entry, not an apply error.
test('the last indexer is never removed: the host\'s own remove-writer and an idle sweep naming it leave the host an indexer and writable', normally(3), async () => {
  const topic = 'last-indexer-' + Date.now()
  const secret = secrets()
  const errors = []
  const infos = []
  const log = { info: (msg) => infos.push(msg), warn () {}, error: (msg, fields) => errors.push({ msg, ...fields }) }
  const idle = 1000
  const host = await startHost({ bootstrap, topic, secret, writerIdleMs: idle, log })
  const member = await startMember({ bootstrap, topic, host, secret })
  await until(() => member.writable, 30000, 'member writable')
  const hostKey = host.base.local.key
  const hex = hostKey.toString('hex')
  const counter = async (c) => c.value
  const isOnlyIndexer = (peer) => peer.base.system.indexers.length === 1 && peer.base.system.indexers[0].key.equals(hostKey)
  assert.ok(isOnlyIndexer(host), 'the host starts as the only indexer')

  // 1. The host appends a remove-writer of its own key (the one writer allowed to).
  await host.base.append({ type: 'remove-writer', key: hex })
  await host.base.append({ type: 'put', key: 'after-remove', value: 1 })
  await until(() => viewHas(member, (e) => e.key === 'after-remove'), 15000, 'member has the entries after the remove-writer')
  await host.base.update()
  for (const peer of [host, member]) {
    assert.ok(isOnlyIndexer(peer), `${peer.role}: the host is still the only indexer`)
    const info = await peer.base.system.get(hostKey)
    assert.ok(info && !info.isRemoved, `${peer.role}: the host is still a writer`)
    assert.strictEqual(await counter(peer.stats.entriesIgnored), 1, `${peer.role}: the remove-writer is an ignored entry`)
  }
  assert.strictEqual(host.base.writable, true)
  assert.strictEqual(host.base.isIndexer, true)
  assert.deepStrictEqual(errors, [], 'no apply error on the host')

  // 2. The host's key in the writer registry (where a member's pairing request naming the
  // host's writer key puts it), idle past writerIdleMs while only the member is seen: the
  // sweep (every 500 ms here) removes nothing and appends nothing: a remove-writer it appended
  // would be one more ignored entry.
  assert.strictEqual(await host.admission.admit(hex, 'invite'), true, 'already a writer')
  assert.ok(host.registry.has(hex))
  await new Promise((resolve) => setTimeout(resolve, idle + 500))
  await host.registry.timer.trigger()
  await host.base.update()
  assert.strictEqual(await counter(host.stats.entriesIgnored), 1, 'the sweep appended no remove-writer')
  assert.strictEqual(await counter(host.stats.writersRemoved), 0)
  assert.ok(!infos.includes('idle writer removed'))
  assert.ok(host.registry.has(hex), 'the host stays in the registry, never swept')
  assert.ok(isOnlyIndexer(host))
  assert.strictEqual(host.base.writable, true)
  assert.strictEqual(member.writable, true, 'the seen member is not swept either')
  await member.base.append({ type: 'put', key: 'after-sweep', value: 1 })
  await until(() => viewHas(host, (e) => e.key === 'after-sweep'), 15000, 'host sees the member after the sweep')
  assert.deepStrictEqual(errors, [])
})

test('HostOnly: a client never becomes writable (even holding the invite) but reads', normally(11), async () => {
  const topic = 'hostonly-' + Date.now()
  const secret = secrets()
  const host = await startHost({ bootstrap, topic, secret, writersPolicy: 'HostOnly' })
  await host.base.append({ type: 'put', key: 'from-host', value: 1 })
  const withSeed = await startMember({ bootstrap, topic, host, secret, writersPolicy: 'Clients' })
  const noSeed = await startMember({ bootstrap, topic, host, secret: { ...secret, memberSeed: null }, writersPolicy: 'HostOnly' })
  for (const m of [withSeed, noSeed]) await until(() => viewHas(m, (e) => e.key === 'from-host'), 15000, 'member reads')
  await new Promise((resolve) => setTimeout(resolve, 10000))
  assert.strictEqual(withSeed.writable, false)
  assert.strictEqual(noSeed.writable, false)
  assert.strictEqual(writers(host), 1)
  assert.ok(host.stats.pairingDenied.value >= 1, 'the host counted the denied request')
})

test('Open: a peer without any member seed becomes writable', normally(1), async () => {
  const topic = 'open-' + Date.now()
  const secret = secrets()
  const host = await startHost({ bootstrap, topic, secret: { ...secret, memberSeed: null }, writersPolicy: 'Open' })
  const m = await startMember({ bootstrap, topic, host, secret: { ...secret, memberSeed: null }, writersPolicy: 'Open' })
  await until(() => m.writable, 30000, 'open member writable')
  await m.base.append({ type: 'put', key: 'open-write', value: 1 })
  await until(() => viewHas(host, (e) => e.key === 'open-write'), 15000, 'host sees the write')
})
