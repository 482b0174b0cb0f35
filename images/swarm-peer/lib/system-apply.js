'use strict'
// Writer membership on the base, the same on every peer. Entries whose `type` is `add-writer` or
// `remove-writer` are the library's; everything else goes to the app's own apply, in order.
// Rules (node data only, never local state: apply runs on every peer):
//   add-writer {key}     honoured only when written by the base's bootstrap writer (the host
//                        that created the base: node.from.key equals base.key)
//   remove-writer {key}  honoured from that writer, or from the writer `key` itself (leaving);
//                        never removes the last indexer (removeable() is checked)
// Nothing here throws: a throwing apply closes the Autobase (and crashes the process).

const HEX64 = /^[0-9a-f]{64}$/
const SYSTEM_TYPES = new Set(['add-writer', 'remove-writer'])

function isSystem (value) {
  return !!value && typeof value === 'object' && SYSTEM_TYPES.has(value.type)
}

async function applySystem (node, host, onignored) {
  const { value } = node
  const from = node.from.key
  if (typeof value.key !== 'string' || !HEX64.test(value.key)) return onignored('malformed', node)
  const key = Buffer.from(value.key, 'hex')
  const byHost = from.equals(host.key)
  if (value.type === 'add-writer') {
    if (!byHost) return onignored('add-writer not from the host', node)
    return host.addWriter(key, { indexer: false })
  }
  if (!byHost && !from.equals(key)) return onignored('remove-writer not from the host or the writer itself', node)
  if (!host.removeable(key)) return onignored('last indexer', node)
  return host.removeWriter(key)
}

// Wraps an app's apply(nodes, view, host): system entries are handled here, the rest are
// passed on in batches that keep the order of the log.
function wrapApply (appApply, { onignored = () => {}, onerror = () => {} } = {}) {
  return async function apply (nodes, view, host) {
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
      try { await applySystem(node, host, onignored) } catch (err) { onerror(err) }
    }
    await flush()
  }
}

module.exports = { wrapApply, isSystem, SYSTEM_TYPES }
