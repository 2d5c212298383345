// visitorSession opens and renews a widget visitor's session through an
// inbox address. No sign-up: the server makes an anonymous visitor and
// returns a ticket, kept in this site's localStorage, with which the same
// browser comes back as the same visitor (and sees its conversation). A
// site that knows its customer passes a signed identity instead.

import { readJSON, ParleyError } from './client.js';
import { safeStorage } from './outbox.js';

const RENEW_BEFORE_MS = 5 * 60 * 1000;

export function visitorSession({ url, address, identity, storage = safeStorage(), onOpen }) {
  const base = String(url).replace(/\/+$/, '');
  const key = 'parley.visitor:' + base;
  const lastKey = 'parley.session:' + base;
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
    try {
      if (session.visitor) storage?.setItem(key, JSON.stringify(session.visitor));
      const { user, conversation_id, inbox } = session;
      storage?.setItem(lastKey, JSON.stringify({ address, user, conversation_id, inbox }));
    } catch { /* storage off: a new visitor next time */ }
    api.onOpen?.(session);
    return session;
  }

  // last is what the previous session of this browser knew (who the
  // visitor is, their conversation, how the inbox looks), so the widget
  // can show the conversation and take messages at once, even offline.
  function last() {
    try {
      const v = JSON.parse(storage?.getItem(lastKey) || 'null');
      return v && v.address === address && v.user?.id ? v : null;
    } catch {
      return null;
    }
  }

  // remember updates what the next page load starts from (the
  // conversation, once the first message has opened it).
  function remember(fields) {
    const v = last();
    if (!v) return;
    try {
      storage?.setItem(lastKey, JSON.stringify({ ...v, ...fields }));
    } catch { /* storage off */ }
  }

  const api = {
    onOpen, // called with each new session (the widget refreshes its look from it)
    open,
    last,
    remember,
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
  return api;
}

// widgetConfig reads an address's public look and status (what a closed
// widget shows). early is a response the page already asked for (the
// widget's loader starts this request while the modules load).
export async function widgetConfig(url, address, early) {
  const base = String(url).replace(/\/+$/, '');
  let res = await early;
  if (!res) {
    try {
      res = await fetch(`${base}/api/v1/widget/${encodeURIComponent(address)}`);
    } catch {
      throw new ParleyError('offline', 'the chat server cannot be reached');
    }
  }
  return readJSON(res);
}
