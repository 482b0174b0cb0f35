'use strict'
// The tiny application on the Autobase: a JSON log. Entries:
//   {type: 'genesis', topic, at}          written once by the host that creates the base
//   {type: 'put', key, value, at, by}     application data (any writer)
//   {type: 'add-writer', key}             host-only: makes `key` a non-indexer writer
// The view is a hypercore of the applied entries (add-writer included, so it is auditable).

function handlers () {
  return {
    valueEncoding: 'json',
    open (store) {
      return store.get('view', { valueEncoding: 'json' })
    },
    async apply (nodes, view, host) {
      for (const node of nodes) {
        const value = node.value
        if (!value || typeof value !== 'object') continue
        if (value.type === 'add-writer') {
          if (typeof value.key !== 'string' || !/^[0-9a-f]{64}$/.test(value.key)) continue
          await host.addWriter(Buffer.from(value.key, 'hex'), { indexer: false })
        }
        await view.append(value)
      }
    }
  }
}

module.exports = { handlers }
