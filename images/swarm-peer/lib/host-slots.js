'use strict'
// Which host (StatefulSet ordinal) holds which indexer key. The base keeps it in a view of its
// own, next to the app's view: a JSON core of records {ordinal, key, nonce?} (key null: the slot
// was cleared), written by apply only (lib/system-apply.js), the latest record per ordinal wins.
// `nonce` is the public half of how the key was made (lib/host-store.js): with the host's
// identity seed it makes the key again, which is how a host is restored after its disk is lost
// (lib/host-restore.js). A key made before derived keys has none.
// The view is opened by the wrapped `open` of lib/base-options.js and found again from the app's
// view object (the object the app's open returned, which apply receives and base.view is).
//
// Also here: the host invite (a blind-pairing invite derived from the host-only seed, the
// `<name>-hosts` Secret) and the user data a host sends with it: its writer key, ordinal and
// the nonce of its key.
const BlindPairing = require('blind-pairing')

const VIEW_NAME = 'swarm-operator-host-slots'
const MAX_ORDINAL = 63
const HEX64 = /^[0-9a-f]{64}$/

const byView = new WeakMap() // app view object -> host-slots core (one per open() call)

function openSlotsView (store, appView) {
  const core = store.get(VIEW_NAME, { valueEncoding: 'json' })
  if (appView && (typeof appView === 'object' || typeof appView === 'function')) byView.set(appView, core)
  return core
}

function slotsCore (appView) {
  return (appView && byView.get(appView)) || null
}

// Map ordinal -> {key, nonce} (hex; nonce null when not recorded), from a host-slots core (an
// apply session or base.view's). `opts` go to each core.get: with {timeout} (ms) a block that no
// peer sends in time rejects (hypercore's REQUEST_TIMEOUT) instead of waiting for ever (a view
// autobase fast-forwarded holds its blocks on peers, and the peer may go away). Apply reads
// without: its blocks are local.
async function readSlotRecords (core, opts = undefined) {
  const slots = new Map()
  if (!core) return slots
  for (let i = 0; i < core.length; i++) {
    const r = await core.get(i, opts)
    if (!r || !Number.isInteger(r.ordinal)) continue
    if (r.key) slots.set(r.ordinal, { key: r.key, nonce: typeof r.nonce === 'string' ? r.nonce : null })
    else slots.delete(r.ordinal)
  }
  return slots
}

// Map ordinal -> hex key.
async function readSlots (core, opts = undefined) {
  const slots = new Map()
  for (const [ordinal, r] of await readSlotRecords(core, opts)) slots.set(ordinal, r.key)
  return slots
}

// The `host-slot` entry an active indexer appends for its own slot: when the slot is empty, or
// holds its key without the nonce this host knows. Else null.
function ownSlotEntry (records, ordinal, key, nonce) {
  const r = records.get(ordinal)
  if (!r) return { type: 'host-slot', key, ordinal, ...(nonce ? { nonce } : {}) }
  if (r.key === key && nonce && !r.nonce) return { type: 'host-slot', key, ordinal, nonce }
  return null
}

function slotOf (slots, hexKey) {
  for (const [ordinal, key] of slots) if (key === hexKey) return ordinal
  return null
}

function validOrdinal (n) {
  return Number.isInteger(n) && n >= 0 && n <= MAX_ORDINAL
}

function deriveHostInvite (baseKey, hostSeed) {
  return BlindPairing.createInvite(baseKey, { seed: hostSeed })
}

// The user data of a host's promotion request: version 1 [1, ordinal, writer key] (34 bytes),
// version 2 [2, ordinal, writer key, nonce] (66 bytes: a key derived from the seed and nonce).
function encodeHostRequest (writerKey, ordinal, nonce = null) {
  if (!nonce) return Buffer.concat([Buffer.from([1, ordinal]), writerKey])
  return Buffer.concat([Buffer.from([2, ordinal]), writerKey, Buffer.from(nonce, 'hex')])
}

function decodeHostRequest (buf) {
  if (!buf || !validOrdinal(buf[1])) return null
  const key = buf.subarray(2, 34).toString('hex')
  if (buf.length === 34 && buf[0] === 1) return { ordinal: buf[1], key, nonce: null }
  if (buf.length === 66 && buf[0] === 2) return { ordinal: buf[1], key, nonce: buf.subarray(34).toString('hex') }
  return null
}

module.exports = {
  VIEW_NAME, MAX_ORDINAL, HEX64, openSlotsView, slotsCore, readSlots, readSlotRecords, ownSlotEntry, slotOf,
  validOrdinal, deriveHostInvite, encodeHostRequest, decodeHostRequest
}
