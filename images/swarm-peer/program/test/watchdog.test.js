'use strict'
// /readyz follows the DHT: 503 when the bootstrap node is gone, 200 again when it returns; a
// waiting /status (?wait=S) answers the signed report as soon as the first announce has flushed,
// and a host that cannot announce answers it 503 once S has passed, never before.
const test = require('node:test')
const assert = require('node:assert')
const crypto = require('crypto')
const { startBootstrap, startHost, tmpdir, seedFile, get, waitFor, stop, stopAll, freeUdpPort } = require('../../test/helpers')

test.after(stopAll)

test('readyz goes 503 when the DHT bootstrap node disappears and 200 when it is back', async () => {
  const boot = await startBootstrap()
  const dir = tmpdir()
  const host = await startHost({
    topic: 'watchdog-' + Date.now(), bootstrap: boot.address, dataDir: dir + '/data', seed: seedFile(dir),
    env: { SWARM_WATCHDOG_INTERVAL_MS: '1000' }
  })
  assert.strictEqual((await get(host.statusPort, '/readyz')).status, 200)
  await stop(boot.child, 'SIGKILL')
  await waitFor(async () => (await get(host.statusPort, '/readyz')).status === 503, 90000, 'readyz 503', host.child)
  const r = (await get(host.statusPort, '/readyz')).body
  assert.strictEqual(r.ready, false)
  assert.ok(r.reason)

  const boot2 = await startBootstrap(boot.port)
  await waitFor(async () => (await get(host.statusPort, '/readyz')).status === 200, 120000, 'readyz 200 again', host.child)
  const m = await get(host.statusPort, '/metrics')
  assert.match(m.text, /swarm_peer_reannounces_total\{role="host"\} [1-9]/)
  await stop(host.child)
  await stop(boot2.child)
})

test('a host whose DHT is unreachable serves /healthz at once, /readyz 503, and no /status (a waiting one: after its wait)', async () => {
  const dir = tmpdir()
  const nowhere = '127.0.0.1:' + await freeUdpPort() // nobody listens: the first announce cannot flush
  const host = await startHost({
    topic: 'no-dht-' + Date.now(), bootstrap: nowhere, dataDir: dir + '/data', seed: seedFile(dir), waitReady: false
  })
  await waitFor(async () => (await get(host.statusPort, '/healthz')).status === 200, 15000, 'healthz 200', host.child)
  const ready = await get(host.statusPort, '/readyz')
  assert.strictEqual(ready.status, 503)
  assert.strictEqual(ready.body.ready, false)
  assert.notStrictEqual((await get(host.statusPort, '/status')).status, 200, 'a host that never announced has no report')
  const asked = Date.now()
  const waited = await get(host.statusPort, '/status?wait=1.5')
  const took = Date.now() - asked
  assert.strictEqual(waited.status, 503)
  assert.ok(took >= 1400, `waited ${took} ms of the 1.5 s asked`)
  assert.ok(took < 8000, `answered ${took} ms later: the wait is bounded`)
  assert.strictEqual((await get(host.statusPort, '/status?wait=soon')).status, 400)
  assert.strictEqual((await get(host.statusPort, '/status?wait=-1')).status, 400)
  await stop(host.child)
})

test('a waiting /status answers with the signed report once the announce flushes', async () => {
  const boot = await startBootstrap()
  const dir = tmpdir()
  const host = await startHost({
    topic: 'wait-' + Date.now(), bootstrap: boot.address, dataDir: dir + '/data', seed: seedFile(dir), waitReady: false
  })
  await waitFor(async () => (await get(host.statusPort, '/healthz')).status === 200, 15000, 'healthz 200', host.child)
  const nonce = crypto.randomBytes(32).toString('hex')
  const asked = Date.now()
  const first = await get(host.statusPort, `/status?wait=10&nonce=${nonce}`) // usually asked before the announce
  assert.strictEqual(first.status, 200, `the report, not ${first.status} ${first.text}`)
  const payload = JSON.parse(first.body.payload)
  assert.strictEqual(payload.nonce, nonce)
  assert.ok(payload.announcedAt, 'a report is signed only once the announce has flushed')
  assert.ok(Date.now() - asked < 10000, 'answered when the report existed, not at the end of the wait')
  await stop(host.child)
  await stop(boot.child)
})
