'use strict'
// A member's /status while its base is still opening: Member sets `this.base` before the base's
// ready() resolves, when Autobase's discoveryKey and view are still null. The report must answer
// (base fields empty), not throw (it answered 500 "Cannot read properties of null").

const test = require('node:test')
const assert = require('node:assert')
const Member = require('../lib/member')

test('status while the base is opening reports no base instead of throwing', () => {
  const opening = {
    opts: { topic: 'chat', hostPublicKey: 'aa'.repeat(32), writersPolicy: 'Clients' },
    bootTopic: Buffer.alloc(32),
    baseKey: 'bb'.repeat(32),
    writerKey: null,
    base: { discoveryKey: null, view: null },
    replicator: null,
    replicated: false,
    writable: false,
    inbox: { ignored: 0, conflicting: 0 },
    membersConnected: () => 0,
    hostConns: () => []
  }
  const report = Member.prototype.status.call(opening)
  assert.strictEqual(report.discoveryKey, null)
  assert.strictEqual(report.viewLength, 0)
  assert.strictEqual(report.baseKey, 'bb'.repeat(32))
})
