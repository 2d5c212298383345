// Rooms and broadcasts in the console: a dialog (the toolbar's "Rooms")
// lists the account's group call rooms, with New room, Join and Copy link,
// and its broadcast channels, with Go live and Watch. A room or a channel
// opens full screen (web/ui/roomscreen.js). Links: /console/#room=ROOM_ID
// joins a room, /console/#watch=CHANNEL watches a broadcast.

import '../sdk/room.js'; // client.rooms
import { h } from '../ui/dom.js';
import { icons } from '../ui/icons.js';
import { RoomScreen, roomCSS } from '../ui/roomscreen.js';
import { field, copyButton, toast, explain, dateTime } from './kit.js';

let sheet = null;

export function roomLink(id) {
  return `${location.origin}/console/#room=${encodeURIComponent(id)}`;
}

export function watchLink(channel) {
  return `${location.origin}/console/#watch=${encodeURIComponent(channel)}`;
}

function problem(e, what) {
  switch (e?.code) {
    case 'media_denied':
      return 'The camera or microphone is not available: allow them for this site and try again.';
    case 'room_full':
      return 'The room is full.';
    case 'channel_busy':
      return 'Someone is already live on this channel.';
    case 'not_found':
      return 'That room does not exist any more.';
    case 'unavailable':
      return 'This server runs without group calls.';
  }
  return explain(e, what);
}

// RoomManager shows one room or broadcast at a time, over the whole console.
export class RoomManager {
  constructor(app) {
    this.app = app;
    this.screen = null;
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(roomCSS + `
.room-overlay { position: fixed; inset: 0; z-index: 60; }
.room-overlay .call-screen { border-radius: 0; }
.rooms-list { list-style: none; margin: 0; padding: 0; }
.rooms-list li { display: flex; align-items: center; gap: 12px; padding: 10px 0; border-top: 1px solid var(--line); }
.rooms-list li:first-child { border-top: 0; padding-top: 2px; }
.rooms-list .live-dot { width: 9px; height: 9px; border-radius: 50%; background: #ef4444; box-shadow: 0 0 0 3px rgba(239, 68, 68, .2); flex: none; }
.rooms-new { display: flex; align-items: flex-end; gap: 10px; margin-bottom: 14px; }
.rooms-new .field { flex: 1; }
.rooms-new .btn { height: 44px; }
.rooms-list li.rec-item { flex-wrap: wrap; }
.rec-item .member { flex-basis: 200px; }
.rec-item .btn svg { width: 15px; height: 15px; }
`);
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    }
  }

  get busy() {
    return !!this.screen;
  }

  // open joins a room (kind room) or a channel (publish or watch).
  async open({ room, title = '', channel, publish = false }) {
    if (this.screen) {
      toast('Leave the room you are in first.', true);
      return;
    }
    if (this.app.calls?.busy) {
      toast('Finish your call first.', true);
      return;
    }
    const rooms = this.app.client.rooms;
    let r;
    try {
      r = room ? await rooms.join(room) : publish ? await rooms.publish(channel) : await rooms.watch(channel);
    } catch (e) {
      toast(problem(e, room ? 'You could not join the room' : 'The broadcast did not start'), true);
      return;
    }
    const overlay = h('div', { class: 'room-overlay' });
    const screen = new RoomScreen({
      room: r, title: title || r.info?.name || (channel ? channel : 'Group call'),
      link: room ? roomLink(r.id) : watchLink(r.channel),
      linkNote: room ? undefined : 'The link is copied: anyone in your team who opens it watches this broadcast.',
      onClose: () => this.close(),
      onRecord: this.app.isOwner ? (on) => this.app.client.api(on ? 'POST' : 'DELETE', `/rooms/${encodeURIComponent(r.id)}/recording`) : null,
    });
    overlay.append(screen.el);
    document.body.append(overlay);
    this.screen = screen;
    this.overlay = overlay;
    this.app.chat?.renderHeader(); // the call buttons wait while we are in a room
    r.addEventListener('closed', () => {
      if (r.reason === 'left') this.close();
    });
  }

  close() {
    this.screen?.destroy();
    this.overlay?.remove();
    this.screen = this.overlay = null;
    this.app.chat?.renderHeader();
    if (/^#(room|watch)=/.test(location.hash)) history.replaceState(history.state, '', location.pathname + location.search);
  }

  destroy() {
    this.close();
    this.view?.destroy();
  }

  // fromHash joins the room or watches the channel a link names.
  fromHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    const room = p.get('room');
    const watch = p.get('watch');
    if (!room && !watch) return false;
    const go = () => (room ? this.open({ room }) : this.open({ channel: watch }));
    if (this.app.client.connected) go();
    else this.app.client.addEventListener('connected', go, { once: true });
    return true;
  }

  openList(returnTo) {
    if (!this.view) this.view = new RoomsView(this);
    this.view.open(returnTo);
  }
}

// RoomsView is the Rooms dialog.
class RoomsView {
  constructor(mgr) {
    this.mgr = mgr;
    this.app = mgr.app;
    this.closeBtn = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close rooms', title: 'Close (Esc)', html: icons.close, onclick: () => this.close() });
    this.nameInput = field({ label: 'New room', placeholder: 'Standup, Design review…', maxlength: 200 });
    this.createBtn = h('button', { type: 'button', class: 'btn primary', onclick: () => this._create() }, 'Create');
    this.roomList = h('ul', { class: 'rooms-list' });
    this.channelInput = field({ label: 'Go live on a channel', placeholder: 'studio', maxlength: 64, pattern: '[A-Za-z0-9_-]{1,64}' });
    this.liveBtn = h('button', { type: 'button', class: 'btn primary', onclick: () => this._goLive() }, 'Go live');
    this.channelList = h('ul', { class: 'rooms-list' });
    const card = (title, lead, ...children) => h('section', { class: 'card' }, h('h3', {}, title), h('p', { class: 'card-lead' }, lead), ...children);
    this.recList = h('ul', { class: 'rooms-list' });
    this.content = h('div', { class: 'sheet-body' },
      card('Group calls', 'Rooms for calls with several people: everyone sends their camera once, and the server passes it on to the others.',
        h('div', { class: 'rooms-new' }, this.nameInput.el, this.createBtn), this.roomList),
      card('Broadcasts', 'One person goes live; anyone signed in to your account can watch. However many watch, the broadcaster sends once.',
        h('div', { class: 'rooms-new' }, this.channelInput.el, this.liveBtn), this.channelList),
      this.app.isOwner ? card('Recordings', 'What the rooms’ Record button saved: a WebM file per camera and microphone, lined up by when each started.', this.recList) : null);
    this.dialog = h('dialog', { class: 'sheet glass', 'aria-labelledby': 'rooms-title' },
      h('header', { class: 'sheet-head' }, h('span', { class: 'sheet-icon', html: icons.users, 'aria-hidden': 'true' }),
        h('div', {}, h('h2', { id: 'rooms-title' }, 'Rooms'), h('p', {}, 'Group calls and live broadcasts.')),
        this.closeBtn),
      this.content);
    this.dialog.addEventListener('close', () => {
      clearInterval(this._timer);
      this.returnTo?.focus();
    });
    this.dialog.addEventListener('click', (e) => e.target === this.dialog && this.close());
    document.body.append(this.dialog);
  }

  open(returnTo) {
    this.returnTo = returnTo;
    if (!this.dialog.open) this.dialog.showModal();
    this.refresh();
    clearInterval(this._timer);
    this._timer = setInterval(() => this.refresh(), 5000);
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  destroy() {
    this.close();
    this.dialog.remove();
  }

  async refresh() {
    const api = this.app.client;
    try {
      const [{ rooms }, { channels }] = await Promise.all([api.api('GET', '/rooms'), api.api('GET', '/channels')]);
      this._rooms(rooms);
      this._channels(channels);
      this._names = new Map(rooms.map((r) => [r.id, r.name]));
      if (this.app.isOwner) this._recordings((await api.api('GET', '/recordings')).recordings);
    } catch (e) {
      this.roomList.replaceChildren(h('li', { class: 'muted' }, problem(e, 'The rooms could not be loaded')));
    }
  }

  _rooms(rooms) {
    if (!rooms.length) {
      this.roomList.replaceChildren(h('li', { class: 'muted' }, 'No rooms yet. Create one, then share its link with your team.'));
      return;
    }
    this.roomList.replaceChildren(...rooms.map((r) => {
      const n = r.participants.length;
      return h('li', { dataset: { room: r.id } },
        h('div', { class: 'member' }, h('strong', {}, r.name || 'Untitled room'),
          h('small', {}, (n ? `${n} in the room` : 'Empty') + ' · created ' + dateTime(r.created_at))),
        copyButton(() => roomLink(r.id), 'Copy link to ' + (r.name || 'the room'), { text: 'Copy link' }),
        h('button', { type: 'button', class: 'btn small primary', onclick: () => this._join(r) }, 'Join'));
    }));
  }

  _channels(channels) {
    if (!channels.length) {
      this.channelList.replaceChildren(h('li', { class: 'muted' }, 'Nobody is live right now.'));
      return;
    }
    this.channelList.replaceChildren(...channels.map((c) => {
      const what = c.live ? [c.width && `${c.width}×${c.height}`, c.bitrate && `${Math.round(c.bitrate / 1000)} kbps`, `${c.viewers} watching`].filter(Boolean).join(' · ') : 'Waiting for the broadcaster';
      return h('li', { dataset: { channel: c.name } },
        c.live ? h('span', { class: 'live-dot', role: 'img', 'aria-label': 'Live' }) : null,
        h('div', { class: 'member' }, h('strong', {}, c.name), h('small', {}, (c.publisher ? (c.publisher.display_name || c.publisher.name) + ' · ' : '') + what)),
        copyButton(() => watchLink(c.name), 'Copy link to watch ' + c.name, { text: 'Copy link' }),
        h('button', { type: 'button', class: 'btn small primary', onclick: () => this._watch(c.name) }, 'Watch'));
    }));
  }

  _recordings(recs) {
    if (!recs.length) {
      this.recList.replaceChildren(h('li', { class: 'muted' }, 'No recordings yet.'));
      return;
    }
    this.recList.replaceChildren(...recs.map((rec) => {
      const secs = Math.max(0, ...rec.tracks.map((t) => t.duration_ms || 0)) / 1000;
      const what = [dateTime(rec.started_at), rec.ended_at ? (secs ? `${Math.floor(secs / 60)}:${String(Math.round(secs % 60)).padStart(2, '0')}` : '') : 'recording…',
        `${rec.tracks.length} track${rec.tracks.length === 1 ? '' : 's'}`].filter(Boolean).join(' · ');
      // One person's camera and microphone next to each other, people numbered.
      const people = [...new Set(rec.tracks.map((t) => t.participant))];
      const label = (t) => (t.codec.startsWith('video') ? 'Video' : 'Audio') + (people.length > 1 ? ' ' + (people.indexOf(t.participant) + 1) : '');
      const tracks = [...rec.tracks].sort((a, b) => people.indexOf(a.participant) - people.indexOf(b.participant) || b.codec.localeCompare(a.codec));
      return h('li', { class: 'rec-item', dataset: { recording: rec.name } },
        h('div', { class: 'member' }, h('strong', {}, this._names?.get(rec.room) || rec.room), h('small', {}, what)),
        h('div', { class: 'actions' }, tracks.map((t) => h('button', { type: 'button', class: 'btn small', 'aria-label': `Download ${label(t)} of ${this._names?.get(rec.room) || 'the room'}`, onclick: () => this._download(t) },
          h('span', { html: icons.download, 'aria-hidden': 'true' }), label(t)))));
    }));
  }

  // _download fetches a recording with the session's token and saves it.
  async _download(t) {
    try {
      const res = await fetch('/api/v1/recordings/' + encodeURIComponent(t.file), { headers: { Authorization: 'Bearer ' + this.app.client.token } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const a = h('a', { href: URL.createObjectURL(await res.blob()), download: t.file });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    } catch (e) {
      toast('The recording could not be downloaded: ' + e.message, true);
    }
  }

  async _create() {
    const input = this.nameInput.input;
    this.createBtn.disabled = true;
    try {
      const r = await this.app.client.api('POST', '/rooms', { name: input.value.trim() });
      input.value = '';
      await this.refresh();
      this._join(r);
    } catch (e) {
      toast(problem(e, 'The room was not created'), true);
    } finally {
      this.createBtn.disabled = false;
    }
  }

  _join(r) {
    this.close();
    this.mgr.open({ room: r.id, title: r.name });
  }

  _goLive() {
    const input = this.channelInput.input;
    const name = input.value.trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
      input.setAttribute('aria-invalid', 'true');
      toast('A channel name is 1 to 64 letters, digits, - or _.', true);
      return;
    }
    input.removeAttribute('aria-invalid');
    this.close();
    this.mgr.open({ channel: name, publish: true });
  }

  _watch(name) {
    this.close();
    this.mgr.open({ channel: name });
  }
}
