'use strict'
// A small JSON HTTP server over a route table {'GET /path': handler}. A handler gets
// {url, body} (body parsed as JSON for non-GET requests) and returns {code?, body, raw?, type?}.
// A path served for another method answers 405; anything not GET on an unknown path 405;
// an unknown GET path 404.
const http = require('http')

function send (res, code, body, type = 'application/json') {
  const text = type === 'application/json' ? JSON.stringify(body) : body
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(text) })
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

class HttpServer {
  constructor ({ port, host = undefined, routes, log }) {
    this.port = port
    this.host = host
    this.routes = routes
    this.log = log
    this.paths = new Set(Object.keys(routes).map((r) => r.split(' ')[1]))
    this.server = http.createServer((req, res) => this._handle(req, res))
  }

  async _handle (req, res) {
    const url = new URL(req.url, 'http://x')
    const route = this.routes[`${req.method} ${url.pathname}`]
    if (!route) {
      if (req.method === 'GET' && !this.paths.has(url.pathname)) return send(res, 404, { error: 'not found' })
      res.setHeader('allow', this._allowed(url.pathname))
      return send(res, 405, { error: 'method not allowed' })
    }
    try {
      let body = null
      if (req.method !== 'GET') {
        try { body = JSON.parse(await readBody(req)) } catch { return send(res, 400, { error: 'body must be JSON' }) }
      }
      const r = await route({ url, body })
      send(res, r.code || 200, r.body, r.type)
    } catch (err) {
      this.log.error('http handler failed', { path: url.pathname, error: err.message })
      if (!res.headersSent) send(res, 500, { error: err.message })
    }
  }

  _allowed (path) {
    const methods = Object.keys(this.routes).filter((r) => r.endsWith(' ' + path)).map((r) => r.split(' ')[0])
    return (methods.length ? methods : ['GET']).join(', ')
  }

  listen () {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', reject)
        resolve(this.server.address().port)
      })
    })
  }

  close () {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve()
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }
}

module.exports = HttpServer
