'use strict'
// The key-offer side channel, multiplexed (Protomux) next to replication on every connection.
// Messages are JSON text: {type: 'offer', envelope} (a signed key offer) and
// {type: 'writer-request', key} (a peer asking to become a writer).
const Protomux = require('protomux')
const c = require('compact-encoding')

const PROTOCOL = 'swarm-operator/key-offer/v1'

function attach (conn, onmessage) {
  const mux = Protomux.from(conn)
  const channel = mux.createChannel({ protocol: PROTOCOL, unique: true })
  if (!channel) return null
  const msg = channel.addMessage({
    encoding: c.string,
    onmessage (text) {
      let m
      try { m = JSON.parse(text) } catch { return }
      if (m && typeof m === 'object') onmessage(m, conn)
    }
  })
  channel.open()
  // Messages sent before the remote side opened its end would be lost: wait for it.
  const send = (obj) => channel.fullyOpened().then((ok) => { if (ok && !channel.closed) msg.send(JSON.stringify(obj)) }, () => {})
  return { send, channel }
}

module.exports = { attach, PROTOCOL }
