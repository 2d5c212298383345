// The visitor's details beside the conversation: who they are, where they
// are right now (live, from inbox:visitor), their browser, local time,
// language and address, and when they came first and last.

import { h } from '../ui/dom.js';
import { icons } from '../ui/icons.js';
import { localTime, STATUS_LABEL } from '../ui/format.js';
import { more, avatar, setAvatar, dateTime, since, language, explain } from './kit.js';

export class DetailsPanel {
  constructor(app) {
    this.app = app;
    this.id = null;
    this.closeBtn = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close visitor details', title: 'Close', html: icons.close, onclick: () => app.toggleDetails(false) });
    this.body = h('div', { class: 'details-body' });
    this.el = h('aside', { id: 'details', class: 'details glass', 'aria-label': 'Visitor details', tabindex: '-1' },
      h('header', { class: 'details-head' }, h('h2', {}, 'Visitor'), this.closeBtn),
      this.body);
  }

  destroy() {}

  focus() {
    this.closeBtn.focus();
  }

  open(id) {
    this.id = id;
    this._error = null;
    this.render();
    if (id) this.fetch(id);
  }

  async fetch(id) {
    try {
      const d = await this.app.client.api('GET', `/conversations/${encodeURIComponent(id)}/visitor`);
      this.app.details.set(id, d);
      if (d.user_id && !this.app.visitorOf.has(id)) {
        this.app.visitorOf.set(id, d.user_id);
        this.app._refreshPresence(true);
      }
      this._error = null;
    } catch (e) {
      if (!this.app.details.has(id)) this._error = e.code === 'offline' ? 'The details will load when the connection is back.' : explain(e, 'The details were not loaded');
    }
    if (this.id === id) {
      this.render();
      this.app.changed();
    }
  }

  // refresh re-renders for a presence change (cheap: only the status line).
  refresh() {
    if (this._statusEl) this._statusEl.replaceChildren(...this._status());
    const d = this.id && this.app.details.get(this.id);
    const ls = d && this.body.querySelector('[data-field="last_seen"]');
    if (ls) ls.textContent = this._lastSeen(d);
  }

  tick() {
    if (!this.id) return;
    const d = this.app.details.get(this.id);
    if (!d) return;
    const lt = this.body.querySelector('[data-field="local_time"]');
    if (lt) lt.textContent = localTime(d.timezone) || 'Unknown';
    const ls = this.body.querySelector('[data-field="last_seen"]');
    if (ls) ls.textContent = this._lastSeen(d);
    this.refresh();
  }

  // _lastSeen: "Online now", or the later of the session's and the presence's times.
  _lastSeen(d) {
    const p = this.app.visitorPresence(this.id);
    if (p?.status === 'online') return 'Online now';
    const t = [d.last_seen, p?.last_seen].filter(Boolean).sort((a, b) => Date.parse(b) - Date.parse(a))[0];
    return seenText(t);
  }

  _status() {
    const app = this.app;
    const p = app.visitorPresence(this.id);
    const st = p?.status || 'offline';
    const conv = app.client.convs.get(this.id);
    const typing = conv && [...conv.typing].some((u) => !app.isStaff(u));
    return [h('span', { class: `dot ${typing ? 'typing' : st}`, 'aria-hidden': 'true' }), typing ? 'Typing…' : STATUS_LABEL[st] || st];
  }

  render() {
    const id = this.id;
    if (!id) {
      this.body.replaceChildren();
      return;
    }
    const d = this.app.details.get(id);
    const conv = this.app.client.convs.get(id);
    const name = conv?.info.name || d?.display_name || 'Visitor';
    this._statusEl = h('span', { class: 'status-line', 'data-field': 'status' }, ...this._status());
    const profile = h('div', { class: 'profile' },
      avatar(name, { size: 'lg' }),
      h('div', { class: 'profile-text' },
        h('strong', { 'data-field': 'name' }, name),
        h('div', { class: 'profile-meta' },
          d ? h('span', { class: `chip ${d.identified ? 'chip-ok' : ''}`, 'data-field': 'identified', title: d.identified ? 'The website told us who this is (a signed identity).' : 'Not signed in on the website: known by this browser only.' },
            d.identified ? 'Identified' : 'Anonymous') : null,
          this._statusEl)));
    if (!d) {
      this.body.replaceChildren(profile, this._error
        ? h('p', { class: 'details-error', role: 'status' }, this._error)
        : h('div', { class: 'details-loading', 'aria-busy': 'true' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading details…'));
      return;
    }
    const page = d.page_url
      ? h('div', { class: 'page-card' },
        h('span', { class: 'page-title', 'data-field': 'page_title' }, d.page_title || 'Untitled page'),
        h('a', { href: httpOnly(d.page_url), target: '_blank', rel: 'noopener noreferrer', class: 'page-url', 'data-field': 'page_url', title: d.page_url }, d.page_url))
      : h('span', { class: 'none', 'data-field': 'page_url' }, 'Not known yet');
    const tz = d.timezone ? h('small', {}, d.timezone.replace(/_/g, ' ')) : null;
    this.body.replaceChildren(
      profile,
      section('Right now', [
        row(more.eye, 'Current page', page),
        d.referrer ? row(more.arrowIn, 'Came from', h('a', { href: httpOnly(d.referrer), target: '_blank', rel: 'noopener noreferrer', 'data-field': 'referrer', title: d.referrer }, prettyURL(d.referrer))) : null,
        row(more.clock, 'Local time', h('span', {}, h('span', { 'data-field': 'local_time' }, localTime(d.timezone) || 'Unknown'), tz)),
      ]),
      section('Device', [
        row(more.monitor, 'Browser', h('span', { 'data-field': 'browser', title: d.user_agent || '' }, d.browser || shortUA(d.user_agent) || 'Unknown')),
        row(more.lang, 'Language', h('span', { 'data-field': 'locale' }, d.locale ? `${language(d.locale)}` : 'Unknown', d.locale ? h('small', {}, d.locale) : null)),
        row(more.net, 'IP address', h('span', { 'data-field': 'ip', class: 'mono' }, d.ip || 'Unknown')),
      ]),
      section('Visits', [
        row(more.calendar, 'First seen', h('span', { 'data-field': 'first_seen', title: dateTime(d.first_seen) }, dateTime(d.first_seen) || 'Unknown')),
        row(more.sparkle, 'Last seen', h('span', { 'data-field': 'last_seen', title: dateTime(d.last_seen) }, this._lastSeen(d))),
      ]),
    );
  }
}

function section(title, rows) {
  return h('section', { class: 'facts' }, h('h3', {}, title), h('dl', {}, ...rows.filter(Boolean)));
}

function row(icon, label, value) {
  return h('div', { class: 'fact' }, h('dt', {}, h('span', { class: 'fact-icon', html: icon }), label), h('dd', {}, value));
}

function seenText(iso) {
  const s = since(iso);
  return s ? (s === 'just now' ? 'Just now' : s.charAt(0).toUpperCase() + s.slice(1)) : 'Unknown';
}

// prettyURL: "shop.example.com/pricing" (the full URL is the title and the link).
function prettyURL(u) {
  try {
    const x = new URL(u);
    const path = (x.pathname === '/' ? '' : x.pathname) + x.search;
    return x.host + (path.length > 60 ? path.slice(0, 57) + '…' : path);
  } catch {
    return u;
  }
}

function shortUA(ua) {
  if (!ua) return '';
  return ua.length > 48 ? ua.slice(0, 45) + '…' : ua;
}

// httpOnly keeps http(s) links only (the server already drops others;
// a javascript: URL must never become a link here).
function httpOnly(u) {
  return /^https?:\/\//i.test(u || '') ? u : undefined;
}
