'use strict'
// Which host (StatefulSet ordinal) holds which indexer key. The base keeps it in a view of its
// own, next to the app's view: a JSON core of records {ordinal, key} (key null: the slot was
// cleared), written by apply only (lib/system-apply.js), the latest record per ordinal wins.
// The view is opened by the wrapped `open` of lib/base-options.js and found again from the app's
// view object (the object the app's open returned, which apply receives and base.view is).
//
// Also here: the host invite (a blind-pairing invite derived from the host-only seed, the
// `<name>-hosts` Secret) and the user data a host sends with it: its writer key and ordinal.
const BlindPairing = require('blind-pairing')

const VIEW_NAME = 'swarm-operator-host-slots'
const MAX_ORDINAL = 63
const HOST_REQUEST_VERSION = 1

const byView = new WeakMap() // app view object -> host-slots core (one per open() call)

function openSlotsView (store, appView) {
  const core = store.get(VIEW_NAME, { valueEncoding: 'json' })
  if (appView && (typeof appView === 'object' || typeof appView === 'function')) byView.set(appView, core)
  return core
}

function slotsCore (appView) {
  return (appView && byView.get(appView)) || null
}

// Map ordinal -> hex key, from a host-slots core (an apply session or base.view's).
async function readSlots (core) {
  const slots = new Map()
  if (!core) return slots
  for (let i = 0; i < core.length; i++) {
    const r = await core.get(i)
    if (!r || !Number.isInteger(r.ordinal)) continue
    if (r.key) slots.set(r.ordinal, r.key)
    else slots.delete(r.ordinal)
  }
  return slots
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

// The user data of a host's promotion request: version, ordinal, writer key (34 bytes).
function encodeHostRequest (writerKey, ordinal) {
  return Buffer.concat([Buffer.from([HOST_REQUEST_VERSION, ordinal]), writerKey])
}

function decodeHostRequest (buf) {
  if (!buf || buf.length !== 34 || buf[0] !== HOST_REQUEST_VERSION || !validOrdinal(buf[1])) return null
  return { ordinal: buf[1], key: buf.subarray(2).toString('hex') }
}

module.exports = {
  VIEW_NAME, MAX_ORDINAL, openSlotsView, slotsCore, readSlots, slotOf, validOrdinal,
  deriveHostInvite, encodeHostRequest, decodeHostRequest
}
