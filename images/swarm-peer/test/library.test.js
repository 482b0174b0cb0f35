'use strict'
// The member library in process (issue 11): clients mesh without the host, a custom app with
// its own apply and view, the Timer.
const test = require('node:test')
const assert = require('node:assert')
const { testnet, secrets, startHost, startMember, closeAll, until, viewHas } = require('./inproc')
const { normally } = require('./helpers')
const Timer = require('../lib/timer')

let bootstrap
test.before(async () => { ({ bootstrap } = await testnet()) }, normally(1))
test.after(closeAll)

test('with the host closed, an entry written on client A reaches client B; both stay ready', normally(1), async (t) => {
  const topic = 'mesh-' + Date.now()
  const secret = secrets()
  const host = await startHost({ bootstrap, topic, secret })
  const a = await startMember({ bootstrap, topic, host, secret })
  const b = await startMember({ bootstrap, topic, host, secret })
  for (const m of [a, b]) await until(() => m.writable && m.readiness().ready, 30000, 'member writable and ready')
  await host.close()
  await until(() => a.hostConns().length === 0 && b.hostConns().length === 0, 15000, 'host gone')
  const t0 = Date.now()
  await a.base.append({ type: 'put', key: 'while-host-down', value: 1 })
  await until(() => viewHas(b, (e) => e.key === 'while-host-down'), 30000, 'B reads A without the host')
  t.diagnostic(`FIGURE host down: write on A read on B after ${Date.now() - t0} ms`)
  for (const m of [a, b]) {
    const r = m.readiness()
    assert.strictEqual(r.ready, true, r.reason)
    assert.strictEqual(m.status().hostConnected, false)
  }
})

// A counter app: its own view (a hyperbee-free JSON core of running totals) and apply.
const counterApp = {
  open: (store) => store.get('totals', { valueEncoding: 'json' }),
  async apply (nodes, view) {
    let total = view.length ? (await view.get(view.length - 1)).total : 0
    for (const { value } of nodes) {
      if (value.type !== 'add' || !Number.isInteger(value.n)) continue
      total += value.n
      await view.append({ total })
    }
  }
}

test('a custom app (own open/apply) runs on the library: host and member share its view', normally(1), async () => {
  const topic = 'custom-' + Date.now()
  const secret = secrets()
  const host = await startHost({ bootstrap, topic, secret, app: counterApp })
  const m = await startMember({ bootstrap, topic, host, secret, app: counterApp })
  await until(() => m.writable, 30000, 'member writable')
  await m.base.append({ type: 'add', n: 40 })
  await host.base.append({ type: 'add', n: 2 })
  const total = async (p) => { await p.base.update(); return p.base.view.length && (await p.base.view.get(p.base.view.length - 1)).total }
  await until(async () => (await total(host)) === 42 && (await total(m)) === 42, 15000, 'both views total 42')
  // The writer entry that admitted the member never reached the app's apply.
  assert.strictEqual(host.base.view.length, 2)
})

test('Timer: start, trigger runs at once and one run at a time, stop cancels', normally(1), async () => {
  let runs = 0
  let inFlight = 0
  let overlap = false
  const timer = new Timer(async () => {
    inFlight++
    if (inFlight > 1) overlap = true
    runs++
    await new Promise((resolve) => setTimeout(resolve, 50))
    inFlight--
  }, 60000)
  timer.start()
  await Promise.all([timer.trigger(), timer.trigger()])
  assert.strictEqual(runs, 1)
  assert.strictEqual(overlap, false)
  await timer.stop()
  await timer.trigger() // an explicit trigger still runs; nothing is scheduled after stop
  assert.strictEqual(runs, 2)
  assert.strictEqual(timer.timeout, null)
})
