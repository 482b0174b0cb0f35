'use strict'
// autokv as it runs in a pod, on the installed member library: two replicas, each `node index.js`
// with the SWARM_* environment the operator gives client pods, and the topic's host (the
// library's Host) in this process, all on a loopback hyperdht testnet. A put on one replica is
// read on the other over autokv's own API; the status port answers GET only; SIGTERM takes a
// replica out of the writer set and exits 0.
const test = require('node:test')
const assert = require('node:assert')
const { spawn } = require('child_process')
const crypto = require('crypto')
const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')
const createTestnet = require('hyperdht/testnet')
const { Host } = require('@swarm-operator/member')

const INDEX = path.join(__dirname, '..', 'index.js')
const closers = []
test.after(async () => { for (const close of closers.reverse()) await close() })

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'autokv-test-'))
const secretFile = (dir, name) => {
  fs.writeFileSync(path.join(dir, name), crypto.randomBytes(32).toString('hex'))
  return path.join(dir, name)
}
const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
})

async function until (fn, ms, what) {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 100))) {
    const v = await fn().catch(() => null)
    if (v) return v
  }
  throw new Error('timed out waiting for ' + what)
}

async function call (port, p, body) {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, body ? { method: 'POST', body: JSON.stringify(body) } : {})
  return { status: res.status, body: await res.json().catch(() => null) }
}

// One replica: `node index.js` as a client pod runs it.
async function replica (env) {
  const ports = { status: await freePort(), app: await freePort() }
  const child = spawn(process.execPath, [INDEX], {
    env: { PATH: process.env.PATH, ...env, SWARM_STATUS_PORT: String(ports.status), SWARM_APP_PORT: String(ports.app) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.output = ''
  child.stdout.on('data', (d) => { child.output += d })
  child.stderr.on('data', (d) => { child.output += d })
  child.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  closers.push(async () => { if (child.exitCode === null) { child.kill('SIGKILL'); await child.exited } })
  await until(async () => (await call(ports.status, '/readyz')).status === 200, 60000, 'the replica ready')
  return { child, ...ports }
}

test('autokv: a put on replica A is read on replica B; both on the recorded key', async () => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  closers.push(() => testnet.destroy())
  const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`)
  const dir = tmp()
  const topic = 'autokv-' + Date.now()
  const memberSeedFile = secretFile(dir, 'invite-seed')
  const encryptionKeyFile = secretFile(dir, 'encryption-key')
  const read = (f) => Buffer.from(fs.readFileSync(f, 'utf8'), 'hex')
  const host = new Host({ topic, bootstrap, dhtHost: '127.0.0.1', dataDir: path.join(dir, 'host'), seed: crypto.randomBytes(32), memberSeed: read(memberSeedFile), encryptionKey: read(encryptionKeyFile) })
  await host.ready()
  closers.push(() => host.close())
  const baseKey = host.base.key.toString('hex')
  const env = {
    SWARM_TOPIC: topic,
    SWARM_BASE_KEY: baseKey,
    SWARM_HOST_PUBLIC_KEY: host.keyPair.publicKey.toString('hex'),
    SWARM_REQUIRE_BOOTSTRAP: 'true',
    SWARM_DHT_BOOTSTRAP: bootstrap.join(','),
    SWARM_DHT_HOST: '127.0.0.1',
    SWARM_WRITERS_POLICY: 'Clients',
    SWARM_MEMBER_SEED_FILE: memberSeedFile,
    SWARM_ENCRYPTION_KEY_FILE: encryptionKeyFile
  }
  const [a, b] = await Promise.all([replica(env), replica(env)])
  await until(async () => (await call(a.app, '/put', { key: 'colour', value: 'blue' })).status === 200, 30000, 'A writable and put')
  const got = await until(async () => { const r = await call(b.app, '/get?key=colour'); return r.status === 200 && r.body }, 15000, 'B reads the key')
  assert.strictEqual(got.value, 'blue')
  const statusA = (await call(a.status, '/status')).body
  assert.strictEqual(got.by, statusA.writerKey)
  for (const r of [a, b]) {
    assert.strictEqual((await call(r.status, '/status')).body.baseKey, baseKey)
    assert.strictEqual((await call(r.status, '/put', { key: 'x', value: 1 })).status, 405)
    const metrics = await fetch(`http://127.0.0.1:${r.status}/metrics`).then((res) => res.text())
    assert.match(metrics, /^swarm_peer_ready\{role="client"\} 1$/m)
    assert.match(metrics, /^swarm_peer_replicated_seconds_count\{role="client"\} 1$/m)
  }
  await until(async () => (await call(b.app, '/del', { key: 'colour' })).status === 200, 30000, 'B writable and del')
  await until(async () => (await call(a.app, '/get?key=colour')).status === 404, 15000, 'A sees the delete')
  assert.deepStrictEqual((await call(a.app, '/keys')).body.keys, [])
  // SIGTERM: A leaves the writer set and exits 0.
  const writers = () => host.base.system.members
  const before = writers()
  a.child.kill('SIGTERM')
  assert.strictEqual(await a.child.exited, 0, a.child.output)
  await until(async () => writers() === before - 1, 15000, 'A removed from the writers')
})
