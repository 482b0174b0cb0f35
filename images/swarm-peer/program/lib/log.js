'use strict'
// JSON-lines logger on stdout: one object per line.
let role = 'swarm-peer'

function setRole (r) { role = r }

function write (level, msg, fields) {
  const line = { time: new Date().toISOString(), level, role, msg, ...(fields || {}) }
  process.stdout.write(JSON.stringify(line) + '\n')
}

module.exports = {
  setRole,
  info: (msg, fields) => write('info', msg, fields),
  warn: (msg, fields) => write('warn', msg, fields),
  error: (msg, fields) => write('error', msg, fields)
}
