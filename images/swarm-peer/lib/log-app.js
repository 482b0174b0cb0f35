'use strict'
// The JSON log app, the default app of a Host or Member (the reference peer runs it): every
// entry an app writes, in order. Its entries:
//   {type: 'genesis', topic, at}       written once by the host that creates the base
//   {type: 'put', key, value, at, by}  the reference peer's application data (any writer)
// The view is a hypercore of the applied entries. Membership entries (add-writer, ...) never
// reach it: the library applies them (lib/system-apply.js).

const logApp = {
  genesis (topic) {
    return { type: 'genesis', topic, at: new Date().toISOString() }
  },
  open (store) {
    return store.get('view', { valueEncoding: 'json' })
  },
  async apply (nodes, view) {
    for (const node of nodes) {
      if (node.value && typeof node.value === 'object') await view.append(node.value)
    }
  }
}

module.exports = { logApp }
