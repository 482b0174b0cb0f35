'use strict'
// Which base the host opens: the one on its disk (reopen), else SWARM_BASE_KEY (rejoin: a new,
// non-writable local writer), else a new one (create: host 0 only). <dataDir>/swarm-peer.json records it,
// with `encrypted`: an encryption key is used only for a base created with it (autobase cannot
// encrypt an existing base: trying bricks the store).
const fs = require('fs')
const path = require('path')
const Autobase = require('autobase')
const { KEY_FILE, READER_DIR } = require('./host-store')

class FatalError extends Error {}

const STATE_FILE = 'swarm-peer.json'

function readState (dataDir) {
  const file = path.join(dataDir, STATE_FILE)
  if (!fs.existsSync(file)) return null
  const s = JSON.parse(fs.readFileSync(file, 'utf8'))
  if (!s || !/^[0-9a-f]{64}$/.test(s.baseKey)) throw new FatalError(`${file} is corrupt: no baseKey`)
  return s
}

// Whether the disk holds a base (its state file): a restore runs on an empty disk only.
function hasBase (dataDir) {
  return fs.existsSync(path.join(dataDir, STATE_FILE))
}

function writeState (dataDir, state) {
  const file = path.join(dataDir, STATE_FILE)
  const tmp = file + '.tmp'
  const fd = fs.openSync(tmp, 'w')
  fs.writeSync(fd, JSON.stringify(state) + '\n')
  fs.fsyncSync(fd)
  fs.closeSync(fd)
  fs.renameSync(tmp, file)
}

function selectBase (dataDir, baseKey, ordinal) {
  const state = readState(dataDir)
  if (state) {
    if (baseKey && baseKey !== state.baseKey) {
      throw new FatalError(`SWARM_BASE_KEY ${baseKey} differs from the base on disk ${state.baseKey} in ${dataDir}; refusing to start`)
    }
    return { state, key: state.baseKey, mode: 'reopen' }
  }
  if (!baseKey && ordinal > 0) throw new FatalError(`host ${ordinal} has no base on its disk and no SWARM_BASE_KEY: only host 0 creates the base`)
  return { state: null, key: baseKey, mode: baseKey ? 'rejoin' : 'create' }
}

// A host whose writer key was replaced starts over: its store (and the nonce of its key), state
// and a restore's leftovers go, the identity stays.
function wipeStore (dataDir) {
  for (const name of ['corestore', KEY_FILE, KEY_FILE + '.tmp', STATE_FILE, STATE_FILE + '.tmp', 'writers.json', 'writers.json.tmp', READER_DIR]) {
    fs.rmSync(path.join(dataDir, name), { recursive: true, force: true })
  }
}

// Returns {base, mode, encrypted}. `opts` are the Autobase options (lib/base-options.js);
// `genesis(topic)` the app's first entry of a new base.
async function openHostBase (store, { dataDir, baseKey, topic, opts, genesis, log, ordinal = 0 }) {
  const { state, key, mode } = selectBase(dataDir, baseKey, ordinal)
  const o = { ...opts }
  // A base on disk created without encryption stays unencrypted (old state files have no field).
  if (state && !state.encrypted && o.encryptionKey) {
    log.warn('the base on disk is not encrypted; the encryption key is not used for it')
    delete o.encryptionKey
  }
  const base = new Autobase(store, key ? Buffer.from(key, 'hex') : null, o)
  await base.ready()
  const encrypted = !!o.encryptionKey
  if (!state) writeState(dataDir, { baseKey: base.key.toString('hex'), topic, createdAt: new Date().toISOString(), mode, encrypted })
  // The first entry of a new base (its `genesis`, if the app has one) lets clients see that
  // they replicated something.
  if (mode === 'create' && genesis && base.writable && base.length === 0) await base.append(genesis(topic))
  return { base, mode, encrypted }
}

module.exports = { openHostBase, wipeStore, hasBase, FatalError, STATE_FILE }
