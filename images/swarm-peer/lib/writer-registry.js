'use strict'
// The host's record of the writers it admitted (<dataDir>/writers.json) and when each was last
// seen: `connected()` lists the writer keys named by open connections (a member's `hello`).
// A sweep removes writers not seen for `idleMs`; removal goes through the log (`remove-writer`), so every peer applies
// it, and never takes the last indexer (removeable()). After a restart every recorded writer
// gets a full idle period again. Indexers (the hosts) are never swept. With several hosts only
// host 0 sweeps (the members name their writer keys to it, the pinned host): it learns the writers
// the other hosts admitted from apply (`track`).
const fs = require('fs')
const path = require('path')
const ReadyResource = require('ready-resource')
const Timer = require('./timer')
const { appendWhenIdle } = require('./append')

const FILE = 'writers.json'

class WriterRegistry extends ReadyResource {
  // isIndexer(): whether this host's remove-writer would be honoured (apply wants an active indexer)
  constructor ({ base, dataDir, idleMs, connected, sweeps = true, isIndexer = () => base.writable, log, stats }) {
    super()
    this.base = base
    this.connected = connected
    this.sweeps = sweeps
    this.isIndexer = isIndexer
    this.file = path.join(dataDir, FILE)
    this.idleMs = idleMs
    this.log = log
    this.stats = stats
    this.lastSeen = new Map() // hex key -> ms
    this.timer = new Timer(() => this.sweep(), Math.min(60000, Math.max(500, Math.floor(idleMs / 4))), {
      onerror: (err) => log.warn('writer sweep failed', { error: err.message })
    })
  }

  async _open () {
    if (fs.existsSync(this.file)) {
      const keys = JSON.parse(fs.readFileSync(this.file, 'utf8')).writers || []
      for (const k of keys) this.lastSeen.set(k, Date.now())
    }
    if (this.sweeps) this.timer.start()
  }

  async _close () {
    await this.timer.stop()
  }

  has (key) { return this.lastSeen.has(key) }

  add (key) {
    this.lastSeen.set(key, Date.now())
    this._save()
  }

  // A writer applied from the log (admitted by any host): saved with the next sweep.
  track (key) {
    if (!this.lastSeen.has(key)) this.lastSeen.set(key, Date.now())
  }

  seen (key) {
    if (this.lastSeen.has(key)) this.lastSeen.set(key, Date.now())
  }

  _save () {
    const tmp = this.file + '.tmp'
    fs.writeFileSync(tmp, JSON.stringify({ writers: [...this.lastSeen.keys()] }) + '\n')
    fs.renameSync(tmp, this.file)
  }

  // Writers whose removal is already in the log are forgotten; idle ones are removed.
  async sweep (now = Date.now()) {
    for (const key of this.connected()) this.seen(key)
    for (const [key, seen] of [...this.lastSeen]) {
      const buf = Buffer.from(key, 'hex')
      const info = await this.base.system.get(buf)
      if (!info || info.isRemoved) {
        if (info || now - seen >= this.idleMs) this.lastSeen.delete(key) // removed, or never applied
        continue
      }
      if (info.isIndexer || now - seen < this.idleMs || !this.isIndexer() || !this.base.removeable(buf)) continue
      await appendWhenIdle(this.base, { type: 'remove-writer', key })
      this.lastSeen.delete(key)
      this.stats.writersRemoved.inc()
      this.log.info('idle writer removed', { writerKey: key, idleSeconds: Math.round((now - seen) / 1000) })
    }
    this._save()
    this.stats.writers.set(this.base.system ? this.base.system.members : 0)
  }
}

module.exports = WriterRegistry
