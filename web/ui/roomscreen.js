// RoomScreen: the screen of a group call or a broadcast, over a Room of
// the SDK (web/sdk/room.js). A group call is a grid of tiles, one per
// person (you included), each with their video or their initials, their
// name, a muted microphone when they are muted, and a ring around whoever
// speaks; a broadcast shows its broadcaster full size. Each tile tells the
// SFU how big it is (ResizeObserver → room.subscribe), so a small tile gets
// the small simulcast layer and a tile scrolled away or hidden gets none.
// It looks like the call screen (callstyles.js) and reuses its controls.
//
//   const screen = new RoomScreen({ room, title: 'Standup', link, onClose });
//   container.append(screen.el);   // fills its nearest positioned ancestor
//   screen.destroy();
//
// Hooks (tests rely on them): .room-screen with data-state = the room's
// state and data-kind room|channel; .room-tile with data-participant
// (data-self on yours), .speaking, data-muted; buttons by aria-label;
// .sound-btn when the browser refused to start the sound (autoplay.js).

import { h } from './dom.js';
import { callCSS, callIcons } from './callscreen.js';
import { startPlayback, SoundButton } from './autoplay.js';

export const roomCSS = callCSS + `
.room-screen { display: flex; flex-direction: column; }
.room-screen .call-bg { opacity: 1; }
.room-top { position: relative; z-index: 4; display: flex; align-items: center; gap: 10px; min-height: 60px; padding: 12px 16px 8px 20px; }
.room-title { flex: 1; min-width: 0; display: flex; flex-direction: column; line-height: 1.25; }
.room-title strong { font-size: 16px; font-weight: 650; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.room-title span { font-size: 12.5px; opacity: .8; }
.room-live { background: #dc2626; letter-spacing: .06em; }
.room-grid { --gap: 10px; position: relative; z-index: 2; flex: 1; min-height: 0; display: flex; flex-wrap: wrap; justify-content: center; align-content: center;
  gap: var(--gap); padding: 4px 16px 108px; }
/* a cell per person, sized by the layout's columns and rows; the tile inside keeps 16:9 */
.room-cell { flex: none; width: calc((100% - (var(--cols, 1) - 1) * var(--gap)) / var(--cols, 1)); height: calc((100% - (var(--rows, 1) - 1) * var(--gap)) / var(--rows, 1));
  container-type: size; display: grid; place-items: center; min-width: 0; min-height: 0; }
.room-tile { position: relative; width: min(100cqw, 100cqh * 16 / 9); aspect-ratio: 16 / 9; overflow: hidden; border-radius: 18px; background: rgba(15, 23, 42, .72);
  box-shadow: 0 0 0 1px rgba(255, 255, 255, .09), 0 18px 40px -22px rgba(0, 0, 0, .8); transition: box-shadow .18s ease; }
.room-screen[data-kind=channel] .room-tile { width: 100cqw; height: 100cqh; aspect-ratio: auto; }
.room-tile.speaking { box-shadow: 0 0 0 3px #fff, 0 0 0 8px color-mix(in srgb, var(--accent, #6366f1) 60%, transparent), 0 18px 40px -22px rgba(0, 0, 0, .8); }
.room-tile.speaking .tile-label { background: color-mix(in srgb, var(--accent, #6366f1) 85%, #000); }
.room-tile video { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: cover; background: #0b1020; }
.room-screen[data-kind=channel] .room-tile video { object-fit: contain; background: #000; }
.room-tile[data-self]:not(.sharing) video { transform: scaleX(-1); }
.room-tile.sharing video { object-fit: contain; background: #000; }
.room-tile .tile-face { position: absolute; inset: 0; display: grid; place-items: center; background: linear-gradient(160deg, #1e293b, #0f172a); }
.room-tile.has-video .tile-face { display: none; }
.tile-face .call-avatar { margin: 0; width: clamp(48px, 28%, 112px); font-size: clamp(18px, 4cqmin, 40px); }
.tile-label { position: absolute; left: 10px; bottom: 10px; max-width: calc(100% - 20px); display: inline-flex; align-items: center; gap: 6px; height: 28px; padding: 0 10px;
  border-radius: 999px; font-size: 12.5px; font-weight: 600; background: rgba(0, 0, 0, .45); -webkit-backdrop-filter: blur(10px); backdrop-filter: blur(10px); }
.tile-label span { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.tile-label .tile-muted { display: none; color: #fca5a5; }
.tile-label .tile-muted svg { width: 15px; height: 15px; }
.room-tile[data-muted] .tile-muted { display: inline-flex; }
.room-empty { position: absolute; inset: 0; z-index: 3; display: grid; place-content: center; gap: 6px; text-align: center; padding: 24px; pointer-events: none; }
.room-empty strong { font-size: 18px; }
.room-empty span { opacity: .8; }
@container (max-width: 520px) {
  .room-grid { --gap: 6px; padding: 2px 8px 96px; }
  .room-tile { border-radius: 12px; }
}
`;

const LINK = '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M10 13a5 5 0 0 0 7.54.54l3-3a5 5 0 0 0-7.07-7.07l-1.72 1.71"/><path d="M14 11a5 5 0 0 0-7.54-.54l-3 3a5 5 0 0 0 7.07 7.07l1.71-1.71"/></svg>';
const PALETTE = [210, 250, 280, 320, 20, 150, 180];
function hue(s) {
  let x = 0;
  for (const c of s || '') x = (x * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[x % PALETTE.length];
}
function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/);
  return ((parts[0]?.[0] || '?') + (parts.length > 1 ? parts.at(-1)[0] : '')).toUpperCase();
}

export class RoomScreen {
  constructor({ room, title = '', link = '', linkNote = 'The link is copied: anyone in your team who opens it joins this room.', onClose = () => {}, onRecord = null }) {
    this.room = room;
    this.onRecord = onRecord; // (on) => Promise: start or stop the server's recording (owners)
    this.title = title;
    this.link = link;
    this.linkNote = linkNote; // what copying the link says
    this.onClose = onClose;
    this.tiles = new Map(); // participant id (or 'self') → tile
    this.ac = new AbortController();
    this._build();
    const on = (type, f) => room.addEventListener(type, f, { signal: this.ac.signal });
    on('participants', () => this._render());
    on('track', () => this._render());
    on('local', () => this._render());
    on('state', () => this._render());
    on('speakers', () => this._speakers());
    on('closed', () => this._render());
    on('recording', () => this._render());
    document.addEventListener('visibilitychange', () => this._layout(), { signal: this.ac.signal });
    this._resize = new ResizeObserver(() => this._layout());
    this._resize.observe(this.grid);
    this._render();
  }

  get isChannel() {
    return this.room.kind === 'channel';
  }

  _build() {
    const r = this.room;
    this.titleEl = h('strong');
    this.subEl = h('span');
    this.livePill = h('span', { class: 'call-pill room-live', hidden: true }, 'LIVE');
    this.recPill = h('span', { class: 'call-rec', hidden: true }, h('i', { 'aria-hidden': 'true' }), 'REC');
    this.top = h('header', { class: 'room-top' }, h('div', { class: 'room-title' }, this.titleEl, this.subEl), this.livePill, this.recPill);
    // A click on the picture counts too: it is where people click first.
    this.grid = h('div', { class: 'room-grid', role: 'list', 'aria-label': this.isChannel ? 'Broadcast' : 'Participants', onclick: () => !this.sound.el.hidden && this.sound.turnOn() });
    this.empty = h('div', { class: 'room-empty', hidden: true }, h('strong'), h('span'));
    this.micBtn = h('button', { type: 'button', class: 'call-btn', onclick: () => r.setMuted(!r.muted) });
    this.camBtn = h('button', { type: 'button', class: 'call-btn', onclick: () => r.setCameraOff(!r.cameraOff) });
    this.linkBtn = this.link ? h('button', { type: 'button', class: 'call-btn', 'aria-label': 'Copy the link', title: 'Copy the link', html: LINK, onclick: () => this._copy() }) : null;
    this.shareBtn = r.publishing && navigator.mediaDevices?.getDisplayMedia ? h('button', { type: 'button', class: 'call-btn', onclick: () => this._share() }) : null;
    this.recBtn = this.onRecord ? h('button', { type: 'button', class: 'call-btn record', onclick: () => this._record() }) : null;
    this.leaveBtn = h('button', { type: 'button', class: 'call-btn danger hangup', 'aria-label': this.isChannel ? (r.publishing ? 'End the broadcast' : 'Stop watching') : 'Leave the room', title: 'Leave', html: callIcons.hangup, onclick: () => this.leave() });
    this.closeBtn = h('button', { type: 'button', class: 'call-close', hidden: true, onclick: () => this.onClose(this) }, 'Close');
    this.notice = h('div', { class: 'call-notice', role: 'status', hidden: true });
    // Opened from a link, nobody has clicked yet: the browser starts the
    // others muted and this button turns their sound on.
    this.sound = new SoundButton(() => [...this.tiles.values()].filter((t) => !t.p?.self).map((t) => t.video));
    const actions = h('div', { class: 'call-actions' }, r.publishing ? [this.micBtn, this.camBtn] : null, this.shareBtn, this.recBtn, this.linkBtn, this.leaveBtn, this.closeBtn);
    this.dock = h('div', { class: 'call-dock' }, this.sound.el, this.notice, actions);
    this.el = h('div', { class: 'call-screen room-screen', role: 'region', 'aria-label': this.title || 'Group call', dataset: { kind: r.kind } },
      h('div', { class: 'call-bg' }), this.top, this.grid, this.empty, this.dock);
  }

  leave() {
    this.room.leave();
  }

  async _share() {
    try {
      if (this.room.sharing) await this.room.stopSharing();
      else await this.room.shareScreen();
    } catch (e) {
      this._say(e.message);
    }
  }

  async _record() {
    const on = !this.room.info?.recording;
    this.recBtn.disabled = true;
    try {
      await this.onRecord(on);
      this.room.info = { ...this.room.info, recording: on }; // the event follows
      this._say(on ? 'Recording. Everyone here sees REC.' : 'Saved: the recording is in Rooms.');
    } catch (e) {
      this._say(e.message || 'The recording did not ' + (on ? 'start' : 'stop'));
    } finally {
      this.recBtn.disabled = false;
      this._render();
    }
  }

  destroy() {
    this.ac.abort();
    this._resize.disconnect();
    for (const t of this.tiles.values()) t.io?.disconnect();
    if (this.room.state !== 'closed') this.room.leave();
    this.el.remove();
  }

  async _copy() {
    try {
      await navigator.clipboard.writeText(this.link);
      this._say(this.linkNote);
    } catch {
      this._say(this.link);
    }
  }

  _say(text) {
    this.notice.textContent = text;
    this.notice.hidden = !text;
    clearTimeout(this._noticeTimer);
    if (text) this._noticeTimer = setTimeout(() => (this.notice.hidden = true), 5000);
  }

  // people: who gets a tile. In a channel only whoever broadcasts (a
  // viewer sees the broadcaster; the broadcaster sees themself).
  _people() {
    const r = this.room;
    const out = [];
    if (r.publishing) {
      const stream = r.sharing && r.screenStream ? r.screenStream : r.localStream;
      out.push({ id: 'self', self: true, name: r.sharing ? 'You (your screen)' : 'You', stream, muted: r.muted, cameraOff: r.cameraOff && !r.sharing, sharing: r.sharing });
    }
    for (const p of r.participants.values()) {
      if (this.isChannel && !p.tracks.size && !p.stream.getTracks().length) continue;
      const tracks = [...p.tracks.values()];
      out.push({
        id: p.id, name: p.name || 'Someone', stream: p.stream, participant: p,
        muted: tracks.some((t) => t.kind === 'audio' && t.muted) || (!tracks.some((t) => t.kind === 'audio') && tracks.length > 0),
        cameraOff: tracks.some((t) => t.kind === 'video' && t.muted),
        videoTracks: tracks.filter((t) => t.kind === 'video').map((t) => t.id),
      });
    }
    return out;
  }

  _render() {
    const r = this.room;
    const people = this._people();
    const seen = new Set();
    for (const p of people) {
      seen.add(p.id);
      let t = this.tiles.get(p.id);
      if (!t) t = this._tile(p);
      this._paint(t, p);
    }
    for (const [id, t] of this.tiles) {
      if (seen.has(id)) continue;
      t.io?.disconnect();
      t.cell.remove();
      this.tiles.delete(id);
    }
    // Order: you first, then by when they came.
    const order = people.map((p) => this.tiles.get(p.id).cell);
    if (order.some((el, i) => this.grid.children[i] !== el)) this.grid.replaceChildren(...order);
    this.grid.dataset.count = String(people.length);
    this._layout();
    this._speakers();

    const others = [...r.participants.values()];
    this.titleEl.textContent = this.title || (this.isChannel ? r.channel : 'Group call');
    if (this.isChannel) {
      // The broadcaster hears of every viewer; a viewer of the broadcaster only.
      const watching = others.length;
      this.subEl.textContent = r.publishing ? (watching ? `${watching} watching` : 'Nobody is watching yet')
        : people.length ? `Broadcast by ${people[0].name}` : 'Not live';
      this.livePill.hidden = !(people.length && r.state === 'connected');
    } else {
      const n = others.length + (r.publishing ? 1 : 0);
      this.subEl.textContent = n === 1 ? 'Only you so far' : `${n} people`;
    }
    this.recPill.hidden = !r.info?.recording;
    this.el.dataset.state = r.state;
    const [head, line] = r.state === 'closed' ? [{ left: 'You left', closed: 'The room was closed', expired: 'The room was closed', shutting_down: 'The server is restarting', failed: 'The connection failed' }[r.reason] || 'Ended', r.reason === 'shutting_down' ? 'Join again in a moment.' : '']
      : r.state === 'joining' ? ['Joining…', '']
        : this.isChannel && !people.length ? ['Waiting for the broadcast', 'It starts here as soon as someone goes live.']
          : ['', ''];
    this.empty.hidden = !head;
    this.empty.children[0].textContent = head;
    this.empty.children[1].textContent = line;
    this.grid.hidden = r.state === 'closed';
    const ended = r.state === 'closed';
    if (ended) this.sound.hide();
    this.leaveBtn.hidden = ended;
    this.closeBtn.hidden = !ended;
    this.micBtn.hidden = this.camBtn.hidden = ended;
    if (this.linkBtn) this.linkBtn.hidden = ended;
    if (this.shareBtn) {
      this.shareBtn.hidden = ended;
      this._button(this.shareBtn, r.sharing, callIcons.shareOff, callIcons.share, 'Stop sharing your screen', 'Share your screen');
    }
    if (this.recBtn) {
      this.recBtn.hidden = ended;
      this._button(this.recBtn, !!r.info?.recording, callIcons.stopRecord, callIcons.record, 'Stop recording', 'Record the room');
    }
    this._button(this.micBtn, r.muted, callIcons.micOff, callIcons.mic, 'Unmute', 'Mute');
    this._button(this.camBtn, r.cameraOff, callIcons.videoOff, callIcons.video, 'Turn the camera on', 'Turn the camera off');
  }

  _button(btn, on, iconOn, iconOff, labelOn, labelOff) {
    btn.innerHTML = on ? iconOn : iconOff;
    btn.setAttribute('aria-pressed', String(on));
    btn.setAttribute('aria-label', on ? labelOn : labelOff);
    btn.title = on ? labelOn : labelOff;
  }

  _tile(p) {
    const video = h('video', { autoplay: true, playsinline: true, 'aria-hidden': 'true' });
    if (p.self) video.muted = true; // never hear yourself
    const avatar = h('div', { class: 'call-avatar', 'aria-hidden': 'true', style: { '--h': String(hue(p.name)) } }, h('span'));
    const label = h('span');
    const el = h('div', { class: 'room-tile', dataset: { participant: p.id } },
      video, h('div', { class: 'tile-face' }, avatar),
      h('div', { class: 'tile-label' }, h('span', { class: 'tile-muted', html: callIcons.micOff, title: 'Muted' }), label));
    if (p.self) el.dataset.self = '';
    const cell = h('div', { class: 'room-cell', role: 'listitem' }, el);
    const t = { el, cell, video, avatar, label, id: p.id, visible: true };
    video.addEventListener('resize', () => this._paint(t, t.p));
    if (!p.self) {
      // Off screen (scrolled, a hidden tab's layout): ask for nothing.
      t.io = new IntersectionObserver((es) => {
        t.visible = es.at(-1).isIntersecting;
        this._prefer(t);
      });
      t.io.observe(el);
    }
    this.tiles.set(p.id, t);
    return t;
  }

  _paint(t, p) {
    t.p = p;
    if (t.video.srcObject !== p.stream) {
      t.video.srcObject = p.stream;
      if (p.self) t.video.play().catch(() => {});
      else startPlayback(t.video).then((how) => this.room.state !== 'closed' && this.sound.show(how));
    }
    const hasVideo = !p.cameraOff && p.stream.getVideoTracks().some((v) => v.readyState === 'live') && (p.self || t.video.videoWidth > 0);
    t.el.classList.toggle('has-video', hasVideo);
    t.el.classList.toggle('sharing', !!p.sharing);
    t.avatar.firstChild.textContent = initials(p.name);
    t.label.textContent = p.name;
    if (p.muted) t.el.dataset.muted = '';
    else delete t.el.dataset.muted;
    t.el.setAttribute('aria-label', p.name + (p.muted ? ', muted' : ''));
  }

  _speakers() {
    const speaking = new Set(this.room.speakers);
    if (speaking.has(this.room.me)) speaking.add('self');
    for (const [id, t] of this.tiles) t.el.classList.toggle('speaking', speaking.has(id));
  }

  // _layout picks the number of columns that makes tiles biggest, then
  // tells the SFU each remote tile's size.
  _layout() {
    const n = this.grid.children.length || 1;
    const cs = getComputedStyle(this.grid);
    const W = this.grid.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) || 1;
    const H = this.grid.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom) || 1;
    let best = 1;
    let bestArea = 0;
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const w = Math.min(W / cols, ((H / rows) * 16) / 9);
      if (w > bestArea) {
        bestArea = w;
        best = cols;
      }
    }
    this.grid.style.setProperty('--cols', String(best));
    this.grid.style.setProperty('--rows', String(Math.ceil(n / best)));
    for (const t of this.tiles.values()) this._prefer(t);
  }

  _prefer(t) {
    const p = t.p;
    if (!p || p.self || !p.videoTracks) return;
    const dpr = globalThis.devicePixelRatio || 1;
    const w = t.el.clientWidth * dpr;
    const hgt = t.el.clientHeight * dpr;
    const paused = !t.visible || w === 0 || document.visibilityState === 'hidden';
    for (const id of p.videoTracks) this.room.subscribe(id, w, hgt, paused);
  }
}
