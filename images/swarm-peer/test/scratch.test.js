'use strict'
// The tests' scratch directories (the peers' stores: tens of MB each) go when their process exits;
// SWARM_KEEP_TEST_DIRS=1 keeps them to look at.
const test = require('node:test')
const assert = require('node:assert')
const fs = require('fs')
const path = require('path')
const { spawnSync } = require('child_process')

const make = "const fs = require('fs'); const d = require('./helpers').tmpdir(); " +
  "fs.writeFileSync(d + '/store', 'x'); process.stdout.write(d)"

function scratch (env) {
  const r = spawnSync(process.execPath, ['-e', make], { cwd: __dirname, env: { ...process.env, ...env }, encoding: 'utf8' })
  assert.strictEqual(r.status, 0, r.stderr)
  return r.stdout
}

test('a test process removes its scratch directories when it exits', () => {
  const dir = scratch({ SWARM_KEEP_TEST_DIRS: '' })
  assert.ok(dir.startsWith(path.join(require('os').tmpdir(), 'swarm-peer-test-')), dir)
  assert.strictEqual(fs.existsSync(dir), false, `${dir} was left behind`)
})

test('SWARM_KEEP_TEST_DIRS=1 keeps them', () => {
  const dir = scratch({ SWARM_KEEP_TEST_DIRS: '1' })
  assert.ok(fs.existsSync(path.join(dir, 'store')))
  fs.rmSync(dir, { recursive: true, force: true })
})
