'use strict'
// Writer and indexer membership of the base, the same on every peer. Entries whose `type` is one
// of SYSTEM_TYPES are the library's; everything else goes to the app's own apply, in order.
// Rules (node data only, never local state: apply runs on every peer, clients included):
//   add-writer {key}                      a (non-indexer) writer; from an active indexer
//   remove-writer {key}                   from an active indexer, or from the writer `key` itself
//                                         (a member leaving); a non-indexer never removes an
//                                         indexer; never the last indexer (removeable())
//   add-indexer {key, ordinal, nonce?}    host `ordinal`'s key becomes an indexer; its slot must be
//                                         empty; from an active indexer
//   replace-indexer {key, old, ordinal, nonce?}
//                                         the same for a slot that holds `old` (a host that lost
//                                         its disk): `key` added, `old` removed, in one apply call
//   host-slot {key, ordinal, nonce?}      an active indexer records its own, empty slot (the
//                                         creator, and a base made before slots existed), or the
//                                         nonce of its key in its own slot that has none
// `nonce` (64 hex) goes into the slot record: with the host's identity seed it makes the key
// again (lib/host-store.js); a recorded nonce is never changed.
// "Active indexer" is checked with host.system at apply time: the writer's record says indexer
// and not removed. The slot records are the host-slots view (lib/host-slots.js). Entries that
// repeat what is already true (two hosts admitting one candidate) are ignored as duplicates.
// Nothing here throws: a throwing apply closes the Autobase (and crashes the process).
const { slotsCore, readSlots, readSlotRecords, slotOf, validOrdinal, HEX64 } = require('./host-slots')
const SYSTEM_TYPES = new Set(['add-writer', 'remove-writer', 'add-indexer', 'replace-indexer', 'host-slot'])

function isSystem (value) {
  return !!value && typeof value === 'object' && SYSTEM_TYPES.has(value.type)
}

const hex = (buf) => buf.toString('hex')
const isActiveIndexer = (info) => !!info && info.isIndexer && !info.isRemoved
const isActiveWriter = (info) => !!info && !info.isRemoved

// The writer's record as apply sees it now, earlier entries of this batch included.
async function writerInfo (host, key) {
  try {
    return await host.system.get(key, { unflushed: true })
  } catch {
    return host.system.get(key)
  }
}

async function addWriter (node, v, c) {
  if (!c.byIndexer) return c.ignored('add-writer not from an indexer', node)
  const key = Buffer.from(v.key, 'hex')
  if (isActiveWriter(await writerInfo(c.host, key))) return c.duplicate('already a writer', node)
  await c.host.addWriter(key, { indexer: false })
  c.applied('add-writer', v.key, node)
}

async function removeWriter (node, v, c) {
  const key = Buffer.from(v.key, 'hex')
  const self = node.from.key.equals(key)
  const target = await writerInfo(c.host, key)
  if (!c.byIndexer && !self) return c.ignored('remove-writer not from an indexer or the writer itself', node)
  if (!c.byIndexer && isActiveIndexer(target)) return c.ignored('only an indexer removes an indexer', node)
  if (!isActiveWriter(target)) return c.duplicate('not a writer', node)
  if (!c.host.removeable(key)) return c.ignored('last indexer', node)
  await c.host.removeWriter(key)
  if (c.slots) {
    const ordinal = slotOf(await readSlots(c.slots), v.key)
    if (ordinal !== null) await c.slots.append({ ordinal, key: null })
  }
  c.applied('remove-writer', v.key, node)
}

// add-indexer and replace-indexer: the slot must hold exactly what the writer of the entry saw.
async function setIndexer (node, v, c) {
  if (!c.byIndexer) return c.ignored(`${v.type} not from an indexer`, node)
  if (!validOrdinal(v.ordinal) || !c.slots) return c.ignored('malformed', node)
  const slots = await readSlots(c.slots)
  const current = slots.get(v.ordinal) || null
  const seen = v.type === 'replace-indexer' ? (v.old || null) : null
  if (current === v.key) return c.duplicate('the slot holds the key', node)
  if (slotOf(slots, v.key) !== null) return c.ignored(`the key holds slot ${slotOf(slots, v.key)}`, node)
  if (seen !== current) return c.ignored(`stale: slot ${v.ordinal} holds ${current ? current.slice(0, 16) : 'nothing'}`, node)
  const key = Buffer.from(v.key, 'hex')
  const info = await writerInfo(c.host, key)
  if (info && info.isRemoved) return c.ignored('the key was removed (a host starts over with a new key)', node)
  const old = current && Buffer.from(current, 'hex')
  const oldActive = old && isActiveWriter(await writerInfo(c.host, old))
  if (oldActive && !c.host.removeable(old)) return c.ignored('last indexer', node)
  if (!isActiveIndexer(info)) await c.host.addWriter(key, { indexer: true })
  if (oldActive) await c.host.removeWriter(old)
  await c.slots.append(slotRecord(v))
  c.applied(v.type, v.key, node)
}

async function hostSlot (node, v, c) {
  if (!c.byIndexer) return c.ignored('host-slot not from an indexer', node)
  if (v.key !== hex(node.from.key)) return c.ignored('a host claims its own slot only', node)
  if (!validOrdinal(v.ordinal) || !c.slots) return c.ignored('malformed', node)
  const records = await readSlotRecords(c.slots)
  const current = records.get(v.ordinal) || null
  if (current && current.key === v.key) {
    if (!v.nonce || current.nonce) return c.duplicate('the slot holds the key', node)
    await c.slots.append(slotRecord(v))
    return c.applied('host-slot', v.key, node)
  }
  if (current) return c.ignored(`slot ${v.ordinal} holds ${current.key.slice(0, 16)}`, node)
  const held = [...records].find(([, r]) => r.key === v.key)
  if (held) return c.ignored(`the key holds slot ${held[0]}`, node)
  await c.slots.append(slotRecord(v))
  c.applied('host-slot', v.key, node)
}

function slotRecord (v) {
  return v.nonce ? { ordinal: v.ordinal, key: v.key, nonce: v.nonce } : { ordinal: v.ordinal, key: v.key }
}

const HANDLERS = {
  'add-writer': addWriter,
  'remove-writer': removeWriter,
  'add-indexer': setIndexer,
  'replace-indexer': setIndexer,
  'host-slot': hostSlot
}

async function applySystem (node, ctx) {
  const v = node.value
  if (typeof v.key !== 'string' || !HEX64.test(v.key)) return ctx.ignored('malformed', node)
  if (v.nonce !== undefined && v.nonce !== null && (typeof v.nonce !== 'string' || !HEX64.test(v.nonce))) return ctx.ignored('malformed nonce', node)
  const byIndexer = isActiveIndexer(await writerInfo(ctx.host, node.from.key))
  return HANDLERS[v.type](node, v, { ...ctx, byIndexer })
}

// Wraps an app's apply(nodes, view, host): system entries are handled here, the rest are
// passed on in batches that keep the order of the log. onapplied(type, key, node) follows each
// honoured system entry, onignored(why, node) each refused one, onduplicate(why, node) each that
// changed nothing (apply may run more than once for an entry: after a reorder it runs again).
function wrapApply (appApply, { onignored = () => {}, onduplicate = () => {}, onerror = () => {}, onapplied = () => {} } = {}) {
  return async function apply (nodes, view, host) {
    const ctx = { host, slots: slotsCore(view), ignored: onignored, duplicate: onduplicate, applied: onapplied }
    let batch = []
    const flush = async () => {
      if (batch.length === 0) return
      const b = batch
      batch = []
      try { await appApply(b, view, host) } catch (err) { onerror(err) }
    }
    for (const node of nodes) {
      if (!isSystem(node.value)) { batch.push(node); continue }
      await flush()
      try { await applySystem(node, ctx) } catch (err) { onerror(err) }
    }
    await flush()
  }
}

module.exports = { wrapApply, isSystem, SYSTEM_TYPES, isActiveIndexer }
