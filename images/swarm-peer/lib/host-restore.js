'use strict'
// Restore mode (SWARM_RESTORE): a host on an empty disk takes back the writer key its ordinal
// had, so that it is the same indexer of the base again, with no membership entry. For a base
// whose every host disk was lost (a namespace restored from a backup): no live indexer is left
// to promote a new key, but the hosts' identity seeds are in the backup and a member outside
// still holds the base. The steps, before anything is appended:
//   1. find  catch up as a plain reader (a throwaway store, lib/member.js) from any member and
//            read this ordinal's host slot {key, nonce} once the slots view has settled, and the
//            longest copy of that key's writer core the member has (the target length)
//   2. open  make the store on the empty disk with the primary key derived from the seed and
//            the slot's nonce (lib/host-store.js) and check that it gives the slot's key
//   3. gate  (the host replicates the store meanwhile) pull that writer core back from peers:
//            update({wait, force}) until it is as long as the target, then hypercore's
//            recover() (>= 1 peer, and for 8 s no peer with a longer copy; it throws when the
//            length moved meanwhile: then again), then download every block
// Only then does the host open Autobase on that store. A writer core appended to before it is
// back forks (the key is burnt, and peers that saw both copies stall): the gate is what makes
// reusing a key safe (shared/notes and the spike's indexer-recovery-facts.md, F1/F2).
// Every read of the reader's base (the slots view, the system's writer record) is bounded
// (readTimeoutMs): a block that no peer sends in time (the member that held it went away, or
// autobase swapped the core while it reorganised) is "not yet": the slots settle again and the
// read is made again, never a wait for ever on one peer.
// Without a slot for the ordinal, with a slot made before derived keys (no nonce), with a key
// that was removed, or a derived key that does not match, find/open return null with `why`
// and the host starts as without restore mode (a new nonce, a new key).
const fs = require('fs')
const path = require('path')
const Autobase = require('autobase')
const quiet = require('./quiet-log')
const Member = require('./member')
const { withTimeout } = require('./swarm')
const { readSlotRecords, slotsCore } = require('./host-slots')
const { openHostStore, removeStore, READER_DIR } = require('./host-store')

class Aborted extends Error {}

// Errors of a read that may succeed when made again (on the current view, from another peer).
const TRANSIENT = new Set(['REQUEST_TIMEOUT', 'REQUEST_CANCELLED', 'SESSION_CLOSED', 'SNAPSHOT_NOT_AVAILABLE'])
const AGAIN = Symbol('read again')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

class HostRestore {
  // opts: the host's options (lib/config.js: dataDir, seed, ordinal, topic, bootstrap, dhtHost,
  // encryptionKey, app); settleMs: how long the reader's slots view must stay unchanged;
  // readTimeoutMs: the bound of one read of the reader's base
  constructor ({ opts, baseKey, log = quiet, settleMs = 5000, pollMs = 250, readTimeoutMs = 10000 }) {
    this.opts = opts
    this.baseKey = baseKey
    this.ordinal = opts.ordinal || 0
    this.log = log
    this.settleMs = settleMs
    this.pollMs = pollMs
    this.readTimeoutMs = readTimeoutMs
    this.retries = 0 // reads that timed out or failed and were made again
    this.reason = 'restoring: waiting for a member that holds the base'
    this.reader = null
    this.store = null
    this.aborted = false
    this.t0 = Date.now()
    this.result = { restored: false, why: null, writerKey: null, length: null, target: null, findMs: null, gateMs: null, at: null }
  }

  abort () {
    this.aborted = true
    if (this.reader) this.reader.close().catch(() => {})
    if (this.store) this.store.close().catch(() => {})
  }

  _check () {
    if (this.aborted) throw new Aborted('restore aborted: the host is closing')
  }

  _fail (why) {
    this.result.why = why
    this.result.at = new Date().toISOString()
    return null
  }

  // 1. {key, nonce, target} of this ordinal's slot, or null (result.why says why).
  async find () {
    const dir = path.join(this.opts.dataDir, READER_DIR)
    fs.rmSync(dir, { recursive: true, force: true })
    const o = this.opts
    this.reader = new Member({
      topic: o.topic, bootstrap: o.bootstrap, dhtHost: o.dhtHost, dataDir: dir, ephemeralDataDir: true, baseKey: this.baseKey,
      hostPublicKey: null, requireBootstrap: true, memberSeed: null, encryptionKey: o.encryptionKey, writersPolicy: o.writersPolicy,
      requestWriter: false, app: o.app, log: quiet
    })
    try {
      await this.reader.ready()
      for (;;) {
        const records = await this._settled()
        const slot = await this._slot(records)
        if (slot === AGAIN) continue
        this.result.findMs = Date.now() - this.t0
        return slot
      }
    } finally {
      const reader = this.reader
      this.reader = null
      await reader.close().catch(() => {})
    }
  }

  // The slots as the reader has them once it replicates the base from a member, no peer has a
  // longer system core than the reader, and its slots view has not changed for settleMs. Only
  // membership entries change that view: members' writes (and their confirmation, when
  // indexers run) do not keep it from settling.
  async _settled () {
    let mark = null
    let since = 0
    for (;;) {
      this._check()
      const b = this.reader.base
      if (!this._caughtUp(b)) {
        mark = null
        await sleep(this.pollMs)
        continue
      }
      await withTimeout(b.update(), 5000, null).catch(() => {})
      const slots = slotsCore(b.view)
      const now = slots ? `${slots.length}/${slots.signedLength}` : null
      if (now !== mark) {
        mark = now
        since = Date.now()
      } else if (now !== null && Date.now() - since >= this.settleMs) {
        const records = await this._read(() => readSlotRecords(slots, { timeout: this.readTimeoutMs }), 'the host slots')
        if (records !== AGAIN) return records
        mark = null
      }
      await sleep(this.pollMs)
    }
  }

  // Connected to a member that holds the base, and none of the peers has more of its system
  // core (its signed state) than the reader.
  _caughtUp (b) {
    if (this.reader.membersConnected() === 0 || !b.system || !b.core || b.length === 0) return false
    this.reason = 'restoring: reading the base from a member'
    const peers = b.core.peers || []
    return peers.every((p) => p.remoteLength <= b.core.length)
  }

  async _slot (records) {
    const n = this.ordinal
    const rec = records.get(n)
    if (!rec) return this._fail(`the base has no host slot for ordinal ${n}`)
    if (!rec.nonce) return this._fail(`host slot ${n} holds ${rec.key.slice(0, 16)} with no nonce: a key made before restorable keys`)
    const key = Buffer.from(rec.key, 'hex')
    const info = await this._read(() => this.reader.base.system.get(key, { timeout: this.readTimeoutMs }), `the writer record of ${rec.key.slice(0, 16)}`)
    if (info === AGAIN) return AGAIN
    if (!info || info.isRemoved) return this._fail(`host slot ${n} holds ${rec.key.slice(0, 16)}, which is not a writer of the base`)
    const core = this.reader.store.get({ key })
    await core.ready()
    await withTimeout(core.update({ wait: true }), 5000, false).catch(() => false)
    const target = Math.max(core.length, info.length || 0)
    await core.close()
    this.result.target = target
    return { key: rec.key, nonce: rec.nonce, target }
  }

  // One bounded read of the reader's base: its value, or AGAIN when it failed in a way that
  // reading again may cure (then the slots settle again first).
  async _read (fn, what) {
    try {
      return await fn()
    } catch (err) {
      this._check()
      if (!TRANSIENT.has(err.code)) throw err
      this.retries++
      this.reason = `restoring: reading ${what} again (${err.code})`
      this.log.warn('restore: a read of the base failed; reading again', { ordinal: this.ordinal, what, code: err.code, retries: this.retries })
      await sleep(this.pollMs)
      return AGAIN
    }
  }

  // 2. The store on the empty disk, made with the restored key; null when the seed and the
  // slot's nonce do not give the slot's key (the store is removed again).
  async open (slot) {
    this._check()
    const { store } = await openHostStore(this.opts.dataDir, { seed: this.opts.seed, ordinal: this.ordinal, nonce: slot.nonce, restoring: true })
    this.store = store
    const key = await Autobase.getLocalKey(store)
    if (key.toString('hex') === slot.key) return store
    this.store = null
    await store.close()
    removeStore(this.opts.dataDir)
    return this._fail(`the identity seed of host ${this.ordinal} and the slot's nonce give ${key.toString('hex').slice(0, 16)}, not the slot's key ${slot.key.slice(0, 16)}`)
  }

  // 3. The writer core back from peers, whole, before anything is appended (the host
  // replicates `store` on the base's discovery key meanwhile).
  async gate (store, slot) {
    const t = Date.now()
    const n = this.ordinal
    const core = store.get({ name: 'local' })
    await core.ready()
    try {
      for (let round = 1; ; round++) {
        this._check()
        await withTimeout(core.update({ wait: true, force: true }), 2000, false).catch(() => false)
        if (core.length < slot.target) {
          this.reason = `restoring: waiting for a member that holds host ${n}'s log (${core.length} of ${slot.target} blocks)`
          await sleep(this.pollMs)
          continue
        }
        this.reason = `restoring: checking that no peer holds a longer log of host ${n}`
        try {
          await core.recover()
          break
        } catch (err) {
          this._check()
          this.log.info('restore gate: the log grew during the check; checking again', { ordinal: n, round, length: core.length })
        }
      }
      this.reason = `restoring: downloading host ${n}'s log (${core.length} blocks)`
      await core.download({ start: 0, end: core.length }).done()
      this._check()
      Object.assign(this.result, { restored: true, writerKey: slot.key, length: core.length, gateMs: Date.now() - t, at: new Date().toISOString() })
      this.store = null // the host's from here
    } finally {
      await core.close().catch(() => {})
    }
  }
}

module.exports = { HostRestore, Aborted }
