'use strict'
// Configuration from the SWARM_* environment. Every problem is a ConfigError whose message is
// one line naming the variable.
const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')

class ConfigError extends Error {}

const HEX64 = /^[0-9a-f]{64}$/

function str (env, name, { required = false, def = '' } = {}) {
  const v = env[name]
  if (v === undefined || v.trim() === '') {
    if (required) throw new ConfigError(`${name} is required but missing or empty`)
    return def
  }
  return v.trim()
}

function int (env, name, def, min, max) {
  const raw = str(env, name)
  if (raw === '') return def
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be an integer, got ${JSON.stringify(raw)}`)
  const n = Number(raw)
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`)
  return n
}

function bool (env, name, def) {
  const raw = str(env, name).toLowerCase()
  if (raw === '') return def
  if (['true', '1', 'yes'].includes(raw)) return true
  if (['false', '0', 'no'].includes(raw)) return false
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(raw)}`)
}

function hex64 (env, name, opts) {
  const v = str(env, name, opts).toLowerCase()
  if (v === '') return null
  if (!HEX64.test(v)) throw new ConfigError(`${name} must be 64 hex characters (32 bytes)`)
  return v
}

function ipv4 (env, name) {
  const v = str(env, name)
  if (v === '') return null
  if (!net.isIPv4(v) || v === '0.0.0.0') throw new ConfigError(`${name} must be an IPv4 address other than 0.0.0.0, got ${JSON.stringify(v)}`)
  return v
}

function bootstrapList (env, name) {
  const raw = str(env, name)
  if (raw === '') return null // null = the public DHT
  const out = []
  for (const part of raw.split(',')) {
    const entry = part.trim()
    if (entry === '') continue
    const m = /^(?:[^@\s]+@)?([A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry)
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw new ConfigError(`${name} must be comma-separated host:port entries, bad entry ${JSON.stringify(entry)}`)
    }
    out.push(entry)
  }
  if (out.length === 0) throw new ConfigError(`${name} has no host:port entry`)
  return out
}

const POLICIES = ['Clients', 'HostOnly', 'Open']

function policy (env, name) {
  const v = str(env, name, { def: 'Clients' })
  const found = POLICIES.find((p) => p.toLowerCase() === v.toLowerCase())
  if (!found) throw new ConfigError(`${name} must be one of ${POLICIES.join(', ')}, got ${JSON.stringify(v)}`)
  return found
}

// A secret file holding 32 bytes as 64 hex. Optional files return null when the variable is unset.
function readSeed (env, name, { required = true, what = 'a 32-byte ed25519 seed' } = {}) {
  const file = str(env, name, { required })
  if (file === '') return null
  return readSeedFile(file, name, what)
}

// `name` is the variable the error names (the file is its value, or derived from it).
function readSeedFile (file, name, what) {
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`${name} names a file that cannot be read: ${file} (${err.code || err.message})`)
  }
  const hex = text.trim().toLowerCase()
  if (!HEX64.test(hex)) throw new ConfigError(`${name} must name a file holding ${what} as 64 hex characters (${file})`)
  return Buffer.from(hex, 'hex')
}

const REPLICAS = [1, 3, 5]

// Host n of the host StatefulSet: SWARM_HOST_ORDINAL (from the pod-index label), SWARM_HOST_REPLICAS
// (N). Ordinal 0 reads SWARM_IDENTITY_SEED_FILE (key `seed`), ordinal n >= 1 the key `seed-<n>`
// in the same directory. SWARM_HOST_SEED_FILE (the `<name>-hosts` Secret) proves a host when it
// asks to be promoted; N > 1 needs it.
function hostSet (env) {
  const ordinal = int(env, 'SWARM_HOST_ORDINAL', 0, 0, 63)
  const raw = str(env, 'SWARM_HOST_REPLICAS')
  const replicas = raw === '' ? 1 : Number(raw)
  if (!REPLICAS.includes(replicas) || !/^\d+$/.test(raw || '1')) {
    throw new ConfigError(`SWARM_HOST_REPLICAS must be 1, 3 or 5, got ${JSON.stringify(raw)}`)
  }
  const identityFile = str(env, 'SWARM_IDENTITY_SEED_FILE', { required: true })
  const seedFile = ordinal === 0 ? identityFile : path.join(path.dirname(identityFile), `seed-${ordinal}`)
  const seed = readSeedFile(seedFile, ordinal === 0 ? 'SWARM_IDENTITY_SEED_FILE' : `SWARM_IDENTITY_SEED_FILE (key seed-${ordinal} of host ${ordinal})`, 'a 32-byte ed25519 seed')
  const hostSeed = readSeed(env, 'SWARM_HOST_SEED_FILE', { required: replicas > 1, what: 'a 32-byte host invite seed' })
  return { ordinal, replicas, seed, hostSeed }
}

function common (env) {
  return {
    statusPort: int(env, 'SWARM_STATUS_PORT', 8080, 0, 65535),
    bootstrap: bootstrapList(env, 'SWARM_DHT_BOOTSTRAP'),
    dhtHost: ipv4(env, 'SWARM_DHT_HOST')
  }
}

// What host and members share: the topic, the writer policy and the two topic secrets.
function member (env) {
  return {
    topic: str(env, 'SWARM_TOPIC', { required: true }),
    writersPolicy: policy(env, 'SWARM_WRITERS_POLICY'),
    memberSeed: readSeed(env, 'SWARM_MEMBER_SEED_FILE', { required: false, what: 'a 32-byte membership seed' }),
    encryptionKey: readSeed(env, 'SWARM_ENCRYPTION_KEY_FILE', { required: false, what: 'a 32-byte encryption key' }),
    appPort: int(env, 'SWARM_APP_PORT', 8081, 0, 65535),
    appHost: str(env, 'SWARM_APP_HOST', { def: '127.0.0.1' })
  }
}

function host (env = process.env) {
  const dataDir = str(env, 'SWARM_DATA_DIR', { required: true })
  const h = {
    role: 'host',
    ...common(env),
    ...member(env),
    dataDir: path.resolve(dataDir),
    ...hostSet(env),
    baseKey: hex64(env, 'SWARM_BASE_KEY'),
    watchdogIntervalMs: int(env, 'SWARM_WATCHDOG_INTERVAL_MS', 30000, 100, 3600000),
    acceptWriters: bool(env, 'SWARM_ACCEPT_WRITERS', true),
    writerIdleMs: int(env, 'SWARM_WRITER_IDLE_MS', 900000, 1000, 604800000),
    pairingPollMs: int(env, 'SWARM_PAIRING_POLL_MS', 30000, 1000, 3600000),
    ackIntervalMs: int(env, 'SWARM_ACK_INTERVAL_MS', 1000, 100, 600000),
    // Restore mode: a host on an empty disk takes back its ordinal's old writer key (lib/host-restore.js).
    restore: bool(env, 'SWARM_RESTORE', false)
  }
  if (h.ordinal > 0 && !h.baseKey) {
    throw new ConfigError(`SWARM_BASE_KEY is required for host ${h.ordinal}: only host 0 creates the base, the others rejoin it`)
  }
  if (h.restore && !h.baseKey) {
    throw new ConfigError('SWARM_BASE_KEY is required when SWARM_RESTORE is true: a restore rejoins the recorded base, it never creates one')
  }
  return h
}

function client (env = process.env) {
  const c = {
    role: 'client',
    ...common(env),
    ...member(env),
    requireBootstrap: bool(env, 'SWARM_REQUIRE_BOOTSTRAP', false),
    baseKey: hex64(env, 'SWARM_BASE_KEY'),
    hostPublicKey: hex64(env, 'SWARM_HOST_PUBLIC_KEY'),
    requestWriter: bool(env, 'SWARM_REQUEST_WRITER', true),
    offerTimeoutMs: int(env, 'SWARM_OFFER_TIMEOUT_MS', 0, 0, 86400000)
  }
  const dataDir = str(env, 'SWARM_DATA_DIR')
  c.dataDir = dataDir ? path.resolve(dataDir) : null
  c.ephemeralDataDir = !dataDir
  if (c.requireBootstrap && !c.baseKey) {
    throw new ConfigError('SWARM_BASE_KEY is required when SWARM_REQUIRE_BOOTSTRAP=true (a client never creates a base)')
  }
  if (!c.baseKey && !c.hostPublicKey) {
    throw new ConfigError('SWARM_HOST_PUBLIC_KEY is required when SWARM_BASE_KEY is not set (the key offer must come from the pinned host)')
  }
  if (!c.dataDir) c.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-peer-client-'))
  return c
}

function dhtBootstrap (argv, env = process.env) {
  let hostArg = null
  let portArg = null
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--host') hostArg = argv[++i]
    else if (a.startsWith('--host=')) hostArg = a.slice(7)
    else if (a === '--port') portArg = argv[++i]
    else if (a.startsWith('--port=')) portArg = a.slice(7)
    else throw new ConfigError(`unknown argument ${JSON.stringify(a)} (dht-bootstrap takes --host <IPv4> and --port <n>)`)
  }
  const e = { ...env }
  if (hostArg !== null && hostArg !== undefined) e.SWARM_DHT_HOST = hostArg
  if (portArg !== null && portArg !== undefined) e.SWARM_DHT_PORT = portArg
  const h = ipv4(e, 'SWARM_DHT_HOST')
  if (!h) throw new ConfigError('SWARM_DHT_HOST (or --host <IPv4>) is required for dht-bootstrap')
  return {
    role: 'dht-bootstrap',
    statusPort: int(env, 'SWARM_STATUS_PORT', 8080, 0, 65535),
    dhtHost: h,
    dhtPort: int(e, 'SWARM_DHT_PORT', 49737, 1, 65535)
  }
}

module.exports = { ConfigError, host, client, dhtBootstrap, HEX64 }
