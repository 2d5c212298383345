// Outbox: messages written while offline (or not yet acknowledged), kept in
// localStorage so they survive a reload and are sent once on reconnect. A
// message keeps its client_id from the moment it is written, and the server
// treats a resend with the same client_id as the same message: whatever
// happens to the connection, each one is delivered exactly once.

export class Outbox {
  constructor(key, storage = safeStorage()) {
    this.key = key;
    this.storage = storage;
    this.items = this.load();
  }

  load() {
    try {
      const v = JSON.parse(this.storage?.getItem(this.key) || '[]');
      return Array.isArray(v) ? v : [];
    } catch {
      return [];
    }
  }

  save() {
    try {
      // Only text survives a reload: files stay in memory.
      const durable = this.items.filter((m) => !m.file);
      this.storage?.setItem(this.key, JSON.stringify(durable.map(({ file, progress, localURL, ...m }) => m)));
    } catch {
      /* storage full or disabled: the queue still works in memory */
    }
  }

  add(item) {
    this.items.push(item);
    this.save();
  }

  remove(clientId) {
    this.items = this.items.filter((m) => m.client_id !== clientId);
    this.save();
  }

  update(clientId, fields) {
    const m = this.items.find((x) => x.client_id === clientId);
    if (m) Object.assign(m, fields);
    this.save();
  }

  // The inbox's conversation did not exist when these were written.
  retarget(from, to) {
    let changed = false;
    for (const m of this.items) if (m.conversation_id === from) { m.conversation_id = to; changed = true; }
    if (changed) this.save();
  }
}

export function safeStorage() {
  try {
    const s = globalThis.localStorage;
    s.setItem('parley.probe', '1');
    s.removeItem('parley.probe');
    return s;
  } catch {
    return null; // private mode, sandboxed iframe: work in memory
  }
}
