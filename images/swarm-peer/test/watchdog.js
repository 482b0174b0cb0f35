'use strict'
// A test process whose event loop stops turning (a loop that never yields: no timer fires, so
// neither node:test's timeout nor until() can fail the test) is found by a worker thread: when the
// main thread has not ticked for STALL_MS it profiles the main thread for PROFILE_MS (the inspector
// reaches a thread that is busy), writes the profile to the temporary directory and prints the
// functions the time went to on stderr (written from the worker: the main thread cannot). The
// run is then ended by --test-timeout (package.json).
const { Worker } = require('worker_threads')

const STALL_MS = +(process.env.WD_STALL || 30000)
const PROFILE_MS = 10000

function start () {
  const beat = new Int32Array(new SharedArrayBuffer(4))
  const t0 = Date.now()
  setInterval(() => Atomics.store(beat, 0, Math.floor((Date.now() - t0) / 250)), 250).unref()
  const worker = new Worker(WORKER, { eval: true, workerData: { beat, stallMs: STALL_MS, profileMs: PROFILE_MS, file: require.main ? require.main.filename : process.argv[1] } })
  worker.on('error', () => {})
  worker.unref()
}

const WORKER = `
const fs = require('fs')
const os = require('os')
const path = require('path')
const { Session } = require('inspector')
const { workerData: { beat, stallMs, profileMs, file } } = require('worker_threads')
const say = (s) => fs.writeSync(2, s + '\\n')
let last = -1
let since = Date.now()
let busy = false
setInterval(() => {
  const v = Atomics.load(beat, 0)
  if (v !== last) { last = v; since = Date.now(); return }
  if (busy || Date.now() - since < stallMs) return
  busy = true
  say('watchdog: the event loop of ' + path.basename(file) + ' has not turned for ' + Math.round((Date.now() - since) / 1000) + ' s; profiling it for ' + profileMs / 1000 + ' s')
  const s = new Session()
  s.connectToMainThread()
  s.post('Profiler.enable', () => s.post('Profiler.start', () => setTimeout(() => s.post('Profiler.stop', (err, r) => {
    if (err) { say('watchdog: profiling failed: ' + err.message); return }
    const out = path.join(os.tmpdir(), 'stalled-' + process.pid + '-' + Date.now() + '.cpuprofile')
    fs.writeFileSync(out, JSON.stringify(r.profile))
    say('watchdog: profile ' + out)
    for (const line of summary(r.profile)) say('watchdog: ' + line)
    // (profiled once per stall: the next one once the loop turned again)
    const wait = setInterval(() => { if (Atomics.load(beat, 0) !== last) { clearInterval(wait); busy = false } }, 1000)
  }), profileMs)))
}, 1000)

// The frames with the most samples (self time), and the stack of the busiest one.
function summary (profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id)
  const self = new Map()
  for (const id of profile.samples) self.set(id, (self.get(id) || 0) + 1)
  const name = (n) => (n.callFrame.functionName || '(anonymous)') + ' ' + n.callFrame.url.replace(/^.*node_modules\\//, '') + ':' + (n.callFrame.lineNumber + 1)
  const byFrame = new Map()
  for (const [id, c] of self) { const k = name(nodes.get(id)); byFrame.set(k, (byFrame.get(k) || 0) + c) }
  const total = profile.samples.length || 1
  const lines = [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, c]) => (100 * c / total).toFixed(1) + '% ' + k)
  const top = [...self].sort((a, b) => b[1] - a[1])[0]
  if (top) {
    lines.push('stack of the busiest frame:')
    for (let id = top[0], i = 0; nodes.has(id) && i < 40; id = parent.get(id), i++) lines.push('  ' + name(nodes.get(id)))
  }
  return lines
}
`

module.exports = { start }
