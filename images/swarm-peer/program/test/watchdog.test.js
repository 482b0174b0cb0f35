'use strict'
// /readyz follows the DHT: 503 when the bootstrap node is gone, 200 again when it returns.
const test = require('node:test')
const assert = require('node:assert')
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

test('a host whose DHT is unreachable serves /healthz at once, /readyz 503, and no /status', async () => {
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
  await stop(host.child)
})
