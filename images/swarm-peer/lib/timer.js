'use strict'
// Background work as an object: runs `fn` every `interval` ms, one run at a time.
// start() schedules, stop() cancels (and waits for a run in flight), trigger() runs now.

class Timer {
  constructor (fn, interval, { onerror = () => {} } = {}) {
    this.fn = fn
    this.interval = interval
    this.onerror = onerror
    this.running = null
    this.timeout = null
    this.stopped = true
  }

  start ({ now = false } = {}) {
    this.stopped = false
    if (now) this.trigger()
    else this._schedule()
  }

  async stop () {
    this.stopped = true
    this._clear()
    if (this.running) await this.running
  }

  // Runs at once (or joins the run in flight), then the period starts again.
  trigger () {
    if (this.running) return this.running
    this._clear()
    this.running = this._run()
    return this.running
  }

  async _run () {
    try {
      await this.fn()
    } catch (err) {
      this.onerror(err)
    } finally {
      this.running = null
      this._schedule()
    }
  }

  _schedule () {
    this._clear()
    if (this.stopped) return
    this.timeout = setTimeout(() => this.trigger(), this.interval)
  }

  _clear () {
    if (this.timeout) clearTimeout(this.timeout)
    this.timeout = null
  }
}

module.exports = Timer
