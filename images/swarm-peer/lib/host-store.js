'use strict'
// The host's Corestore and the primary key it is made with (the key of every core the store
// makes by name, so of the host's writer core: autobase's 'local').
//
// A store made on an empty disk gets a primary key derived from the host's identity seed (the
// seed of its ordinal) and a nonce drawn for that disk:
//   primaryKey = BLAKE2b-256(seed || "swarm-corestore" || nonce)      (seed and nonce 32 bytes)
// Every fresh disk draws a new nonce, so it has a new writer key, as with a random key; but a
// lost disk's key can be made again from the seed and its nonce, which is public: the base's
// host-slot record for the ordinal keeps it (lib/host-slots.js). Only a restore
// (lib/host-restore.js) ever passes a nonce it did not draw.
//
// <dataDir>/corestore-key.json {nonce, ordinal, restoring} is written (fsync + rename) before the
// store exists. `restoring: true` marks a store opened with a restored key whose writer core has
// not passed the restore's gate: such a store is never opened again as it is (a start without
// the gate could append to a writer core peers hold longer: a fork); it is wiped and the disk
// treated as empty. An existing store is opened as it is (corestore keeps its primary key): a
// store made before derived keys has a random one and keeps working; it has no nonce.
const fs = require('fs')
const path = require('path')
const Corestore = require('corestore')
const crypto = require('hypercore-crypto')

const STORE_DIR = 'corestore'
const KEY_FILE = 'corestore-key.json'
const READER_DIR = 'restore-reader' // a restore's throwaway reader store (lib/host-restore.js)
const LABEL = Buffer.from('swarm-corestore')
const HEX64 = /^[0-9a-f]{64}$/

function derivePrimaryKey (seed, nonce) {
  if (!Buffer.isBuffer(seed) || seed.length !== 32) throw new Error('identity seed must be 32 bytes')
  if (!Buffer.isBuffer(nonce) || nonce.length !== 32) throw new Error('store nonce must be 32 bytes')
  return crypto.hash([seed, LABEL, nonce])
}

function readKeyFile (dataDir) {
  const file = path.join(dataDir, KEY_FILE)
  if (!fs.existsSync(file)) return null
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8'))
    return r && HEX64.test(r.nonce) ? r : null
  } catch {
    return null
  }
}

function writeKeyFile (dataDir, record) {
  const file = path.join(dataDir, KEY_FILE)
  const tmp = file + '.tmp'
  const fd = fs.openSync(tmp, 'w')
  fs.writeSync(fd, JSON.stringify(record) + '\n')
  fs.fsyncSync(fd)
  fs.closeSync(fd)
  fs.renameSync(tmp, file)
}

function hasStore (dataDir) {
  return fs.existsSync(path.join(dataDir, STORE_DIR))
}

// A store opened with a restored key that never passed the gate (see above).
function halfRestored (dataDir) {
  const r = readKeyFile(dataDir)
  return !!r && r.restoring === true && hasStore(dataDir)
}

// The restore's gate passed and the base opened: the store is this host's as any other.
function restoreDone (dataDir) {
  const r = readKeyFile(dataDir)
  if (r && r.restoring) writeKeyFile(dataDir, { ...r, restoring: false })
}

function removeStore (dataDir) {
  for (const name of [STORE_DIR, KEY_FILE, KEY_FILE + '.tmp']) fs.rmSync(path.join(dataDir, name), { recursive: true, force: true })
}

// Returns {store, nonce (hex, or null for a store made before derived keys), fresh}. `nonce`
// (hex) is given by a restore only, with `restoring: true`.
async function openHostStore (dataDir, { seed, ordinal, nonce = null, restoring = false }) {
  const dir = path.join(dataDir, STORE_DIR)
  if (!hasStore(dataDir)) {
    const n = nonce || crypto.randomBytes(32).toString('hex')
    writeKeyFile(dataDir, { nonce: n, ordinal, restoring, createdAt: new Date().toISOString() })
    const store = new Corestore(dir, { primaryKey: derivePrimaryKey(seed, Buffer.from(n, 'hex')), unsafe: true })
    await store.ready()
    return { store, nonce: n, fresh: true }
  }
  if (nonce) throw new Error('a restore needs an empty disk') // (the host checks before)
  const store = new Corestore(dir)
  await store.ready()
  const r = readKeyFile(dataDir)
  const derived = r && store.primaryKey.equals(derivePrimaryKey(seed, Buffer.from(r.nonce, 'hex')))
  return { store, nonce: derived ? r.nonce : null, fresh: false }
}

module.exports = { openHostStore, derivePrimaryKey, halfRestored, restoreDone, removeStore, readKeyFile, hasStore, KEY_FILE, STORE_DIR, READER_DIR }
