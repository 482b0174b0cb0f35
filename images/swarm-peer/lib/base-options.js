'use strict'
// Autobase options for an app: its open (plus the library's host-slots view), its apply wrapped
// by the membership rules, JSON values, the ack interval and the topic's encryption key when
// there is one.
//
// ackInterval: autobase's default is 10 s with jitter (10-20 s between background acks); with
// several indexers that made confirmation take 27-46 s (shared/notes/autobase-ha-facts.md). 1 s
// keeps it to a few seconds; only indexers ack, so it costs nothing on members.
const { wrapApply } = require('./system-apply')
const { openSlotsView } = require('./host-slots')

const DEFAULT_ACK_INTERVAL_MS = 1000

function baseOptions (app, { encryptionKey = null, ackIntervalMs = DEFAULT_ACK_INTERVAL_MS, log, stats, onapplied = () => {} }) {
  const opts = {
    valueEncoding: 'json',
    ackInterval: ackIntervalMs,
    // The app's view first: an existing base finds it where it always was.
    open (store, host) {
      const view = app.open(store, host)
      openSlotsView(store, view)
      return view
    },
    apply: wrapApply(app.apply, {
      onignored: (why, node) => {
        stats.entriesIgnored.inc()
        log.warn('writer entry ignored', { why, type: node.value.type, from: node.from.key.toString('hex').slice(0, 16) })
      },
      onduplicate: (why, node) => log.info('writer entry changed nothing', { why, type: node.value.type, from: node.from.key.toString('hex').slice(0, 16) }),
      onapplied,
      onerror: (err) => log.error('apply failed', { error: err.message })
    })
  }
  if (encryptionKey) opts.encryptionKey = encryptionKey
  return opts
}

module.exports = { baseOptions, DEFAULT_ACK_INTERVAL_MS }
