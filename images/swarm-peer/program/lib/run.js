'use strict'
// Runs a Program until SIGTERM/SIGINT: a failed start exits 1 with one stderr line; a signal
// closes it (a signal during start-up is honoured once start-up finishes, or after 10 s) and
// exits 0, or 1 when closing fails or takes more than 20 s. A peer's 'fatal' event (a host that
// could not start over) exits 1 the same way as a failed start: the kubelet restarts it.
function runUntilSignal (prog, { log, name }) {
  let started = false
  let stopping = false
  const finish = async () => {
    try {
      await prog.close()
      process.exit(0)
    } catch (err) {
      log.error('shutdown failed', { error: err.message })
      process.exit(1)
    }
  }
  const stop = (signal) => {
    if (stopping) return
    stopping = true
    log.info('signal received', { signal })
    setTimeout(() => { log.error('shutdown timed out'); process.exit(1) }, 20000).unref()
    if (started) return finish()
    setTimeout(() => { log.warn('exiting during start-up'); process.exit(0) }, 10000)
  }
  const fatal = (err) => {
    const msg = err && err.message ? err.message : String(err)
    log.error('fatal', { error: msg })
    process.stderr.write(`${name}: ${msg}\n`)
    process.exit(1)
  }
  if (prog.peer && typeof prog.peer.on === 'function') prog.peer.on('fatal', fatal)
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  prog.start().then(() => {
    started = true
    if (stopping) return finish()
  }, fatal)
}

module.exports = { runUntilSignal }
