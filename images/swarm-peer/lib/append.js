'use strict'
// base.append() without autobase 7.28's livelock. Its append() loops on _bump() until the entry
// is flushed, and it flushes only once the local writer is idle (the linearizer holds every
// block of the local core). A host restored on its old key (lib/host-restore.js) has blocks in
// its local core that depend on other writers' blocks it has not downloaded yet: until they
// come, _bump() resolves with no I/O, append() spins on resolved promises and the event loop
// never turns, so the download that would end it never happens (seen in the restore tests: a
// restored host's seat appending its slot, 100 % CPU, no timer firing again). So the library
// appends only while the local writer is idle: appendWhenIdle() waits for that, yielding to the
// event loop, and throws LOCAL_WRITER_BUSY after `timeoutMs` (the caller's next round tries
// again). (`localWriter` and `idle()` are autobase's own, pinned 7.28.x.)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

class LocalWriterBusy extends Error {
  constructor (ms) {
    super(`the local writer is still applying its own log after ${ms} ms: not appending`)
    this.code = 'LOCAL_WRITER_BUSY'
  }
}

// Whether the base's local writer has blocks of its own core the linearizer does not hold yet.
function localWriterBusy (base) {
  const w = base && base.localWriter
  return !!w && !w.closed && typeof w.idle === 'function' && !w.idle()
}

async function appendWhenIdle (base, value, { timeoutMs = 10000, pollMs = 100 } = {}) {
  const t0 = Date.now()
  while (localWriterBusy(base)) {
    if (Date.now() - t0 >= timeoutMs) throw new LocalWriterBusy(timeoutMs)
    await sleep(pollMs)
  }
  return base.append(value)
}

// Autobase's own acks append(null) the same way (its ack timer, and every update while it is a
// pending indexer): on a host, base.ack is wrapped to skip an ack while the local writer is busy
// (an ack before the host's own log is applied is early anyway; the next comes with the timer or
// the next update).
function deferAcksWhileBusy (base) {
  const ack = base.ack
  base.ack = function (...args) {
    return localWriterBusy(this) ? Promise.resolve() : ack.apply(this, args)
  }
}

module.exports = { appendWhenIdle, localWriterBusy, deferAcksWhileBusy, LocalWriterBusy }
