'use strict'
// Writers do not pile up (issue 8), and the writer policies HostOnly and Open. In process on a
// loopback hyperdht testnet. Figures are printed as FIGURE diagnostics.
const test = require('node:test')
const assert = require('node:assert')
const { testnet, secrets, startHost, startMember, closeAll, until, viewHas } = require('./inproc')

let bootstrap
test.before(async () => { ({ bootstrap } = await testnet()) })
test.after(closeAll)

const writers = (host) => host.base.system.members

test('50 client restarts (empty disk each time) leave a bounded writer set', async (t) => {
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

test('HostOnly: a client never becomes writable (even holding the invite) but reads', async () => {
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
  assert.match(await host.metrics.registry.metrics(), /swarm_peer_pairing_denied_total\{role="host"\} [1-9]/)
})

test('Open: a peer without any member seed becomes writable', async () => {
  const topic = 'open-' + Date.now()
  const secret = secrets()
  const host = await startHost({ bootstrap, topic, secret: { ...secret, memberSeed: null }, writersPolicy: 'Open' })
  const m = await startMember({ bootstrap, topic, host, secret: { ...secret, memberSeed: null }, writersPolicy: 'Open' })
  await until(() => m.writable, 30000, 'open member writable')
  await m.base.append({ type: 'put', key: 'open-write', value: 1 })
  await until(() => viewHas(host, (e) => e.key === 'open-write'), 15000, 'host sees the write')
})
