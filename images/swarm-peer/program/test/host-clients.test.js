'use strict'
// One testnet: a dht-bootstrap node, a host, 10 pinned clients, a rogue host on the same topic.
const test = require('node:test')
const assert = require('node:assert')
const crypto = require('hypercore-crypto')
const { randomBytes } = require('crypto')
const { topicSecrets, startBootstrap, startHost, startClient, tmpdir, seedFile, get, post, waitFor, stopAll, hostStatus } = require('../../test/helpers')
const signed = require('../../lib/signed')

const TOPIC = 'chat-' + Date.now()
let boot, host, status, sec
const clients = []

test.before(async () => {
  boot = await startBootstrap()
  const dir = tmpdir()
  sec = topicSecrets(dir)
  host = await startHost({ topic: TOPIC, bootstrap: boot.address, dataDir: dir + '/data', seed: seedFile(dir), env: sec })
  status = await hostStatus(host.statusPort)
})
test.after(stopAll)

test('host is ready and its signed /status verifies', async () => {
  const { envelope, payload } = status
  assert.ok(crypto.verify(Buffer.from(envelope.payload), Buffer.from(envelope.signature, 'hex'), Buffer.from(envelope.publicKey, 'hex')))
  assert.deepStrictEqual(signed.verify(envelope, envelope.publicKey), payload)
  // a tampered payload does not verify
  assert.strictEqual(signed.verify({ ...envelope, payload: envelope.payload.replace(TOPIC, TOPIC + 'x') }), null)
  assert.strictEqual(payload.topic, TOPIC)
  assert.strictEqual(payload.bootstrapTopicHash, crypto.hash(Buffer.from(TOPIC + ':bootstrap')).toString('hex'))
  assert.strictEqual(payload.discoveryKey, crypto.discoveryKey(Buffer.from(payload.baseKey, 'hex')).toString('hex'))
  assert.match(payload.writerKey, /^[0-9a-f]{64}$/)
  assert.ok(!Number.isNaN(Date.parse(payload.announcedAt)))
  assert.strictEqual(typeof payload.announceSeconds, 'number')
  assert.strictEqual(typeof payload.peers, 'number')
  const m = await get(host.statusPort, '/metrics')
  assert.match(m.text, /swarm_peer_announce_flush_seconds_count\{role="host"\} 1/)
  assert.match(m.text, /swarm_peer_dht_online\{role="host"\} 1/)
})

test('10 pinned clients replicate what the host appended', async () => {
  const r = await post(host.appPort, '/append', { key: 'greeting', value: 'hello' })
  assert.strictEqual(r.status, 200)
  const started = await Promise.all(Array.from({ length: 10 }, () => startClient({
    topic: TOPIC, bootstrap: boot.address, baseKey: status.payload.baseKey, hostPublicKey: status.envelope.publicKey, env: sec
  })))
  clients.push(...started)
  const keys = new Set()
  for (const c of clients) {
    const entries = await waitFor(async () => {
      const l = await get(c.appPort, '/log')
      return l.body && l.body.entries.some((e) => e.key === 'greeting') && l.body.entries
    }, 60000, 'client sees host data', c.child)
    assert.strictEqual(entries[0].type, 'genesis')
    const s = (await get(c.statusPort, '/status')).body
    assert.strictEqual(s.role, 'client')
    assert.strictEqual(s.hostConnected, true)
    assert.strictEqual(s.hostPublicKey, status.envelope.publicKey)
    keys.add(s.baseKey)
  }
  assert.deepStrictEqual([...keys], [status.payload.baseKey])
  const m = await get(clients[0].statusPort, '/metrics')
  assert.match(m.text, /swarm_peer_first_peer_seconds_count\{role="client"\} 1/)
})

test('a client writes once the host added it as a writer; host and other clients see it', async () => {
  const writer = clients[0]
  await waitFor(async () => (await get(writer.statusPort, '/status')).body.writable, 60000, 'client writable', writer.child)
  const r = await post(writer.appPort, '/append', { key: 'from-client', value: 42 })
  assert.strictEqual(r.status, 200)
  for (const peer of [host, clients[1], clients[9]]) {
    await waitFor(async () => {
      const l = await get(peer.appPort, '/log')
      return l.body && l.body.entries.some((e) => e.key === 'from-client' && e.value === 42)
    }, 60000, 'peer sees client write')
  }
})

test('a rogue peer offering another key on the bootstrap topic is ignored', async () => {
  const dir = tmpdir()
  // A real second host (own identity, own base) on the same topic, offering its key to anyone.
  const rogue = await startHost({ topic: TOPIC, bootstrap: boot.address, dataDir: dir + '/data', seed: seedFile(dir), env: { SWARM_WRITERS_POLICY: 'Open' } })
  const rogueStatus = await hostStatus(rogue.statusPort)
  assert.notStrictEqual(rogueStatus.payload.baseKey, status.payload.baseKey)
  const c = await startClient({ topic: TOPIC, bootstrap: boot.address, baseKey: status.payload.baseKey, hostPublicKey: status.envelope.publicKey, env: sec })
  await waitFor(async () => {
    const m = await get(c.statusPort, '/metrics')
    return /swarm_peer_key_offers_ignored_total\{role="client"\} [1-9]/.test(m.text)
  }, 60000, 'ignored offer counted', c.child)
  const s = (await get(c.statusPort, '/status')).body
  assert.strictEqual(s.baseKey, status.payload.baseKey)
  assert.ok(s.offersIgnored >= 1)
  assert.strictEqual(s.hostConnected, true)
  assert.ok(s.viewLength >= 1)
})

test('a client without a key (SWARM_REQUIRE_BOOTSTRAP=false) takes the pinned host offer, not the rogue one', async () => {
  const c = await startClient({
    topic: TOPIC, bootstrap: boot.address, baseKey: '', hostPublicKey: status.envelope.publicKey,
    env: { ...sec, SWARM_REQUIRE_BOOTSTRAP: 'false' }
  })
  const s = (await get(c.statusPort, '/status')).body
  assert.strictEqual(s.baseKey, status.payload.baseKey)
  assert.match(c.child.stdoutText, /base key offered by the pinned host/)
})

test('the status port serves only GET /healthz /readyz /status /metrics; the app API is on the app port', async () => {
  for (const peer of [host, clients[0]]) {
    const post405 = await post(peer.statusPort, '/append', { key: 'x', value: 1 })
    assert.strictEqual(post405.status, 405)
    assert.strictEqual((await get(peer.statusPort, '/log')).status, 404)
    assert.strictEqual((await post(peer.statusPort, '/status', {})).status, 405)
    for (const p of ['/healthz', '/readyz', '/status', '/metrics']) assert.strictEqual((await get(peer.statusPort, p)).status, 200, p)
    assert.strictEqual((await get(peer.appPort, '/log')).status, 200)
  }
})

test('/status?nonce=<64 hex> signs the nonce and the writer policy into the payload', async () => {
  const nonce = randomBytes(32).toString('hex')
  const r = await get(host.statusPort, '/status?nonce=' + nonce)
  const payload = signed.verify(r.body, status.envelope.publicKey)
  assert.ok(payload, 'the report verifies')
  assert.strictEqual(payload.nonce, nonce)
  assert.strictEqual(payload.writersPolicy, 'Clients')
  assert.strictEqual(payload.writable, true)
  assert.strictEqual(payload.encrypted, true)
  assert.strictEqual(JSON.parse((await get(host.statusPort, '/status')).body.payload).nonce, undefined)
  assert.strictEqual((await get(host.statusPort, '/status?nonce=xyz')).status, 400)
})
