'use strict'
// Test helpers: real swarm-peer child processes on a loopback DHT testnet (the program's tests, the
// benchmarks), and temporary directories.
const { spawn } = require('child_process')
const crypto = require('crypto')
const dgram = require('dgram')
const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')

// The reference peer program (program/), run as child processes.
const BIN = path.join(__dirname, '..', 'program', 'bin', 'swarm-peer.js')
const children = new Set()

function freeTcpPort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

function freeUdpPort () {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4')
    s.once('error', reject)
    s.bind(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

// A test's bound (node:test's `timeout`): four times `seconds`, the test's measured normal
// duration (npm test on a 2-core machine), and never under a minute, so that a hang fails within
// minutes with the test's name and the file goes on. The file as a whole is bounded by
// --test-timeout in package.json (the backstop when a loop starves the timers).
function normally (seconds) {
  return { timeout: Math.max(60, 4 * seconds) * 1000 }
}

// Every scratch directory a test file makes is removed when its process exits (the stores of the
// peers it ran: tens of MB each); SWARM_KEEP_TEST_DIRS=1 keeps them to look at.
const made = []
process.once('exit', () => {
  if (process.env.SWARM_KEEP_TEST_DIRS === '1') return
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

function tmpdir (prefix = 'swarm-peer-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  made.push(dir)
  return dir
}

function seedFile (dir) {
  const file = path.join(dir, 'seed')
  fs.writeFileSync(file, crypto.randomBytes(32).toString('hex') + '\n')
  return file
}

function spawnPeer (args, env = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  children.add(child)
  child.stdoutText = ''
  child.stderrText = ''
  child.stdout.on('data', (d) => { child.stdoutText += d })
  child.stderr.on('data', (d) => { child.stderrText += d })
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => { children.delete(child); resolve({ code, signal }) }))
  return child
}

async function startBootstrap (udpPort = null) {
  const port = udpPort || await freeUdpPort()
  const statusPort = await freeTcpPort()
  const child = spawnPeer(['dht-bootstrap', '--host', '127.0.0.1', '--port', String(port)], { SWARM_STATUS_PORT: String(statusPort) })
  await waitFor(async () => (await get(statusPort, '/readyz')).status === 200, 30000, 'dht-bootstrap ready', child)
  return { child, port, statusPort, address: `127.0.0.1:${port}` }
}

// The topic's member seed and encryption key files (what the operator's Secrets hold).
function topicSecrets (dir) {
  const member = path.join(dir, 'invite-seed')
  const key = path.join(dir, 'encryption-key')
  if (!fs.existsSync(member)) fs.writeFileSync(member, crypto.randomBytes(32).toString('hex'))
  if (!fs.existsSync(key)) fs.writeFileSync(key, crypto.randomBytes(32).toString('hex'))
  return { SWARM_MEMBER_SEED_FILE: member, SWARM_ENCRYPTION_KEY_FILE: key }
}

async function startHost ({ topic, bootstrap, dataDir, seed, env = {}, waitReady = true }) {
  const statusPort = await freeTcpPort()
  const appPort = await freeTcpPort()
  const child = spawnPeer(['host'], {
    SWARM_TOPIC: topic,
    SWARM_DATA_DIR: dataDir,
    SWARM_IDENTITY_SEED_FILE: seed,
    SWARM_DHT_BOOTSTRAP: bootstrap,
    SWARM_DHT_HOST: '127.0.0.1',
    SWARM_STATUS_PORT: String(statusPort),
    SWARM_APP_PORT: String(appPort),
    ...env
  })
  const h = { child, statusPort, appPort }
  if (waitReady) await waitFor(async () => (await get(statusPort, '/readyz')).status === 200, 60000, 'host ready', child)
  return h
}

async function startClient ({ topic, bootstrap, baseKey, hostPublicKey, dataDir, env = {}, waitReady = true }) {
  const statusPort = await freeTcpPort()
  const appPort = await freeTcpPort()
  const child = spawnPeer(['client'], {
    SWARM_TOPIC: topic,
    SWARM_BASE_KEY: baseKey,
    SWARM_HOST_PUBLIC_KEY: hostPublicKey,
    SWARM_REQUIRE_BOOTSTRAP: 'true',
    SWARM_DHT_BOOTSTRAP: bootstrap,
    SWARM_DHT_HOST: '127.0.0.1',
    SWARM_STATUS_PORT: String(statusPort),
    SWARM_APP_PORT: String(appPort),
    ...(dataDir ? { SWARM_DATA_DIR: dataDir } : {}),
    ...env
  })
  const c = { child, statusPort, appPort }
  if (waitReady) await waitFor(async () => (await get(statusPort, '/readyz')).status === 200, 90000, 'client ready', child)
  return c
}

async function get (port, p) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(10000) })
    const text = await res.text()
    let body = null
    try { body = JSON.parse(text) } catch {}
    return { status: res.status, text, body }
  } catch (err) {
    return { status: 0, text: '', body: null, error: err }
  }
}

async function post (port, p, obj) {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { method: 'POST', body: JSON.stringify(obj), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10000) })
  const text = await res.text()
  let body = null
  try { body = JSON.parse(text) } catch {}
  return { status: res.status, body }
}

// Bounded wait: polls `fn` until it returns truthy; fails with the child's output on timeout.
async function waitFor (fn, timeoutMs, what, child = null) {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (child && child.exitCode !== null) throw new Error(`${what}: process exited ${child.exitCode}\n${child.stderrText}\n${child.stdoutText.slice(-3000)}`)
    const v = await fn()
    if (v) return v
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`timed out waiting for ${what}` + (child ? `\n${child.stdoutText.slice(-3000)}\n${child.stderrText}` : ''))
}

async function stop (child, signal = 'SIGTERM') {
  if (!child || child.exitCode !== null || child.signalCode !== null) return child ? child.exited : null
  child.kill(signal)
  const t = setTimeout(() => child.kill('SIGKILL'), 25000)
  const r = await child.exited
  clearTimeout(t)
  return r
}

async function stopAll () {
  await Promise.all([...children].map((c) => stop(c)))
}

async function hostStatus (port) {
  const r = await get(port, '/status')
  if (r.status !== 200) throw new Error('host /status ' + r.status + ' ' + r.text)
  return { envelope: r.body, payload: JSON.parse(r.body.payload) }
}

module.exports = { normally, BIN, topicSecrets, freeTcpPort, freeUdpPort, tmpdir, seedFile, spawnPeer, startBootstrap, startHost, startClient, get, post, waitFor, stop, stopAll, hostStatus }
