// visitorSession opens and renews a widget visitor's session through an
// inbox address. No sign-up: the server makes an anonymous visitor and
// returns a ticket, kept in this site's localStorage, with which the same
// browser comes back as the same visitor (and sees its conversation). A
// site that knows its customer passes a signed identity instead.

import { readJSON, ParleyError } from './client.js';
import { safeStorage } from './outbox.js';

const RENEW_BEFORE_MS = 5 * 60 * 1000;

export function visitorSession({ url, address, identity, storage = safeStorage() }) {
  const base = String(url).replace(/\/+$/, '');
  const key = 'parley.visitor:' + base;
  let session = null;

  function stored() {
    try {
      const v = JSON.parse(storage?.getItem(key) || 'null');
      return v && typeof v.id === 'string' && typeof v.ticket === 'string' ? v : undefined;
    } catch {
      return undefined;
    }
  }

  async function open() {
    const body = {
      visitor: identity ? undefined : stored(),
      identity: identity || undefined,
      page_url: location.href,
      page_title: document.title,
      referrer: document.referrer || undefined,
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      locale: navigator.language,
    };
    let res;
    try {
      res = await fetch(`${base}/api/v1/widget/${encodeURIComponent(address)}/session`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
    } catch {
      throw new ParleyError('offline', 'the chat server cannot be reached');
    }
    session = await readJSON(res);
    if (session.visitor) {
      try {
        storage?.setItem(key, JSON.stringify(session.visitor));
      } catch { /* storage off: a new visitor next time */ }
    }
    return session;
  }

  return {
    open,
    get current() {
      return session;
    },
    // token is the Client's token source: a new session when there is
    // none, when the server refused the last token, or when it is about to
    // expire (the same visitor each time).
    async token({ refresh } = {}) {
      if (!session || refresh || Date.parse(session.expires_at) - Date.now() < RENEW_BEFORE_MS) await open();
      return session.token;
    },
  };
}
