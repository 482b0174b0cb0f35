'use strict'
// lib/append.js: the library appends only while autobase's local writer is idle. Autobase
// 7.28's append() spins on resolved promises while the local writer holds blocks of its own
// core the linearizer does not have (a restored host whose log depends on blocks not downloaded
// yet): the event loop never turns again. The fake base below refuses such an append.
const test = require('node:test')
const assert = require('node:assert')
const crypto = require('crypto')
const { appendWhenIdle, localWriterBusy, deferAcksWhileBusy } = require('../lib/append')
const IndexerSeat = require('../lib/indexer-seat')
const quiet = require('../lib/quiet-log')
const { normally } = require('./helpers')

function fakeBase () {
  const key = crypto.randomBytes(32)
  const base = {
    key,
    idle: false,
    appended: [],
    local: { key },
    system: { get: async () => ({ isIndexer: true, isRemoved: false }) },
    view: {},
    async append (value) {
      if (!this.localWriter.idle()) throw new Error('append while the local writer is busy: autobase would spin here for good')
      this.appended.push(value)
    }
  }
  base.localWriter = { closed: false, idle: () => base.idle }
  return base
}

test('appendWhenIdle waits, yielding to the event loop, until the local writer is idle; then appends', normally(1), async () => {
  const base = fakeBase()
  assert.strictEqual(localWriterBusy(base), true)
  setTimeout(() => { base.idle = true }, 300) // (only a turning event loop gets here)
  await appendWhenIdle(base, { type: 'x' }, { pollMs: 20 })
  assert.deepStrictEqual(base.appended, [{ type: 'x' }])
  assert.strictEqual(localWriterBusy(base), false)
  assert.strictEqual(localWriterBusy({ localWriter: null }), false, 'no local writer (not writable): nothing to wait for')
})

test('appendWhenIdle gives up (LOCAL_WRITER_BUSY) on a local writer that stays busy', normally(1), async () => {
  const base = fakeBase()
  await assert.rejects(appendWhenIdle(base, null, { timeoutMs: 200, pollMs: 20 }), { code: 'LOCAL_WRITER_BUSY' })
  assert.deepStrictEqual(base.appended, [])
})

test('the indexer seat of a restored host does not claim its slot while its own log is being applied; it does once idle', normally(1), async () => {
  const base = fakeBase()
  const seat = new IndexerSeat({ base, pairing: null, ordinal: 1, replicas: 3, hostSeed: null, nonce: 'a'.repeat(64), isIndexer: () => true, log: quiet })
  await seat.tick()
  assert.strictEqual(seat.state, 'claiming')
  assert.deepStrictEqual(base.appended, [], 'nothing appended while the local writer is busy')
  base.idle = true
  await seat.tick()
  assert.deepStrictEqual(base.appended, [{ type: 'host-slot', key: base.local.key.toString('hex'), ordinal: 1, nonce: 'a'.repeat(64) }])
})

test('a host\'s autobase acks are skipped while its local writer is busy, made once idle', normally(1), async () => {
  const base = fakeBase()
  const acks = []
  base.ack = function (bg) { acks.push(bg); return this.append(null) }
  deferAcksWhileBusy(base)
  await base.ack(true)
  assert.deepStrictEqual([acks, base.appended], [[], []], 'no ack while busy')
  base.idle = true
  await base.ack(true)
  assert.deepStrictEqual([acks, base.appended], [[true], [null]])
})
