'use strict'
// The HTTP status server: /healthz, /readyz, /status, /metrics, plus POST /append and GET /log
// for the application on the base.
const http = require('http')

function json (res, code, body) {
  const text = JSON.stringify(body)
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function readBody (req, limit = 65536) {
  return new Promise((resolve, reject) => {
    let size = 0
    const chunks = []
    req.on('data', (d) => {
      size += d.length
      if (size > limit) { reject(new Error('body too large')); req.destroy() } else chunks.push(d)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

// handlers: { ready(): {ready, reason}, status(): obj|null, append(obj): Promise, log(start, end): Promise }
function createStatusServer ({ port, metrics, handlers, log }) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x')
    try {
      if (req.method === 'GET' && url.pathname === '/healthz') return json(res, 200, { ok: true })
      if (req.method === 'GET' && url.pathname === '/readyz') {
        const r = handlers.ready()
        return json(res, r.ready ? 200 : 503, r)
      }
      if (req.method === 'GET' && url.pathname === '/metrics') {
        const text = await metrics.registry.metrics()
        res.writeHead(200, { 'content-type': metrics.registry.contentType })
        return res.end(text)
      }
      if (req.method === 'GET' && url.pathname === '/status' && handlers.status) {
        const s = handlers.status()
        return s ? json(res, 200, s) : json(res, 503, { error: 'not ready to report yet' })
      }
      if (req.method === 'GET' && url.pathname === '/log' && handlers.log) {
        const start = Number(url.searchParams.get('start') || 0)
        return json(res, 200, await handlers.log(Number.isFinite(start) ? start : 0))
      }
      if (req.method === 'POST' && url.pathname === '/append' && handlers.append) {
        let value
        try { value = JSON.parse(await readBody(req)) } catch { return json(res, 400, { error: 'body must be JSON' }) }
        if (!value || typeof value !== 'object' || Array.isArray(value)) return json(res, 400, { error: 'body must be a JSON object' })
        const r = await handlers.append(value)
        return json(res, r.code || 200, r.body)
      }
      json(res, 404, { error: 'not found' })
    } catch (err) {
      log.error('http handler failed', { path: url.pathname, error: err.message })
      if (!res.headersSent) json(res, 500, { error: err.message })
    }
  })
  return {
    server,
    listen: () => new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, () => { server.off('error', reject); resolve(server.address().port) })
    }),
    close: () => new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections() })
  }
}

module.exports = { createStatusServer }
