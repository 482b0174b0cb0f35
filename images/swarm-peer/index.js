'use strict'
// swarm-peer as a library: the pieces a Hyperswarm/Autobase app needs to run on a SwarmTopic.
//   Member   a topic member (an app's replica): opens the recorded base with the app's
//            open/apply, pins the host, meshes with the other members, becomes a writer by
//            the topic's policy, reports readiness
//   Host     the bootstrap host (what `swarm-peer host` runs)
//   Program  the status port (+ the app's own local API) around a peer
//   config   the SWARM_* environment as options: config.client(env), config.host(env)
// See docs/your-app.md.
const Member = require('./lib/member')
const Host = require('./lib/host')
const DhtNode = require('./lib/dht-bootstrap')
const Program = require('./lib/program')
const HttpServer = require('./lib/http-server')
const config = require('./lib/config')
const log = require('./lib/log')
const { createMetrics } = require('./lib/metrics')
const { runUntilSignal } = require('./lib/run')
const { isSystem } = require('./lib/system-apply')

module.exports = { Member, Host, DhtNode, Program, HttpServer, config, log, createMetrics, runUntilSignal, isSystem }
