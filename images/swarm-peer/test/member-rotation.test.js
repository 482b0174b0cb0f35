'use strict'
// Issue 23, the peer's side of a replaced member seed, in process on a loopback hyperdht testnet.
// The operator rolls the host onto a new seed (the pod template carries the seed's id), so the host
// restarts on its own store with the new seed file. From then on a pairing request made with the
// old seed admits no writer and one made with the new seed does: the host derives its invite from
// the seed it was started with, and nothing of the old seed stays in its store.
const test = require('node:test')
const assert = require('node:assert')
const crypto = require('crypto')
const { testnet, secrets, startHost, startMember, closeAll, until, viewHas } = require('./inproc')
const { tmpdir, normally } = require('./helpers')

const topic = 'rotation-' + Date.now()
test.after(closeAll)

test('a replaced member seed takes effect when the host restarts: the old seed admits no writer, the new one does', normally(33), async (t) => {
  const { bootstrap } = await testnet()
  const secret = secrets()
  const dataDir = tmpdir() + '/host'
  const first = await startHost({ bootstrap, topic, secret, dataDir })
  const baseKey = first.base.key.toString('hex')
  const early = await startMember({ bootstrap, topic, host: first, secret })
  await until(() => early.writable, 30000, 'a member with the first seed writable')
  await early.close()
  await first.close()

  const rotated = { ...secret, memberSeed: crypto.randomBytes(32) }
  const host = await startHost({ bootstrap, topic, secret: rotated, dataDir })
  assert.strictEqual(host.base.key.toString('hex'), baseKey, 'the restarted host opens the same base')
  const stale = await startMember({ bootstrap, topic, host, secret })
  stale.base.on('writable', () => { stale.everWritable = true })
  const t0 = Date.now()
  const fresh = await startMember({ bootstrap, topic, host, secret: rotated })
  await until(() => fresh.writable, 30000, 'a member with the new seed writable')
  t.diagnostic(`FIGURE new seed: start -> writable ${Date.now() - t0} ms`)
  await fresh.base.append({ type: 'put', key: 'after-rotation', value: 1 })
  await until(() => viewHas(host, (e) => e.key === 'after-rotation'), 15000, 'the host sees the new writer')
  // Two pairing rounds of the old seed's member (one every 15 s) and many host polls.
  await new Promise((resolve) => setTimeout(resolve, 32000))
  assert.strictEqual(stale.writable || !!stale.everWritable, false, 'the old seed admitted a writer')
  assert.strictEqual(await host.base.system.get(Buffer.from(stale.writerKey, 'hex')), null)
})
