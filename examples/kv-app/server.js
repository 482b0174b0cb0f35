'use strict'
// A small JSON HTTP server over a route table {'GET /path': async ({url, body}) => ({code?, body,
// type?})}: 404 for a GET of an unknown path, 405 for any other method there is no route for
// (a GET-only table answers every write with 405), 400 for a request body that is not JSON.
// serve() resolves once it listens.
const http = require('http')

function readJson (req, limit = 65536) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    req.on('data', (d) => {
      size += d.length
      if (size > limit) req.destroy(new Error('body too large'))
      else chunks.push(d)
    })
    req.on('end', () => {
      try { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))) } catch { reject(Object.assign(new Error('body must be JSON'), { status: 400 })) }
    })
    req.on('error', reject)
  })
}

async function answer (routes, paths, req) {
  const url = new URL(req.url, 'http://localhost')
  const route = routes[`${req.method} ${url.pathname}`]
  if (!route) return req.method === 'GET' && !paths.has(url.pathname) ? { code: 404, body: { error: 'not found' } } : { code: 405, body: { error: 'method not allowed' } }
  try {
    return await route({ url, body: req.method === 'GET' ? null : await readJson(req) })
  } catch (err) {
    return { code: err.status || 500, body: { error: err.message } }
  }
}

function serve ({ port, host, routes }) {
  const paths = new Set(Object.keys(routes).map((r) => r.split(' ')[1]))
  const server = http.createServer(async (req, res) => {
    const r = await answer(routes, paths, req)
    const text = r.type ? r.body : JSON.stringify(r.body)
    res.writeHead(r.code || 200, { 'content-type': r.type || 'application/json' })
    res.end(text)
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}

function stop (server) {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

module.exports = { serve, stop }
