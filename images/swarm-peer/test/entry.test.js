'use strict'
// The library is a library (issue 20): its entry exports classes only, and neither loading it
// nor running a Host and a Member brings in a metrics library or an HTTP server; nothing in it
// ends the process or handles its signals. Checked in a fresh process, which records every
// module it loads.
const test = require('node:test')
const assert = require('node:assert')
const fs = require('fs')
const path = require('path')
const { execFileSync } = require('child_process')

const ROOT = path.join(__dirname, '..')

// Runs in a child: records every require (builtins included), loads the entry, then (with
// `run`) opens a Host and a Member on a loopback testnet and closes them.
const PROBE = `
const Module = require('module')
const requested = new Set()
const load = Module._load
Module._load = function (request, ...rest) { requested.add(request.replace(/^node:/, '')); return load.call(this, request, ...rest) }
const lib = require(process.argv[1])
const report = () => ({
  requested: [...requested],
  cached: Object.keys(require.cache),
  exports: Object.fromEntries(Object.entries(lib).map(([k, v]) => [k, typeof v === 'function' && /^class\\b/.test(Function.prototype.toString.call(v))]))
})
async function run () {
  const crypto = require('crypto')
  const os = require('os')
  const createTestnet = require('hyperdht/testnet')
  const net = await createTestnet(3, { host: '127.0.0.1' })
  const bootstrap = net.bootstrap.map((b) => b.host + ':' + b.port)
  const dir = require('fs').mkdtempSync(require('path').join(os.tmpdir(), 'entry-test-'))
  const topic = 'entry-' + Date.now()
  const memberSeed = crypto.randomBytes(32)
  const host = new lib.Host({ topic, bootstrap, dhtHost: '127.0.0.1', dataDir: dir + '/host', seed: crypto.randomBytes(32), memberSeed })
  await host.ready()
  const member = new lib.Member({ topic, bootstrap, dhtHost: '127.0.0.1', baseKey: host.base.key.toString('hex'), hostPublicKey: host.keyPair.publicKey.toString('hex'), memberSeed })
  await member.ready()
  const ready = { host: host.readiness().ready, memberOpened: member.opened }
  await member.close()
  await host.close()
  await net.destroy()
  return ready
}
;(process.argv[2] === 'run' ? run() : Promise.resolve(null)).then((ran) => {
  process.stdout.write(JSON.stringify({ ...report(), ran }))
})
`

function probe (...args) {
  const out = execFileSync(process.execPath, ['-e', PROBE, ROOT, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120000 })
  return JSON.parse(out)
}

const HTTP = ['http', 'https', 'http2']
const fromPackage = (name) => (file) => file.split(path.sep).join('/').includes(`/node_modules/${name}/`)

function assertNoServerNoMetrics (r) {
  assert.deepStrictEqual(HTTP.filter((m) => r.requested.includes(m)), [], 'an HTTP module was loaded')
  assert.deepStrictEqual(r.cached.filter(fromPackage('prom-client')), [], 'prom-client was loaded')
  assert.deepStrictEqual(r.requested.filter((m) => /prom-client/.test(m)), [])
}

test('the entry exports classes only', () => {
  const r = probe()
  assert.deepStrictEqual(Object.keys(r.exports).sort(), ['ConfigError', 'DhtNode', 'Host', 'Member', 'Stats'])
  for (const [name, isClass] of Object.entries(r.exports)) assert.ok(isClass, `${name} is not a class`)
})

test('loading the entry loads neither prom-client nor an HTTP module', () => {
  const r = probe()
  // The probe sees what is loaded: the library's own modules are in the cache.
  assert.ok(r.cached.some((f) => f.endsWith(path.join('lib', 'member.js'))), 'the probe recorded nothing')
  assertNoServerNoMetrics(r)
})

test('a Host and a Member, opened and closed, load neither either', async () => {
  const r = probe('run')
  assert.deepStrictEqual(r.ran, { host: true, memberOpened: true })
  assertNoServerNoMetrics(r)
})

test('the library never exits the process nor handles its signals', () => {
  const sources = ['index.js', ...fs.readdirSync(path.join(ROOT, 'lib')).map((f) => path.join('lib', f))]
  const found = []
  for (const file of sources) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8')
    for (const pattern of [/process\.exit\b/, /process\.(on|once)\(\s*['"]SIG/]) {
      if (pattern.test(text)) found.push(`${file}: ${pattern}`)
    }
  }
  assert.deepStrictEqual(found, [])
})
