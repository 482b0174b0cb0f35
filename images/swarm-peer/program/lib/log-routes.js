'use strict'
// The reference peer's app API (served on SWARM_APP_HOST:SWARM_APP_PORT, never on the status
// port) over the library's JSON log app (lib/log-app.js): POST /append, GET /log?start=n (entries,
// the view's length and signed length).

async function readLog (base, start) {
  await base.update()
  const length = base.view.length
  const entries = []
  for (let i = Math.max(0, start); i < length && entries.length < 1000; i++) entries.push(await base.view.get(i))
  // signedLength: entries below it are confirmed (signed by a quorum of the base's indexers).
  return { length, signedLength: base.view.signedLength || 0, start, entries }
}

function logRoutes (peer) {
  return {
    'POST /append': async ({ body }) => {
      if (!body || typeof body !== 'object' || Array.isArray(body)) return { code: 400, body: { error: 'body must be a JSON object' } }
      if (!peer.base.writable) return { code: 409, body: { error: `this ${peer.role} is not a writer of the base` } }
      await peer.base.append({ ...body, type: 'put', at: new Date().toISOString(), by: peer.writerKey })
      await peer.base.update()
      return { body: { ok: true, viewLength: peer.base.view.length } }
    },
    'GET /log': async ({ url }) => {
      const start = Number(url.searchParams.get('start') || 0)
      return { body: await readLog(peer.base, Number.isFinite(start) ? start : 0) }
    }
  }
}

module.exports = { logRoutes, readLog }
