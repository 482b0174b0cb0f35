'use strict'
// Restarts: same disk keeps the base; empty disk + SWARM_BASE_KEY rejoins it; SIGTERM loses nothing.
const test = require('node:test')
const assert = require('node:assert')
const { topicSecrets, startBootstrap, startHost, startClient, tmpdir, seedFile, get, post, waitFor, stop, stopAll, hostStatus } = require('../../test/helpers')

let boot
test.before(async () => { boot = await startBootstrap() })
test.after(stopAll)

test('SIGTERM keeps data; a restart on the same disk keeps the base key', async () => {
  const topic = 'restart-' + Date.now()
  const dir = tmpdir()
  const seed = seedFile(dir)
  const h1 = await startHost({ topic, bootstrap: boot.address, dataDir: dir + '/data', seed })
  const s1 = await hostStatus(h1.statusPort)
  for (let i = 0; i < 5; i++) assert.strictEqual((await post(h1.appPort, '/append', { key: 'k' + i, value: i })).status, 200)
  const exit = await stop(h1.child, 'SIGTERM')
  assert.strictEqual(exit.code, 0, h1.child.stdoutText)
  assert.match(h1.child.stdoutText, /"msg":"closed"/)

  const h2 = await startHost({ topic, bootstrap: boot.address, dataDir: dir + '/data', seed })
  const s2 = await hostStatus(h2.statusPort)
  assert.strictEqual(s2.payload.baseKey, s1.payload.baseKey)
  assert.strictEqual(s2.payload.writerKey, s1.payload.writerKey)
  const l = (await get(h2.appPort, '/log')).body
  assert.deepStrictEqual(l.entries.filter((e) => e.type === 'put').map((e) => e.value), [0, 1, 2, 3, 4])
  assert.strictEqual(l.entries.filter((e) => e.type === 'genesis').length, 1)
  await stop(h2.child)
})

test('a disk holding another base than SWARM_BASE_KEY is refused', async () => {
  const topic = 'refuse-' + Date.now()
  const dir = tmpdir()
  const seed = seedFile(dir)
  const h1 = await startHost({ topic, bootstrap: boot.address, dataDir: dir + '/data', seed })
  await stop(h1.child)
  const h2 = await startHost({ topic, bootstrap: boot.address, dataDir: dir + '/data', seed, env: { SWARM_BASE_KEY: 'ab'.repeat(32) }, waitReady: false })
  const exit = await h2.child.exited
  assert.notStrictEqual(exit.code, 0)
  assert.match(h2.child.stderrText, /SWARM_BASE_KEY .* differs from the base on disk/)
})

test('a host with an empty disk and SWARM_BASE_KEY rejoins the base and replicates it from a client', async () => {
  const topic = 'rejoin-' + Date.now()
  const dir = tmpdir()
  const seed = seedFile(dir)
  const sec = topicSecrets(dir)
  const h1 = await startHost({ topic, bootstrap: boot.address, dataDir: dir + '/data1', seed, env: sec })
  const s1 = await hostStatus(h1.statusPort)
  await post(h1.appPort, '/append', { key: 'old', value: 'data' })
  const c = await startClient({ topic, bootstrap: boot.address, baseKey: s1.payload.baseKey, hostPublicKey: s1.envelope.publicKey, dataDir: dir + '/client', env: sec })
  await waitFor(async () => (await get(c.appPort, '/log')).body.entries.some((e) => e.key === 'old'), 60000, 'client has old data', c.child)
  await stop(h1.child)

  // Lost disk: new data dir, same identity, SWARM_BASE_KEY from the operator.
  const h2 = await startHost({ topic, bootstrap: boot.address, dataDir: dir + '/data2', seed, env: { ...sec, SWARM_BASE_KEY: s1.payload.baseKey } })
  const s2 = await hostStatus(h2.statusPort)
  assert.strictEqual(s2.payload.baseKey, s1.payload.baseKey)
  assert.notStrictEqual(s2.payload.writerKey, s1.payload.writerKey) // a new writer core, no fork of the old one
  assert.match(h2.child.stdoutText, /"mode":"rejoin"/)
  // The client still holds the base and is still connected by the same host identity.
  await waitFor(async () => (await get(h2.appPort, '/log')).body.entries.some((e) => e.key === 'old'), 60000, 'rejoined host replicated old data from the client', h2.child)
  const p2 = JSON.parse((await get(h2.statusPort, '/status')).body.payload)
  assert.strictEqual(p2.mode, 'rejoin')
  assert.strictEqual(p2.writable, false, 'a rejoined host is not the bootstrap writer')
  assert.ok(p2.baseLength > 0)
})

test('a client process stopped with SIGTERM leaves the writer set', async () => {
  const topic = 'leave-' + Date.now()
  const dir = tmpdir()
  const sec = topicSecrets(dir)
  const h = await startHost({ topic, bootstrap: boot.address, dataDir: dir + '/data', seed: seedFile(dir), env: sec })
  const s = await hostStatus(h.statusPort)
  const writers = async () => JSON.parse((await get(h.statusPort, '/status')).body.payload).writers
  const c = await startClient({ topic, bootstrap: boot.address, baseKey: s.payload.baseKey, hostPublicKey: s.envelope.publicKey, env: sec })
  await waitFor(async () => (await get(c.statusPort, '/readyz')).body.writable, 30000, 'client writable', c.child)
  await waitFor(async () => (await writers()) === 2, 15000, 'host counts two writers', h.child)
  const exit = await stop(c.child, 'SIGTERM')
  assert.strictEqual(exit.code, 0, c.child.stdoutText)
  assert.match(c.child.stdoutText, /"msg":"left the writers".*"acknowledged":true/)
  await waitFor(async () => (await writers()) === 1, 15000, 'host back to one writer', h.child)
})
