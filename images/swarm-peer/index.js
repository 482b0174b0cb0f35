'use strict'
// @swarm-operator/member: the member library of swarm-operator, the pieces a Hyperswarm/Autobase
// app needs to run on a SwarmTopic. Its classes:
//   Member       a topic member (an app's replica): opens the recorded base with the app's
//                open/apply, pins the host, meshes with the other members, becomes a writer by
//                the topic's policy, reports readiness and status. Member.config(env) reads the
//                SWARM_* environment; Member.isSystem(value) tells the library's own entries.
//   Host         the bootstrap host (what `swarm-peer host` runs); Host.config(env)
//   DhtNode      a private DHT bootstrap node; DhtNode.config(argv, env)
//   Stats        a peer's counters, gauges and timings as plain numbers (peer.stats)
//   ConfigError  what the config functions throw: one line naming the variable
// No HTTP server, no metrics library, no process handling: a program adds those (the reference
// peer: program/ in this repository). See docs/your-app.md.
const Member = require('./lib/member')
const Host = require('./lib/host')
const DhtNode = require('./lib/dht-bootstrap')
const Stats = require('./lib/stats')
const { ConfigError } = require('./lib/config')

module.exports = { Member, Host, DhtNode, Stats, ConfigError }
