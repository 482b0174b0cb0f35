'use strict'
// Restore mode's reads of the reader's base are bounded (lib/host-restore.js): a block that no
// peer sends (the member that held it went away, or autobase swapped the view core while it
// reorganised) is read again on the current view, never waited for for ever. A sparse core here
// is a real hypercore whose length came from a peer that then went away, its blocks never.
const test = require('node:test')
const assert = require('node:assert')
const path = require('path')
const Corestore = require('corestore')
const { HostRestore } = require('../lib/host-restore')
const { openSlotsView, readSlotRecords } = require('../lib/host-slots')
const { withTimeout } = require('../lib/swarm')
const { tmpdir, normally } = require('./helpers')

const RECORDS = [{ ordinal: 0, key: 'a'.repeat(64), nonce: 'b'.repeat(64) }, { ordinal: 1, key: 'c'.repeat(64), nonce: 'd'.repeat(64) }]
const stores = []

test.after(async () => { for (const s of stores) await s.close().catch(() => {}) })

async function newStore () {
  const s = new Corestore(path.join(tmpdir(), 'corestore'))
  stores.push(s)
  await s.ready()
  return s
}

// The writer's complete slots core, and a reader's copy that knows its length but holds no block.
async function slotsCores () {
  const writerStore = await newStore()
  const full = writerStore.get({ name: 'slots', valueEncoding: 'json' })
  await full.ready()
  await full.append(RECORDS)
  const readerStore = await newStore()
  const sparse = readerStore.get({ key: full.key, valueEncoding: 'json' })
  await sparse.ready()
  const a = writerStore.replicate(true)
  const b = readerStore.replicate(false)
  a.pipe(b).pipe(a)
  await sparse.update({ wait: true })
  a.destroy()
  b.destroy()
  assert.strictEqual(sparse.length, 2)
  assert.strictEqual(await sparse.has(0), false, 'the reader holds no block')
  return { full, sparse }
}

// A view object as autobase's reader has it (lib/host-slots.js finds the slots core from it).
function viewOf (core) {
  const view = {}
  openSlotsView({ get: () => core }, view)
  return view
}

function fakeReader (view, system = {}) {
  return { membersConnected: () => 1, close: async () => {}, base: { system, core: { length: 1, peers: [] }, length: 1, update: async () => {}, view } }
}

test('readSlotRecords with a timeout rejects (REQUEST_TIMEOUT) on a block no peer sends', normally(1), async () => {
  const { sparse, full } = await slotsCores()
  await assert.rejects(readSlotRecords(sparse, { timeout: 200 }), { code: 'REQUEST_TIMEOUT' })
  assert.deepStrictEqual([...(await readSlotRecords(full)).keys()], [0, 1])
})

test('restore: the slots of a view whose blocks never come are read again on the view autobase has now', normally(1), async () => {
  const { sparse, full } = await slotsCores()
  const reader = fakeReader(viewOf(sparse))
  const r = new HostRestore({ opts: { ordinal: 1, dataDir: tmpdir() }, baseKey: null, settleMs: 100, pollMs: 20, readTimeoutMs: 300 })
  r.reader = reader
  setTimeout(() => { reader.base.view = viewOf(full) }, 200) // (the reorganised view)
  const records = await withTimeout(r._settled(), 10000, 'still waiting')
  r.abort()
  assert.notStrictEqual(records, 'still waiting', 'the restore waited for ever on the old view\'s block')
  assert.deepStrictEqual(records.get(1), { key: RECORDS[1].key, nonce: RECORDS[1].nonce })
  assert.ok(r.retries >= 1)
})

test('restore: a writer record no peer sends is read again, not waited for for ever', normally(1), async () => {
  const { sparse } = await slotsCores()
  // system.get reads the system core as this reads the sparse core: a block no peer sends.
  const system = { get: async (key, opts) => { await sparse.get(0, opts); return { isRemoved: false, length: 1 } } }
  const r = new HostRestore({ opts: { ordinal: 1, dataDir: tmpdir() }, baseKey: null, pollMs: 20, readTimeoutMs: 300 })
  r.reader = fakeReader(viewOf(sparse), system)
  const slot = await withTimeout(r._slot(new Map([[1, RECORDS[1]]])), 10000, 'still waiting')
  r.abort()
  assert.notStrictEqual(slot, 'still waiting', 'the restore waited for ever on the writer record')
  assert.strictEqual(typeof slot, 'symbol', 'read again (after the slots settle again)')
  assert.strictEqual(r.reason, `restoring: reading the writer record of ${RECORDS[1].key.slice(0, 16)} again (REQUEST_TIMEOUT)`)
})
