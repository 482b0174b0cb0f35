// Type declarations of @swarm-operator/member (index.js). Autobase, Corestore and Hypercore ship
// no types: the shapes an app uses from them are declared here, as narrow as the library relies on.
/// <reference types="node" />
import { EventEmitter } from 'events'

/** A writer policy of the topic (`spec.writers.policy`). */
export type WritersPolicy = 'Clients' | 'HostOnly' | 'Open'

/** What a peer logs through: one message and a flat object of fields per call. */
export interface Logger {
  info (msg: string, fields?: Record<string, unknown>): void
  warn (msg: string, fields?: Record<string, unknown>): void
  error (msg: string, fields?: Record<string, unknown>): void
}

/** A Hypercore (an Autobase view or a core of the store), as far as an app's open/apply use it. */
export interface Core<T = unknown> {
  readonly key: Buffer | null
  readonly length: number
  /** Entries below it are confirmed (signed by a quorum of the base's indexers). */
  readonly signedLength?: number
  ready (): Promise<void>
  get (index: number): Promise<T>
  append (value: T | T[]): Promise<unknown>
}

/** The namespaced Corestore an app's `open` gets. */
export interface Store {
  get<T = unknown> (name: string, opts?: { valueEncoding?: 'json' | 'utf-8' | 'binary' }): Core<T>
  get<T = unknown> (opts: { name?: string, key?: Buffer, valueEncoding?: 'json' | 'utf-8' | 'binary' }): Core<T>
}

/** One entry as `apply` gets it: the value its writer appended (JSON) and who wrote it. */
export interface ApplyNode<E = unknown> {
  readonly value: E
  readonly from: { readonly key: Buffer }
  readonly length?: number
  readonly indexed?: boolean
}

/**
 * An app on the base: Autobase's own `open` and `apply`. `apply` runs on every peer for every
 * entry: it must be deterministic and use only the entries. The library's membership entries
 * (`Member.isSystem(value)`) never reach it.
 */
export interface App<V = unknown, E = unknown> {
  open (store: Store, host?: unknown): V
  apply (nodes: ApplyNode<E>[], view: V, host: unknown): Promise<void> | void
  /** Host only: the first entry the creating host writes into a new base. */
  genesis? (topic: string): E
}

/** The Autobase of a topic, as an app reads and writes it. */
export interface Base<V = unknown, E = unknown> {
  readonly key: Buffer
  readonly discoveryKey: Buffer | null
  readonly view: V
  readonly writable: boolean
  readonly length: number
  append (value: E | null): Promise<unknown>
  update (): Promise<void>
}

/** Readiness, what `/readyz` answers: `reason` says why not (null when ready). */
export interface Readiness {
  ready: boolean
  reason: string | null
  writable: boolean
}

/** A member's own report (what the reference client serves as `/status`; not signed). */
export interface MemberStatus {
  role: 'client'
  topic: string
  bootstrapTopicHash: string
  baseKey: string | null
  writerKey: string | null
  discoveryKey: string | null
  hostPublicKey: string | null
  hostConnected: boolean
  membersConnected: number
  replicated: boolean
  viewLength: number
  signedLength: number
  unconfirmed: number
  writable: boolean
  writersPolicy: WritersPolicy
  peers: number
  offersIgnored: number
  conflictingOffers: number
}

/** A signed report: `payload` is JSON text, `signature` ed25519 over its UTF-8 bytes (hex). */
export interface SignedEnvelope {
  payload: string
  signature: string
  publicKey: string
}

export interface DhtNodeStatus {
  role: 'dht-bootstrap'
  host: string
  port: number
  nodes: number
}

/** What Member.config() reads from the SWARM_* environment (see docs/host-contract.md). */
export interface MemberConfig {
  role: 'client'
  topic: string
  baseKey: string | null
  hostPublicKey: string | null
  requireBootstrap: boolean
  bootstrap: string[] | null
  dhtHost: string | null
  writersPolicy: WritersPolicy
  memberSeed: Buffer | null
  encryptionKey: Buffer | null
  requestWriter: boolean
  offerTimeoutMs: number
  dataDir: string
  ephemeralDataDir: boolean
  statusPort: number
  appPort: number
  appHost: string
}

/** What Host.config() reads from the SWARM_* environment. */
export interface HostConfig {
  role: 'host'
  topic: string
  dataDir: string
  seed: Buffer
  ordinal: number
  replicas: number
  hostSeed: Buffer | null
  baseKey: string | null
  bootstrap: string[] | null
  dhtHost: string | null
  writersPolicy: WritersPolicy
  memberSeed: Buffer | null
  encryptionKey: Buffer | null
  watchdogIntervalMs: number
  acceptWriters: boolean
  writerIdleMs: number
  pairingPollMs: number
  ackIntervalMs: number
  statusPort: number
  appPort: number
  appHost: string
}

/** What DhtNode.config() reads from its arguments and the environment. */
export interface DhtNodeConfig {
  role: 'dht-bootstrap'
  dhtHost: string
  dhtPort: number
  statusPort: number
}

interface PeerOptions {
  log?: Logger
  /** Where the peer counts; default: a new Stats (the peer's `stats`). */
  stats?: Stats
}

export interface MemberOptions<V = unknown, E = unknown> extends Partial<Omit<MemberConfig, 'role' | 'topic'>>, PeerOptions {
  topic: string
  /** Default: the JSON log app (every entry appended to a JSON core). */
  app?: App<V, E>
  ackIntervalMs?: number
}

export interface HostOptions<V = unknown, E = unknown> extends Partial<Omit<HostConfig, 'role' | 'topic' | 'dataDir' | 'seed'>>, PeerOptions {
  topic: string
  dataDir: string
  /** The host's 32-byte identity seed (its pinned public key derives from it). */
  seed: Buffer
  app?: App<V, E>
}

export interface DhtNodeOptions extends PeerOptions {
  dhtHost: string
  dhtPort: number
}

declare class Resource extends EventEmitter {
  readonly opened: boolean
  readonly closed: boolean
  readonly opening: Promise<void> | null
  readonly closing: Promise<void> | null
  ready (): Promise<void>
  close (): Promise<void>
}

export interface Counter {
  readonly kind: 'counter'
  readonly key: string
  readonly name: string
  readonly help: string
  readonly value: number
  inc (n?: number): void
}

export interface Gauge {
  readonly kind: 'gauge'
  readonly key: string
  readonly name: string
  readonly help: string
  readonly value: number
  set (value: number): void
}

export interface Timing {
  readonly kind: 'timing'
  readonly key: string
  readonly name: string
  readonly help: string
  readonly count: number
  readonly sum: number
  readonly last: number | null
  observe (seconds: number): void
}

export type Instrument = Counter | Gauge | Timing

/**
 * A peer's stats as plain numbers: counters, gauges, and timings in seconds (each observation
 * also emitted as a 'timing' event). The reference program exports each as `swarm_peer_<name>`.
 */
export declare class Stats extends EventEmitter {
  constructor ()
  readonly announceFlush: Timing
  readonly firstPeer: Timing
  readonly replicated: Timing
  readonly connections: Gauge
  readonly dhtOnline: Gauge
  readonly ready: Gauge
  readonly viewLength: Gauge
  readonly offersIgnored: Counter
  readonly offersSent: Counter
  readonly reannounces: Counter
  readonly writersAdded: Counter
  readonly writersRemoved: Counter
  readonly writers: Gauge
  readonly writable: Gauge
  readonly pairingDenied: Counter
  readonly entriesIgnored: Counter
  readonly offersRefused: Counter
  readonly indexers: Gauge
  readonly indexer: Gauge
  readonly unconfirmed: Gauge
  readonly confirmNudges: Counter
  readonly pairingSilent: Counter
  readonly hostsPromoted: Counter
  readonly startedOver: Counter
  instruments (): Instrument[]
  toJSON (): Record<string, number | { count: number, sum: number, last: number | null }>
  on (event: 'timing', listener: (timing: Timing, seconds: number) => void): this
  on (event: string | symbol, listener: (...args: any[]) => void): this
  off (event: 'timing', listener: (timing: Timing, seconds: number) => void): this
  off (event: string | symbol, listener: (...args: any[]) => void): this
}

/** A member of a topic: an app's replica of the topic's base. */
export declare class Member<V = unknown, E = unknown> extends Resource {
  constructor (opts: MemberOptions<V, E>)
  /** The options from the SWARM_* environment; throws a ConfigError naming the variable. */
  static config (env?: NodeJS.ProcessEnv): MemberConfig
  /** Whether an entry's value is one of the library's own membership entries. */
  static isSystem (value: unknown): boolean
  readonly role: 'client'
  readonly stats: Stats
  /** The recorded base key (64 hex), or null until a key offer gave it. */
  readonly baseKey: string | null
  /** The base, once opening it has begun (its view is ready once `ready()` resolved). */
  readonly base: Base<V, E> | null
  /** This member's writer key (64 hex) once the base is open. */
  readonly writerKey: string | null
  /** Whether this member may append (the topic's policy admitted it). */
  readonly writable: boolean
  readonly replicated: boolean
  /** Peers replicating the base with this member (the host or other members). */
  membersConnected (): number
  readiness (): Readiness
  status (): MemberStatus
}

/** The bootstrap host of a topic (host n of N). */
export declare class Host<V = unknown, E = unknown> extends Resource {
  constructor (opts: HostOptions<V, E>)
  static config (env?: NodeJS.ProcessEnv): HostConfig
  readonly role: 'host'
  readonly stats: Stats
  readonly ordinal: number
  readonly replicas: number
  readonly keyPair: { readonly publicKey: Buffer, readonly secretKey: Buffer }
  readonly base: Base<V, E> | null
  readonly writerKey: string
  isIndexer (): boolean
  readiness (): Readiness
  /** The signed report (a 64-hex `nonce` is signed into it), or null before the first announce. */
  status (opts?: { nonce?: string | null }): SignedEnvelope | null
  /** 'fatal': the host could not start over; its process should exit (the kubelet restarts it). */
  on (event: 'fatal', listener: (err: Error) => void): this
  /** 'report': the first announce has flushed; `status()` is not null from now on (a status port's long poll). */
  on (event: 'report', listener: () => void): this
  on (event: string | symbol, listener: (...args: any[]) => void): this
}

/** A private DHT bootstrap node. */
export declare class DhtNode extends Resource {
  constructor (opts: DhtNodeOptions)
  static config (argv?: string[], env?: NodeJS.ProcessEnv): DhtNodeConfig
  readonly role: 'dht-bootstrap'
  readonly stats: Stats
  readiness (): Readiness
  status (): DhtNodeStatus
}

/** A configuration problem: its message is one line naming the variable. */
export declare class ConfigError extends Error {}
