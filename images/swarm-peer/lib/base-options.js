'use strict'
// Autobase options for an app: its open, its apply wrapped by the writer rules, JSON values,
// and the topic's encryption key when there is one.
const { wrapApply } = require('./system-apply')

function baseOptions (app, { encryptionKey = null, log, metrics }) {
  const opts = {
    valueEncoding: 'json',
    open: app.open,
    apply: wrapApply(app.apply, {
      onignored: (why, node) => {
        metrics.entriesIgnored.inc()
        log.warn('writer entry ignored', { why, from: node.from.key.toString('hex').slice(0, 16) })
      },
      onerror: (err) => log.error('apply failed', { error: err.message })
    })
  }
  if (encryptionKey) opts.encryptionKey = encryptionKey
  return opts
}

module.exports = { baseOptions }
