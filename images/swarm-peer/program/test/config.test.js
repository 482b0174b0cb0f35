'use strict'
const test = require('node:test')
const assert = require('node:assert')
const crypto = require('crypto')
const fs = require('fs')
const path = require('path')
const { spawnPeer, tmpdir, seedFile, stopAll } = require('../../test/helpers')

test.after(stopAll)

async function run (args, env) {
  const child = spawnPeer(args, env)
  const r = await child.exited
  return { code: r.code, stderr: child.stderrText, stdout: child.stdoutText }
}

function oneLine (stderr) {
  const lines = stderr.trim().split('\n')
  assert.strictEqual(lines.length, 1, `expected one stderr line, got: ${stderr}`)
  return lines[0]
}

test('client without a base key and SWARM_REQUIRE_BOOTSTRAP=true exits with a clear error', async () => {
  const r = await run(['client'], { SWARM_TOPIC: 't', SWARM_REQUIRE_BOOTSTRAP: 'true', SWARM_HOST_PUBLIC_KEY: 'ab'.repeat(32), SWARM_DHT_BOOTSTRAP: '127.0.0.1:1' })
  assert.notStrictEqual(r.code, 0)
  const line = oneLine(r.stderr)
  assert.match(line, /SWARM_BASE_KEY is required when SWARM_REQUIRE_BOOTSTRAP=true/)
})

test('bad values exit non-zero with one line naming the variable', async () => {
  const dir = tmpdir()
  const seed = seedFile(dir)
  const good = { SWARM_TOPIC: 't', SWARM_DATA_DIR: dir, SWARM_IDENTITY_SEED_FILE: seed, SWARM_DHT_BOOTSTRAP: '127.0.0.1:1' }
  const cases = [
    [{ SWARM_STATUS_PORT: 'eighty' }, 'SWARM_STATUS_PORT'],
    [{ SWARM_STATUS_PORT: '70000' }, 'SWARM_STATUS_PORT'],
    [{ SWARM_TOPIC: '' }, 'SWARM_TOPIC'],
    [{ SWARM_BASE_KEY: 'xyz' }, 'SWARM_BASE_KEY'],
    [{ SWARM_DHT_BOOTSTRAP: 'no-port-here' }, 'SWARM_DHT_BOOTSTRAP'],
    [{ SWARM_DHT_HOST: '999.1.1.1' }, 'SWARM_DHT_HOST'],
    [{ SWARM_IDENTITY_SEED_FILE: dir + '/missing' }, 'SWARM_IDENTITY_SEED_FILE'],
    [{ SWARM_WATCHDOG_INTERVAL_MS: '-5' }, 'SWARM_WATCHDOG_INTERVAL_MS']
  ]
  for (const [bad, name] of cases) {
    const r = await run(['host'], { ...good, ...bad })
    assert.strictEqual(r.code, 1, `${name}: ${r.stderr}`)
    assert.ok(oneLine(r.stderr).includes(name), `${name} not named in: ${r.stderr}`)
  }
  const r = await run(['dht-bootstrap'], {})
  assert.strictEqual(r.code, 1)
  assert.match(oneLine(r.stderr), /SWARM_DHT_HOST/)
})

test('several hosts: SWARM_HOST_REPLICAS, SWARM_HOST_ORDINAL, seed-<n> and SWARM_HOST_SEED_FILE are checked with one line naming the variable', async () => {
  const dir = tmpdir()
  const seed = seedFile(dir)
  const hostSeed = path.join(dir, 'host-invite-seed')
  fs.writeFileSync(hostSeed, crypto.randomBytes(32).toString('hex'))
  const good = { SWARM_TOPIC: 't', SWARM_DATA_DIR: dir + '/data', SWARM_IDENTITY_SEED_FILE: seed, SWARM_DHT_BOOTSTRAP: '127.0.0.1:1', SWARM_HOST_SEED_FILE: hostSeed, SWARM_HOST_REPLICAS: '3' }
  const cases = [
    [{ SWARM_HOST_REPLICAS: '2' }, /SWARM_HOST_REPLICAS must be 1, 3 or 5, got "2"/],
    [{ SWARM_HOST_REPLICAS: 'three' }, /SWARM_HOST_REPLICAS must be 1, 3 or 5/],
    [{ SWARM_HOST_ORDINAL: '-1' }, /SWARM_HOST_ORDINAL must be an integer/],
    [{ SWARM_HOST_SEED_FILE: '' }, /SWARM_HOST_SEED_FILE is required/],
    [{ SWARM_HOST_ORDINAL: '1', SWARM_BASE_KEY: 'ab'.repeat(32) }, /SWARM_IDENTITY_SEED_FILE \(key seed-1 of host 1\) names a file that cannot be read: .*seed-1/],
    [{ SWARM_HOST_ORDINAL: '2' }, /SWARM_BASE_KEY is required for host 2: only host 0 creates the base/],
    [{ SWARM_RESTORE: 'maybe' }, /SWARM_RESTORE must be true or false, got "maybe"/],
    [{ SWARM_RESTORE: 'true' }, /SWARM_BASE_KEY is required when SWARM_RESTORE is true: a restore rejoins the recorded base/]
  ]
  fs.writeFileSync(path.join(dir, 'seed-2'), crypto.randomBytes(32).toString('hex'))
  for (const [bad, want] of cases) {
    const r = await run(['host'], { ...good, ...bad })
    assert.strictEqual(r.code, 1, `${want}: ${r.stderr}`)
    assert.match(oneLine(r.stderr), want)
  }
})

test('unknown role prints usage and exits 2', async () => {
  const r = await run(['bogus'], {})
  assert.strictEqual(r.code, 2)
  assert.match(r.stderr, /usage: swarm-peer host\|client\|dht-bootstrap/)
})
