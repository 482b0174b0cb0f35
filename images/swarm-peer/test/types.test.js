'use strict'
// The declarations (index.d.ts) against the typed example (test/typed/app.ts), with the pinned
// TypeScript of devDependencies: `tsc --noEmit` in a project that finds this package through
// node_modules (so the `exports` map and its `types` condition are what resolve it). The packed
// tarball gets the same check in tests/packaging/test_member_library.py.
const test = require('node:test')
const assert = require('node:assert')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { spawnSync } = require('child_process')

const ROOT = path.join(__dirname, '..')

test('tsc --noEmit accepts the typed example, and its @ts-expect-error misuses are errors', () => {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'typed-member-'))
  const modules = path.join(project, 'node_modules')
  fs.mkdirSync(path.join(modules, '@swarm-operator'), { recursive: true })
  fs.mkdirSync(path.join(modules, '@types'))
  fs.symlinkSync(ROOT, path.join(modules, '@swarm-operator', 'member'))
  fs.symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(modules, '@types', 'node'))
  fs.symlinkSync(path.join(ROOT, 'node_modules', 'undici-types'), path.join(modules, 'undici-types'))
  for (const name of ['app.ts', 'tsconfig.json']) fs.copyFileSync(path.join(__dirname, 'typed', name), path.join(project, name))
  fs.writeFileSync(path.join(project, 'package.json'), '{"name": "typed-example", "private": true}\n')
  try {
    const tsc = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', '.'], { cwd: project, encoding: 'utf8', timeout: 120000 })
    assert.strictEqual(tsc.status, 0, tsc.stdout + tsc.stderr)
    // The misuses are checked: without them marked, each is an error.
    const app = fs.readFileSync(path.join(project, 'app.ts'), 'utf8')
    const expected = app.match(/^ *\/\/ @ts-expect-error/gm).length
    fs.writeFileSync(path.join(project, 'app.ts'), app.replace(/^( *)\/\/ @ts-expect-error/gm, '$1//'))
    const loose = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', '.'], { cwd: project, encoding: 'utf8', timeout: 120000 })
    assert.strictEqual((loose.stdout.match(/error TS/g) || []).length, expected, loose.stdout)
  } finally {
    fs.rmSync(project, { recursive: true, force: true })
  }
})
