'use strict'
// autokv's app on the base: its own view and apply, and its HTTP API (routes for server.js).
// Entries it writes: {type: 'put', key, value} and {type: 'del', key}; anything else (the host's
// genesis, a future type) is skipped. The view is a JSON hypercore of applied operations, each
// with the writer that wrote it; a get reads it backwards to the newest operation on the key.
const { Member } = require('@swarm-operator/member')

const KEY = /^[\w.:/-]{1,256}$/

const kvApp = {
  open (store) {
    return store.get('autokv', { valueEncoding: 'json' })
  },
  async apply (nodes, view) {
    for (const node of nodes) {
      const v = node.value
      if (Member.isSystem(v) || !v || typeof v.key !== 'string' || !KEY.test(v.key)) continue
      const by = node.from.key.toString('hex')
      if (v.type === 'put' && v.value !== undefined) await view.append({ op: 'put', key: v.key, value: v.value, by })
      else if (v.type === 'del') await view.append({ op: 'del', key: v.key, by })
    }
  }
}

async function lookup (view, key) {
  for (let i = view.length - 1; i >= 0; i--) {
    const e = await view.get(i)
    if (e.key === key) return e.op === 'put' ? e : null
  }
  return null
}

async function keys (view) {
  const live = new Map()
  for (let i = 0; i < view.length; i++) {
    const e = await view.get(i)
    live.set(e.key, e.op === 'put')
  }
  return [...live].filter(([, alive]) => alive).map(([k]) => k).sort()
}

// POST /put {key, value} · POST /del {key} · GET /get?key=k · GET /keys
function kvRoutes (member) {
  const base = member.base
  const write = async (entry) => {
    if (!KEY.test(entry.key || '')) return { code: 400, body: { error: 'key must match ' + KEY } }
    if (!base.writable) return { code: 409, body: { error: 'not a writer of the base (yet)', reason: member.readiness().reason } }
    await base.append(entry)
    await base.update()
    return { body: { ok: true } }
  }
  return {
    'POST /put': ({ body }) => write({ type: 'put', key: body && body.key, value: body && body.value }),
    'POST /del': ({ body }) => write({ type: 'del', key: body && body.key }),
    'GET /get': async ({ url }) => {
      await base.update()
      const e = await lookup(base.view, url.searchParams.get('key') || '')
      return e ? { body: { key: e.key, value: e.value, by: e.by } } : { code: 404, body: { error: 'no such key' } }
    },
    'GET /keys': async () => {
      await base.update()
      return { body: { keys: await keys(base.view) } }
    }
  }
}

module.exports = { kvApp, kvRoutes }
