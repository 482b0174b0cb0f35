'use strict'
// autokv on the library, in process on a loopback hyperdht testnet: a host (the reference
// host, its own log app) and two autokv replicas; a put on one replica is read on the other
// over autokv's own HTTP API; the status port stays GET-only.
const test = require('node:test')
const assert = require('node:assert')
const { Program } = require('swarm-peer')
const { testnet, secrets, startHost, startMember, closeAll, until } = require('../../../images/swarm-peer/test/inproc')
const { kvApp, kvRoutes } = require('../kv')

const programs = []
test.after(async () => {
  for (const p of programs) await p.close()
  await closeAll()
})

async function replica (opts) {
  const member = await startMember({ ...opts, app: kvApp })
  const log = { info () {}, warn () {}, error () {} }
  const p = new Program({ peer: member, statusPort: 0, appPort: 0, appHost: '127.0.0.1', appRoutes: kvRoutes, log })
  await p.start()
  programs.push(p)
  return { member, status: p.status.server.address().port, app: p.app.server.address().port }
}

const call = async (port, path, body) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, body ? { method: 'POST', body: JSON.stringify(body) } : {})
  return { status: res.status, body: await res.json().catch(() => null) }
}

test('autokv: a put on replica A is read on replica B; both on the recorded key', async () => {
  const { bootstrap } = await testnet()
  const secret = secrets()
  const topic = 'autokv-' + Date.now()
  const host = await startHost({ bootstrap, topic, secret })
  const a = await replica({ bootstrap, topic, host, secret })
  const b = await replica({ bootstrap, topic, host, secret })
  await until(async () => (await call(a.app, '/put', { key: 'colour', value: 'blue' })).status === 200, 30000, 'A writable and put')
  const got = await until(async () => { const r = await call(b.app, '/get?key=colour'); return r.status === 200 && r.body }, 15000, 'B reads the key')
  assert.strictEqual(got.value, 'blue')
  assert.strictEqual(got.by, a.member.writerKey)
  for (const r of [a, b]) {
    assert.strictEqual((await call(r.status, '/status')).body.baseKey, host.base.key.toString('hex'))
    assert.strictEqual((await call(r.status, '/put', { key: 'x', value: 1 })).status, 405)
  }
  await until(async () => (await call(b.app, '/del', { key: 'colour' })).status === 200, 30000, 'B writable and del')
  await until(async () => (await call(a.app, '/get?key=colour')).status === 404, 15000, 'A sees the delete')
  assert.deepStrictEqual((await call(a.app, '/keys')).body.keys, [])
})
