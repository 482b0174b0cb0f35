'use strict'
// The status port: GET /healthz, /readyz, /status, /metrics and nothing else (no app data, no
// writes: the operator, the kubelet and Prometheus reach this port). `peer` is a Host, a Member
// or a DhtNode: readiness() -> {ready, reason}, status({nonce}) -> object | null.
const HEX64 = /^[0-9a-f]{64}$/

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
      const s = peer.status({ nonce })
      return s ? { body: s } : { code: 503, body: { error: 'not ready to report yet' } }
    },
    'GET /metrics': async () => ({ body: await metrics.registry.metrics(), type: metrics.registry.contentType })
  }
}

module.exports = { statusRoutes }
