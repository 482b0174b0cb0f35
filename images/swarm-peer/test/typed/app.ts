// A typed app on @swarm-operator/member, compiled with `tsc --noEmit` against the packed library
// (tests/packaging/test_member_library.py). Lines marked @ts-expect-error are misuses the
// declarations must reject: if they were too loose (any), tsc fails on the unused directive.
import { Member, Host, Stats, ConfigError, type App, type Core, type Readiness, type MemberStatus } from '@swarm-operator/member'

interface Put { type: 'put', key: string, value: number }
interface Total { total: number }

// An app with its own view: running totals of the `put` values.
const totals: App<Core<Total>, Put> = {
  open: (store) => store.get<Total>('totals', { valueEncoding: 'json' }),
  async apply (nodes, view) {
    let total = view.length ? (await view.get(view.length - 1)).total : 0
    for (const node of nodes) {
      if (Member.isSystem(node.value) || node.value.type !== 'put') continue
      total += node.value.value
      await view.append({ total })
    }
  }
}

export async function run (env: NodeJS.ProcessEnv): Promise<number> {
  let cfg
  try {
    cfg = Member.config(env)
  } catch (err) {
    if (err instanceof ConfigError) return -1
    throw err
  }
  const stats = new Stats()
  stats.on('timing', (timing, seconds) => console.log(timing.name, seconds.toFixed(3)))
  const member = new Member({ ...cfg, app: totals, stats })
  await member.ready()
  const r: Readiness = member.readiness()
  const s: MemberStatus = member.status()
  if (member.writable && member.base) await member.base.append({ type: 'put', key: 'a', value: 40 })
  const view = member.base ? member.base.view : null
  const last = view && view.length ? (await view.get(view.length - 1)).total : 0
  console.log(r.ready, r.reason, s.baseKey, member.stats.offersIgnored.value, stats.toJSON().firstPeer)
  await member.close()
  return last
}

export function host (seed: Buffer): Host {
  const h = new Host({ topic: 'typed', dataDir: '/tmp/typed-host', seed, replicas: 1 })
  h.on('fatal', (err) => console.error(err.message))
  return h
}

export function misuses (m: Member<Core<Total>, Put>): void {
  // @ts-expect-error a member needs its topic
  void new Member({ dataDir: '/tmp/x' })
  // @ts-expect-error writersPolicy is one of Clients, HostOnly, Open
  void new Member({ topic: 't', writersPolicy: 'Everyone' })
  // @ts-expect-error a host needs its identity seed
  void new Host({ topic: 't', dataDir: '/tmp/h' })
  // @ts-expect-error the app's entries are Put: a total is not one
  void m.base?.append({ total: 1 })
  // @ts-expect-error a counter has no set (it only grows)
  m.stats.offersSent.set(3)
  // @ts-expect-error readiness() has no `ok`
  void m.readiness().ok
}
