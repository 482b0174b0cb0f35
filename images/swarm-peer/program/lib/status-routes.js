'use strict'
// The status port: GET /healthz, /readyz, /status, /metrics and nothing else (no app data, no
// writes: the operator, the kubelet and Prometheus reach this port). `peer` is a Host, a Member
// or a DhtNode: readiness() -> {ready, reason}, status({nonce}) -> object | null; a peer whose
// status() may still be null emits 'report' once it is not (a Host: its first announce flushed).
// `GET /status?wait=<seconds>` waits up to that long (at most MAX_WAIT) for a report rather than
// answering 503 at once: the operator reads the host's key as soon as its announce has flushed,
// not a readiness probe's period later.
const HEX64 = /^[0-9a-f]{64}$/
const MAX_WAIT = 10

// Resolves on the peer's next 'report' or after `seconds`, whichever is first.
function nextReport (peer, seconds) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); peer.off('report', done); resolve() }
    const timer = setTimeout(done, seconds * 1000)
    timer.unref() // a waiting request never holds the process open
    peer.on('report', done)
  })
}

function waitSeconds (url) {
  const text = url.searchParams.get('wait')
  if (text === null) return 0
  const seconds = Number(text)
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, MAX_WAIT) : null
}

function statusRoutes (peer, metrics) {
  return {
    'GET /healthz': async () => ({ body: { ok: true } }),
    'GET /readyz': async () => {
      const r = peer.readiness()
      return { code: r.ready ? 200 : 503, body: r }
    },
    'GET /status': async ({ url }) => {
      const nonce = url.searchParams.get('nonce')
      if (nonce !== null && !HEX64.test(nonce)) return { code: 400, body: { error: 'nonce must be 64 lowercase hex characters' } }
      const wait = waitSeconds(url)
      if (wait === null) return { code: 400, body: { error: `wait must be a number of seconds (at most ${MAX_WAIT} are waited)` } }
      let s = peer.status({ nonce })
      if (!s && wait > 0 && typeof peer.on === 'function') {
        await nextReport(peer, wait)
        s = peer.status({ nonce })
      }
      return s ? { body: s } : { code: 503, body: { error: 'not ready to report yet' } }
    },
    'GET /metrics': async () => ({ body: await metrics.registry.metrics(), type: metrics.registry.contentType })
  }
}

module.exports = { statusRoutes }
