// CallScreen: the screen of one call, placed over the chat by the widget
// and the console. It renders a CallSession (web/sdk/call.js) by its
// state: an incoming call rings (a two-tone ringtone made with WebAudio,
// Accept and Decline), an outgoing one plays a soft ringback (Cancel), then
// "Connecting…", then the call itself: the other person's video (or their
// avatar in an audio call), your own as a picture-in-picture you can drag
// to any corner, the timer, the connection's quality, mute, camera, switch
// camera, screen sharing, recording (offered as a WebM download),
// statistics and hang up; and at the end a brief "Call ended · 3:24",
// "No answer", "Declined" or "Busy" before onClose.
//
//   const screen = new CallScreen({ session, names: (userId) => name, onClose });
//   panel.append(screen.el);   // positioned over its nearest positioned ancestor
//   screen.destroy();
//
// Options: audio () => AudioContext (one already unlocked by a gesture;
// otherwise the screen makes its own), onMinimize (shows a "Minimize the
// call" button), endedHint (reason, session) => a line under "No answer",
// avatar 'hue' (initials on a colour of the name) or 'accent' (white on the
// accent, like the widget's header).
//
// Hooks (tests rely on them): root .call-screen with data-state = the
// session's state; video.remote, video.local; .call-timer; .call-quality
// with data-quality; .call-stats with [data-stat=…]; buttons by aria-label;
// .sound-btn when the browser refused to start the sound (autoplay.js).

import { h } from './dom.js';
import { callCSS } from './callstyles.js';
import { startPlayback, SoundButton } from './autoplay.js';

export { callCSS };

const svg = (d, extra = '') =>
  `<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" ${extra}>${d}</svg>`;
const HANDSET = 'M6.6 10.8a15.2 15.2 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25c1.12.37 2.33.57 3.57.57a1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z';

// The call's own icons (the shared set is for the chat).
export const callIcons = {
  accept: svg(`<path d="${HANDSET}" fill="currentColor" stroke="none"/>`),
  hangup: svg(`<path d="${HANDSET}" fill="currentColor" stroke="none" transform="rotate(135 12 12)"/>`),
  mic: svg('<rect x="9" y="2" width="6" height="12" rx="3"/><path d="M19 10v1a7 7 0 0 1-14 0v-1M12 18v4M8 22h8"/>'),
  micOff: svg('<path d="m2 2 20 20"/><path d="M15 9.34V5a3 3 0 0 0-5.68-1.33M9 9v2a3 3 0 0 0 5.12 2.12"/><path d="M19 10v1a7 7 0 0 1-.64 2.93M16.95 16.95A7 7 0 0 1 5 11v-1M12 18v4M8 22h8"/>'),
  video: svg('<path d="m22 8-6 4 6 4V8z"/><rect x="2" y="6" width="14" height="12" rx="2.5"/>'),
  videoOff: svg('<path d="m2 2 20 20"/><path d="M10.7 6H13.5A2.5 2.5 0 0 1 16 8.5v2.8l1 1 5-3.3v7M16 16.2a2.5 2.5 0 0 1-2.5 1.8h-9A2.5 2.5 0 0 1 2 15.5v-7A2.5 2.5 0 0 1 4.2 6"/>'),
  switchCamera: svg('<path d="M11 19H4a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h5"/><path d="M13 5h7a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2h-5"/><circle cx="12" cy="12" r="3"/><path d="m18 22-3-3 3-3M6 2l3 3-3 3"/>'),
  share: svg('<path d="M13 3H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2v-3"/><path d="M8 21h8M12 17v4M17 8l5-5M17 3h5v5"/>'),
  shareOff: svg('<path d="M13 3H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2v-3"/><path d="M8 21h8M12 17v4M22 3l-5 5M17 3l5 5"/>'),
  record: svg('<circle cx="12" cy="12" r="9"/><circle cx="12" cy="12" r="4" fill="currentColor" stroke="none"/>'),
  stopRecord: svg('<circle cx="12" cy="12" r="9"/><rect x="9" y="9" width="6" height="6" rx="1" fill="currentColor" stroke="none"/>'),
  stats: svg('<path d="M22 12h-4l-3 8L9 4l-3 8H2"/>'),
  minimize: svg('<path d="m6 9 6 6 6-6"/>'),
  close: svg('<path d="M18 6 6 18M6 6l12 12"/>', 'width="18" height="18"'),
  download: svg('<path d="M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M7 10l5 5 5-5M12 15V3"/>', 'width="18" height="18"'),
};

const ENDED_MS = 2600; // how long "Call ended · 3:24" stays
const ENDED_HINT_MS = 6000; // …and an explanation ("Nobody could answer…")
const CAMERA_OFF_AFTER_MS = 1500; // a remote video track muted this long: "Camera off"
const CORNERS = ['tl', 'tr', 'bl', 'br'];
const ANON = /^Visitor [A-Z0-9]{2,}$/;
const PERSON = svg('<circle cx="12" cy="8.5" r="3.6"/><path d="M5.5 19.5a6.5 6.5 0 0 1 13 0"/>');
let seq = 0;

export class CallScreen {
  constructor({ session, names = () => '', onClose = () => {}, onMinimize = null, audio = null, endedHint = () => '', avatar = 'hue' }) {
    this.session = session;
    this.names = names;
    this.onClose = onClose;
    this.onMinimize = onMinimize;
    this.audio = audio;
    this.endedHint = endedHint;
    this.avatarStyle = avatar;
    this.view = null;
    this.corner = 'br';
    this.statsOpen = false;
    this.closed = false;
    this.ac = new AbortController();
    this._watched = new WeakSet();
    this._build();
    this._bind();
    this._render();
  }

  get name() {
    return this.names(this.session.peerId) || (this.session.direction === 'in' ? 'Someone' : 'them');
  }

  // --- building ---

  _build() {
    const s = this.session;
    const id = `call-${++seq}`;
    const video = s.media === 'video';
    this.remote = h('video', { class: 'remote', autoplay: true, playsinline: true, 'aria-hidden': 'true' });
    this.local = h('video', { class: 'local', autoplay: true, playsinline: true, muted: true, 'aria-hidden': 'true', onresize: () => this._localResized() });
    this.local.muted = true; // the attribute alone does not mute a srcObject
    this.pipOff = h('div', { class: 'pip-off', hidden: true }, h('span', { html: callIcons.videoOff }), 'Camera off');
    this.pip = h('div', {
      class: 'call-pip mirror', tabindex: '0', role: 'group', hidden: true,
      'aria-label': 'Your video. Drag it, or use the arrow keys, to move it to another corner.',
      onpointerdown: (e) => this._dragStart(e), onpointermove: (e) => this._dragMove(e),
      onpointerup: (e) => this._dragEnd(e), onpointercancel: (e) => this._dragEnd(e), onkeydown: (e) => this._pipKey(e),
    }, this.local, this.pipOff);

    this.avatarEl = h('div', { class: `call-avatar ${this.avatarStyle}`, 'aria-hidden': 'true' }, h('span'));
    this.nameEl = h('h2', { class: 'call-name', id: id + '-name' });
    this.statusEl = h('p', { class: 'call-status', id: id + '-status' });
    this.hintEl = h('p', { class: 'call-hint', hidden: true });
    this.timer = h('span', { class: 'call-timer', role: 'timer', 'aria-live': 'off' }, '0:00');
    this.persona = h('div', { class: 'call-persona' }, this.avatarEl, this.nameEl, this.statusEl, this.timer, this.hintEl);

    this.qualityText = h('span', { class: 'q-text' });
    this.quality = h('span', { class: 'call-quality', role: 'img' },
      h('span', { class: 'bars', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), this.qualityText);
    this._quality(s.quality || 'good', true);
    this.recTime = h('span', { class: 'rec-time' }, '0:00');
    this.recPill = h('span', { class: 'call-rec', hidden: true }, h('i', { 'aria-hidden': 'true' }), 'REC', this.recTime);
    this.sharePill = h('span', { class: 'call-pill', hidden: true }, 'Sharing your screen');
    this.topName = h('strong');
    this.minBtn = this.onMinimize ? h('button', { type: 'button', class: 'call-min', 'aria-label': 'Minimize the call', title: 'Minimize the call', html: callIcons.minimize, onclick: () => this.onMinimize(this) }) : null;
    this.topTitle = h('div', { class: 'call-top-title' }, this.topName);
    this.top = h('div', { class: 'call-top' }, this.minBtn, this.topTitle,
      this.sharePill, this.recPill, this.quality);

    // The statistics, for the curious and for support.
    this.statRows = {};
    const stat = (key, label, forVideo = false) => {
      const dd = h('dd', { dataset: { stat: key } }, '—');
      this.statRows[key] = dd;
      return h('div', { class: 'call-stat', hidden: forVideo && !video, dataset: { video: forVideo ? '1' : '' } }, h('dt', {}, label), dd);
    };
    this.statsPanel = h('section', { class: 'call-stats', id: id + '-stats', hidden: true, 'aria-labelledby': id + '-stats-title' },
      h('h3', { id: id + '-stats-title' }, 'Call statistics'),
      h('dl', {},
        stat('bitrate_in', 'Receiving'), stat('bitrate_out', 'Sending'), stat('rtt', 'Round trip'), stat('loss', 'Packet loss'),
        stat('resolution', 'Resolution', true), stat('fps', 'Frame rate', true), stat('frames', 'Frames decoded', true),
        stat('audio_packets', 'Audio packets'), stat('candidate', 'Route')));

    const btn = (cls, label, icon, onclick) => h('button', { type: 'button', class: 'call-btn ' + cls, 'aria-label': label, title: label, html: icon, onclick });
    this.declineBtn = btn('decline danger', 'Decline', callIcons.hangup, () => this._decline());
    this.acceptBtn = btn('accept', 'Accept', video ? callIcons.video : callIcons.accept, () => this._accept());
    this.declineAct = h('div', { class: 'call-act' }, this.declineBtn, h('span', { 'aria-hidden': 'true' }, 'Decline'));
    this.acceptAct = h('div', { class: 'call-act' }, this.acceptBtn, h('span', { 'aria-hidden': 'true' }, 'Accept'));
    this.muteBtn = btn('toggle', 'Mute', callIcons.mic, () => this._toggleMute());
    this.camBtn = btn('toggle', 'Turn camera off', callIcons.video, () => this._toggleCamera());
    this.switchBtn = btn('', 'Switch camera', callIcons.switchCamera, () => this._switchCamera());
    this.shareBtn = btn('toggle', 'Share screen', callIcons.share, () => this._toggleShare());
    this.recBtn = btn('toggle record', 'Record the call', callIcons.record, () => this._toggleRecording());
    this.statsBtn = btn('toggle', 'Show call statistics', callIcons.stats, () => this._toggleStats());
    this.statsBtn.setAttribute('aria-expanded', 'false');
    this.statsBtn.setAttribute('aria-controls', this.statsPanel.id);
    this.cancelBtn = btn('hangup danger', 'Cancel call', callIcons.hangup, () => this._hangup());
    this.hangupBtn = btn('hangup danger', 'Hang up', callIcons.hangup, () => this._hangup());
    this.closeBtn = h('button', { type: 'button', class: 'call-close', onclick: () => this.close() }, 'Close');
    this.actions = h('div', { class: 'call-actions', role: 'group', 'aria-label': 'Call controls' },
      this.declineAct, this.acceptAct, this.muteBtn, this.camBtn, this.switchBtn, this.shareBtn, this.recBtn, this.statsBtn,
      this.cancelBtn, this.hangupBtn, this.closeBtn);
    this.notice = h('div', { class: 'call-notice', role: 'status', hidden: true });
    // A call resumed after a reload, or taken without a click: the browser
    // starts the other side muted and this button turns the sound on.
    this.sound = new SoundButton(() => [this.remote]);
    this.dock = h('div', { class: 'call-dock' }, this.sound.el, this.notice, this.actions);
    this.live = h('div', { class: 'sr-only', 'aria-live': 'polite', 'aria-atomic': 'true' });

    this.el = h('section', {
      class: 'call-screen', role: 'dialog', 'aria-describedby': this.statusEl.id, tabindex: '-1',
      dataset: { state: s.state, media: video ? 'video' : 'audio', direction: s.direction },
      onkeydown: (e) => this._key(e),
    }, h('div', { class: 'call-bg', 'aria-hidden': 'true' }), this.remote, this.persona, this.top, this.statsPanel, this.dock, this.pip, this.live);

    if (globalThis.ResizeObserver) {
      this._ro = new ResizeObserver(() => this._placePip());
      this._ro.observe(this.el);
    }
  }

  _bind() {
    const opts = { signal: this.ac.signal };
    const s = this.session;
    s.addEventListener('state', () => this._render(), opts);
    s.addEventListener('ended', () => this._render(), opts);
    s.addEventListener('stream', () => this._render(), opts);
    s.addEventListener('stats', (e) => this._stats(e.detail || {}), opts);
    s.addEventListener('recording', (e) => e.detail?.size && this._offer(e.detail, this._recording), opts);
  }

  destroy() {
    this.closed = true;
    this.ac.abort();
    this._tone(null);
    clearInterval(this._tick);
    clearTimeout(this._closeTimer);
    clearTimeout(this._camOffTimer);
    this._level(false);
    this._ro?.disconnect();
    this.remote.srcObject = null;
    this.local.srcObject = null;
    this.el.remove();
  }

  // focus puts the keyboard on what matters now: Accept while it rings
  // here, Cancel while it rings there, Hang up during the call.
  focus() {
    const v = this.view;
    this._focus(v === 'incoming' ? this.acceptBtn : v === 'outgoing' ? this.cancelBtn : v === 'ended' ? this.closeBtn : this.hangupBtn);
  }

  // close ends the screen (it fades out, then onClose). The call itself is
  // not touched: the host calls close only once it has ended.
  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this._closeTimer);
    this._tone(null);
    this.el.classList.add('closing');
    setTimeout(() => this.onClose(this), 220);
  }

  // --- rendering ---

  _viewOf() {
    const st = this.session.state;
    if (st === 'ringing') return this.session.direction === 'in' ? 'incoming' : 'outgoing';
    return st === 'connecting' || st === 'active' || st === 'ended' ? st : 'connecting';
  }

  _render() {
    if (this.closed) return;
    const s = this.session;
    const view = this._viewOf();
    this.el.dataset.state = s.state;
    this.el.dataset.view = view;
    if (view !== this.view) {
      const from = this.view;
      this.view = view;
      this._enter(view, from);
    }
    this._streams();
    this._controls();
  }

  _enter(view, from) {
    const s = this.session;
    const name = this.name;
    const kind = s.media === 'video' ? 'video' : 'audio';
    const Kind = kind === 'video' ? 'Video' : 'Audio';
    this._tone(view === 'incoming' ? 'ring' : view === 'outgoing' ? 'ringback' : null);
    this._setAvatar(name);
    this.nameEl.textContent = view === 'outgoing' ? `Calling ${name}…` : name;
    this.topName.textContent = name;
    this.el.setAttribute('aria-label', `${Kind} call with ${name}`);
    let status = '';
    switch (view) {
      case 'incoming':
        status = `Incoming ${kind} call`;
        this._announce(`Incoming ${kind} call from ${name}`);
        this._focus(this.acceptBtn);
        break;
      case 'outgoing':
        status = `${Kind} call`;
        this._announce(`Calling ${name}…`);
        this._focus(this.cancelBtn);
        break;
      case 'connecting':
        status = 'Connecting…';
        this._announce('Connecting…');
        this._focus(this.hangupBtn);
        break;
      case 'active':
        this._activeAt = Date.now();
        this._announce(`Connected with ${name}`);
        this._tickNow();
        clearInterval(this._tick);
        this._tick = setInterval(() => this._tickNow(), 500);
        this._focus(this.hangupBtn);
        break;
      case 'ended':
        status = this._ended(from);
        break;
    }
    this.statusEl.textContent = status;
    this.statusEl.hidden = !status;
  }

  _setAvatar(name) {
    const span = this.avatarEl.firstChild;
    if (ANON.test(String(name).trim())) span.innerHTML = PERSON; // "Visitor K3QX": no initials to show
    else span.textContent = initials(name);
    this.avatarEl.style.setProperty('--h', String(hue(name)));
  }

  _ended(from) {
    const s = this.session;
    clearInterval(this._tick);
    this._tone(null);
    this._level(false);
    this.statsOpen = false;
    const startedAt = +s.startedAt || this._activeAt || 0;
    const wasActive = !!this._activeAt || from === 'active';
    const ms = !wasActive ? 0 : s.durationMs > 0 ? s.durationMs : startedAt ? Date.now() - startedAt : 0;
    const out = s.direction === 'out';
    const name = this.name;
    let text;
    switch (s.reason) {
      case 'ended': text = ms ? `Call ended · ${clock(ms)}` : 'Call ended'; break;
      case 'missed': text = out ? 'No answer' : 'Missed call'; break;
      case 'declined': text = out ? 'Declined' : 'Call declined'; break;
      case 'busy': text = 'Busy'; break;
      case 'failed': text = 'The call could not connect'; break;
      case 'answered':
      case 'answered_elsewhere': text = 'Answered elsewhere'; break;
      default: text = 'Call ended';
    }
    const hint = this.endedHint(s.reason, s) || (s.reason === 'failed' ? 'Check your connection and try again.' : '');
    this.hintEl.textContent = hint;
    this.hintEl.hidden = !hint;
    this._announce(`${text}. ${hint}`.trim());
    this.nameEl.textContent = name;
    // The control that had focus is gone: Close has it (unless the person
    // is busy somewhere else on the page).
    if (!this._focusedElsewhere()) this._focus(this._blob ? this.notice.querySelector('.notice-act') || this.closeBtn : this.closeBtn);
    // A recording still running when the call ended: stop it and offer it.
    // (A recording already offered keeps the screen until it is saved or dismissed.)
    if (this._recording) this._finishRecording(true);
    else if (!this._blob) this._closeTimer = setTimeout(() => this.close(), hint ? ENDED_HINT_MS : ENDED_MS);
    return text;
  }

  _focusedElsewhere() {
    const a = this.el.getRootNode().activeElement;
    return !!a && a !== document.body && a !== this.el.getRootNode().host && !this.el.contains(a);
  }

  _tickNow() {
    const start = +this.session.startedAt || this._activeAt || Date.now();
    const t = clock(Date.now() - start);
    if (this.timer.textContent !== t) this.timer.textContent = t;
    if (this._recording) this.recTime.textContent = clock(Date.now() - this._recording);
  }

  // _streams keeps the two videos on the session's streams and notes
  // whether there is anything to see.
  _streams() {
    const s = this.session;
    const ended = s.state === 'ended';
    if (!ended) {
      if (this.remote.srcObject !== (s.remoteStream || null)) {
        this.remote.srcObject = s.remoteStream || null;
        if (s.remoteStream) this._play(this.remote, true);
      }
      if (this.local.srcObject !== (s.localStream || null)) {
        this.local.srcObject = s.localStream || null;
        if (s.localStream) this._play(this.local, false);
      }
    }
    for (const t of s.remoteStream?.getTracks() || []) {
      if (this._watched.has(t)) continue;
      this._watched.add(t);
      const again = () => this._render();
      t.addEventListener('mute', again, { signal: this.ac.signal });
      t.addEventListener('unmute', again, { signal: this.ac.signal });
      t.addEventListener('ended', again, { signal: this.ac.signal });
    }
    const live = (st) => (st?.getVideoTracks() || []).filter((t) => t.readyState === 'live');
    const remoteVideo = !ended && (!s.remoteCameraOff || s.remoteSharing) && live(s.remoteStream).some((t) => !t.muted);
    const remoteTrack = live(s.remoteStream).length > 0;
    const localVideo = !ended && live(s.localStream).length > 0 && (s.sharing || !s.cameraOff);
    const showPip = !ended && (s.media === 'video' || s.sharing) && !!s.localStream && (localVideo || s.cameraOff);
    this.el.classList.toggle('has-remote-video', remoteVideo);
    // The timer goes with the name: under it in the middle, or in the top bar over their video.
    if (remoteVideo && this.timer.parentNode !== this.topTitle) this.topTitle.append(this.timer);
    else if (!remoteVideo && this.timer.parentNode !== this.persona) this.statusEl.after(this.timer);
    // Before the other side answers, your camera fills the screen.
    const full = showPip && localVideo && !remoteVideo && (this.view === 'outgoing' || this.view === 'connecting');
    this.el.classList.toggle('is-preview', full);
    this.pip.hidden = !showPip;
    this.pip.classList.toggle('full', full);
    this.pip.classList.toggle('mirror', !s.sharing);
    this.pip.classList.toggle('sharing', !!s.sharing);
    this.pipOff.hidden = localVideo;
    this.pip.tabIndex = full ? -1 : 0;
    this._placePip();
    this._level(this.view === 'active' && !remoteVideo);

    // "Camera off" when their video track stays muted (not for a moment
    // while it starts).
    if (this.view === 'active' && s.media === 'video' && !remoteVideo && remoteTrack) {
      if (!this._camOffTimer && !this._camOff) this._camOffTimer = setTimeout(() => {
        this._camOffTimer = null;
        this._camOff = true;
        this._cameraOffStatus();
      }, CAMERA_OFF_AFTER_MS);
    } else {
      clearTimeout(this._camOffTimer);
      this._camOffTimer = null;
      this._camOff = false;
    }
    this._cameraOffStatus();
  }

  // _level makes the avatar glow with the other person's voice (when
  // there is no video of them to watch).
  _level(on) {
    const tracks = on ? this.session.remoteStream?.getAudioTracks().filter((t) => t.readyState === 'live') || [] : [];
    const key = tracks.map((t) => t.id).join();
    if (key === this._levelKey) return;
    this._levelKey = key;
    clearInterval(this._levelTimer);
    this._levelSrc?.disconnect();
    this._levelSrc = null;
    this.avatarEl.style.setProperty('--level', '0');
    if (!key) return;
    const ctx = this.audio?.() || sharedContext();
    if (!ctx?.createMediaStreamSource) return;
    let src;
    try {
      src = ctx.createMediaStreamSource(new MediaStream(tracks));
    } catch {
      return;
    }
    const an = ctx.createAnalyser();
    an.fftSize = 512;
    src.connect(an); // an analyser runs without reaching the speakers: the video element plays the sound
    this._levelSrc = src;
    const buf = new Float32Array(an.fftSize);
    let level = 0;
    this._levelTimer = setInterval(() => {
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      const rms = Math.sqrt(sum / buf.length);
      level = Math.max(Math.min(1, rms * 5), level * 0.8); // speech peaks near 0.2 RMS
      this.avatarEl.style.setProperty('--level', level.toFixed(2));
    }, 80);
  }

  // _cameraOffStatus says what the other side switched off (they tell us
  // over the call; a video that stalls for long counts as off too).
  _cameraOffStatus() {
    const s = this.session;
    if (this.view !== 'active') return;
    const off = s.media === 'video' && !s.remoteSharing && (s.remoteCameraOff || this._camOff);
    const text = [off && 'Camera off', s.remoteMuted && 'Muted'].filter(Boolean).join(' · ');
    if (this.statusEl.textContent !== text) {
      this.statusEl.textContent = text;
      this.statusEl.hidden = !text;
    }
  }

  _play(video, isRemote) {
    if (!isRemote) {
      video.play?.()?.catch?.(() => {});
      return;
    }
    startPlayback(video).then((how) => !this.closed && this.sound.show(how));
  }

  _controls() {
    const s = this.session;
    const v = this.view;
    const video = s.media === 'video';
    const live = v === 'connecting' || v === 'active';
    const show = (el, on) => {
      if (el.hidden === !on) return;
      const had = el.contains(this.el.getRootNode().activeElement);
      el.hidden = !on;
      if (had && !on && v !== 'ended') this._focus(this.hangupBtn.hidden ? this.el : this.hangupBtn);
    };
    show(this.declineAct, v === 'incoming');
    show(this.acceptAct, v === 'incoming');
    show(this.muteBtn, live || v === 'outgoing');
    show(this.camBtn, video && (live || v === 'outgoing'));
    show(this.switchBtn, video && (live || v === 'outgoing') && (s.cameraCount || 0) > 1);
    show(this.shareBtn, v === 'active' && !!navigator.mediaDevices?.getDisplayMedia);
    show(this.recBtn, v === 'active' && !!globalThis.MediaRecorder && typeof s.startRecording === 'function');
    show(this.statsBtn, v === 'active');
    show(this.cancelBtn, v === 'outgoing');
    show(this.hangupBtn, live);
    show(this.closeBtn, v === 'ended');
    if (v === 'ended') this.sound.hide();
    this.top.hidden = v === 'ended' || v === 'incoming' && !this.minBtn;
    this.el.classList.toggle('top-bare', v !== 'active');

    toggle(this.muteBtn, !!s.muted, 'Unmute', 'Mute', callIcons.micOff, callIcons.mic);
    toggle(this.camBtn, !!s.cameraOff, 'Turn camera on', 'Turn camera off', callIcons.videoOff, callIcons.video);
    toggle(this.shareBtn, !!s.sharing, 'Stop sharing', 'Share screen', callIcons.shareOff, callIcons.share);
    toggle(this.recBtn, !!s.recording, 'Stop recording', 'Record the call', callIcons.stopRecord, callIcons.record);
    const statsLabel = this.statsOpen ? 'Hide call statistics' : 'Show call statistics';
    if (this.statsBtn.getAttribute('aria-label') !== statsLabel) {
      this.statsBtn.setAttribute('aria-label', statsLabel);
      this.statsBtn.title = statsLabel;
    }
    this.statsBtn.setAttribute('aria-expanded', String(this.statsOpen));
    this.statsBtn.classList.toggle('on', this.statsOpen);
    this.statsPanel.hidden = !(this.statsOpen && v === 'active');
    this.el.classList.toggle('stats-open', !this.statsPanel.hidden);

    const recording = !!s.recording && v === 'active';
    if (recording && !this._recording) this._recording = Date.now();
    this.recPill.hidden = !recording;
    this.sharePill.hidden = !(s.sharing && v === 'active');
    this.el.classList.toggle('is-recording', recording);
  }

  _stats({ stats, quality }) {
    if (quality) this._quality(quality);
    if (stats) {
      const st = stats;
      const set = (k, text, value) => {
        const dd = this.statRows[k];
        if (!dd) return;
        if (dd.textContent !== text) dd.textContent = text;
        if (value !== undefined) dd.dataset.value = value;
      };
      set('bitrate_in', kbps(st.bitrateInKbps));
      set('bitrate_out', kbps(st.bitrateOutKbps));
      set('rtt', num(st.rttMs) ? `${Math.round(st.rttMs)} ms` : '—');
      set('loss', num(st.lossPct) ? `${st.lossPct < 10 ? st.lossPct.toFixed(1) : Math.round(st.lossPct)} %` : '—');
      set('resolution', st.width && st.height ? `${st.width} × ${st.height}` : '—');
      set('fps', num(st.framesPerSecond) ? `${Math.round(st.framesPerSecond)} fps` : '—');
      set('frames', num(st.framesDecoded) ? st.framesDecoded.toLocaleString() : '—');
      set('audio_packets', num(st.audioPacketsReceived) ? st.audioPacketsReceived.toLocaleString() : '—');
      // An audio call shows the video rows once there is video (a shared screen).
      const anyVideo = this.session.media === 'video' || st.width > 0 || st.framesDecoded > 0;
      for (const row of this.statsPanel.querySelectorAll('[data-video="1"]')) row.hidden = !anyVideo;
      const c = st.candidateType || '';
      set('candidate', ROUTE[c] ? `${c} (${ROUTE[c]})` : c || '—', c);
      this.statRows.candidate.title = ROUTE_TITLE[c] || '';
    }
    this._controls();
    if (this._recording) this._tickNow();
  }

  _quality(q, quiet = false) {
    if (this.quality.dataset.quality === q) return;
    this.quality.dataset.quality = q;
    const label = { good: 'Good connection', fair: 'Fair connection', poor: 'Poor connection' }[q] || 'Connection';
    this.quality.setAttribute('aria-label', label);
    this.quality.title = label;
    this.qualityText.textContent = q === 'poor' ? 'Poor connection' : q === 'fair' ? 'Unstable' : '';
    if (q === 'poor' && !quiet) this._announce('The connection is poor.');
  }

  // --- actions ---

  async _accept() {
    if (this._busy) return;
    this._busy = true;
    this._tone(null);
    this.acceptBtn.setAttribute('aria-busy', 'true');
    this.acceptBtn.disabled = this.declineBtn.disabled = true;
    try {
      await this.session.accept();
    } catch (e) {
      if (this.session.state === 'ringing') {
        this.acceptBtn.disabled = this.declineBtn.disabled = false;
        this._focus(this.acceptBtn);
        this._tone('ring');
        this._notice(problem(e, this.session.media));
      } else if (this.view === 'ended') {
        this.hintEl.textContent = problem(e, this.session.media);
        this.hintEl.hidden = false;
        clearTimeout(this._closeTimer);
        this._closeTimer = setTimeout(() => this.close(), ENDED_HINT_MS);
      }
    } finally {
      this._busy = false;
      this.acceptBtn.removeAttribute('aria-busy');
    }
    this._render();
  }

  _decline() {
    this._tone(null);
    try {
      this.session.reject();
    } catch (e) {
      this._notice(problem(e));
    }
    this._render();
  }

  async _hangup() {
    this._tone(null);
    // Hanging up while recording keeps the recording.
    if (this.session.recording) await Promise.race([this._finishRecording(false), sleep(1500)]);
    try {
      this.session.hangup();
    } catch (e) {
      this._notice(problem(e));
    }
    this._render();
  }

  _toggleMute() {
    this.session.setMuted(!this.session.muted);
    this._controls();
    this._announce(this.session.muted ? 'Microphone off' : 'Microphone on');
  }

  _toggleCamera() {
    this.session.setCameraOff(!this.session.cameraOff);
    this._render();
    this._announce(this.session.cameraOff ? 'Camera off' : 'Camera on');
  }

  async _switchCamera() {
    this.switchBtn.disabled = true;
    try {
      await this.session.switchCamera();
    } catch (e) {
      this._notice(problem(e));
    } finally {
      this.switchBtn.disabled = false;
      this._render();
    }
  }

  async _toggleShare() {
    const s = this.session;
    this.shareBtn.disabled = true;
    try {
      if (s.sharing) await s.stopSharing();
      else await s.shareScreen();
      this._announce(s.sharing ? 'You are sharing your screen' : 'Screen sharing stopped');
    } catch (e) {
      if (e?.name !== 'NotAllowedError' && e?.name !== 'AbortError' && e?.code !== 'cancelled') this._notice(problem(e));
    } finally {
      this.shareBtn.disabled = false;
      this._render();
    }
  }

  async _toggleRecording() {
    const s = this.session;
    if (s.recording) return this._finishRecording(false);
    try {
      await s.startRecording();
      this._recording = Date.now();
      this._announce('Recording the call');
      this._notice('');
    } catch (e) {
      this._notice(problem(e, null, 'The call could not be recorded'));
    }
    this._controls();
  }

  // _finishRecording stops the recording and offers it as a download
  // (afterEnd: the call is over; the screen then waits for the person).
  async _finishRecording(afterEnd) {
    if (this._stopping) return this._stopping;
    const started = this._recording;
    this._stopping = (async () => {
      let blob = null;
      try {
        blob = await this.session.stopRecording();
      } catch (e) {
        if (!afterEnd) this._notice(problem(e, null, 'The recording could not be saved'));
      }
      this._recording = 0;
      this._stopping = null;
      this._controls();
      if (blob?.size) this._offer(blob, started);
      else if (afterEnd && !this._blob) this._closeTimer = setTimeout(() => this.close(), ENDED_MS);
    })();
    return this._stopping;
  }

  // _offer shows a finished recording with its Download button; at the end
  // of the call the screen then stays until it is downloaded or dismissed.
  _offer(blob, started) {
    if (this._blob === blob) return;
    this._blob = blob;
    clearTimeout(this._closeTimer);
    const len = started ? ` · ${clock(Date.now() - started)}` : '';
    this._notice(`Recording ready${len} · ${mb(blob.size)}`, {
      action: 'Download', icon: callIcons.download, keep: true, onAction: () => this._download(blob),
    });
    this._announce('The recording is ready to download.');
  }

  _download(blob) {
    const Session = this.session.constructor;
    const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
    if (typeof Session?.download === 'function') Session.download(blob, `parley-call-${stamp}.webm`);
    else {
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: `parley-call-${stamp}.webm`, style: { display: 'none' } });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    }
    if (this.view === 'ended') this._closeTimer = setTimeout(() => this.close(), 1200);
  }

  _toggleStats() {
    this.statsOpen = !this.statsOpen;
    this._controls();
  }

  _key(e) {
    if (e.key !== 'Escape') return;
    // Esc never hangs up (nor closes the chat under the call): it only
    // closes the statistics.
    e.preventDefault();
    if (this.statsOpen) {
      this.statsOpen = false;
      this._controls();
      this.statsBtn.focus();
    }
  }

  // _notice shows a short message over the controls, with an optional button.
  _notice(text, { action, onAction, icon, keep = false } = {}) {
    clearTimeout(this._noticeTimer);
    if (!text) {
      this.notice.hidden = true;
      this.notice.replaceChildren();
      return;
    }
    this.notice.replaceChildren(h('span', {}, text));
    if (action) {
      this.notice.append(h('button', { type: 'button', class: 'notice-act', onclick: onAction }, icon ? h('span', { html: icon }) : null, action));
    }
    this.notice.append(h('button', { type: 'button', class: 'notice-x', 'aria-label': 'Dismiss', html: callIcons.close, onclick: () => {
      this._notice('');
      if (this.view === 'ended') this.close();
    } }));
    this.notice.hidden = false;
    if (!keep && !action) this._noticeTimer = setTimeout(() => (this.notice.hidden = true), 6000);
    this._placePip();
  }

  _announce(text) {
    // A fresh text node each time, so that the same words are read again.
    this.live.textContent = '';
    setTimeout(() => (this.live.textContent = text), 60);
  }

  // _focus moves focus once the screen is in the page (the host appends
  // .el right after making it).
  _focus(el) {
    let n = 0;
    const go = () => {
      if (this.closed) return;
      if (!this.el.isConnected || el.hidden || el.disabled) {
        if (n++ < 30) setTimeout(go, 50);
        return;
      }
      el.focus({ preventScroll: true });
    };
    Promise.resolve().then(go);
  }

  // --- the tones ---

  _tone(kind) {
    if (this._toneKind === kind) return;
    this._player?.stop();
    this._player = null;
    this._toneKind = kind;
    if (!kind || this.closed) return;
    const ctx = this.audio?.() || sharedContext();
    if (!ctx) return;
    this._player = new Tone(ctx, kind);
    this._player.start();
  }

  // --- the picture-in-picture ---

  _localResized() {
    const { videoWidth: w, videoHeight: hgt } = this.local;
    if (w && hgt) this._ar = w / hgt;
    this._placePip();
  }

  _placePip() {
    if (this.pip.hidden || this._drag) return;
    const W = this.el.clientWidth;
    const H = this.el.clientHeight;
    if (!W || !H) return;
    const st = this.pip.style;
    if (this.pip.classList.contains('full')) {
      Object.assign(st, { left: '0px', top: '0px', width: W + 'px', height: H + 'px' });
      return;
    }
    const ar = this._ar || 4 / 3;
    let w = Math.min(Math.max(W * (W < 560 ? 0.3 : 0.2), 96), 260);
    let hgt = w / ar;
    const maxH = H * (ar < 1 ? 0.34 : 0.26);
    if (hgt > maxH) {
      hgt = maxH;
      w = hgt * ar;
    }
    const m = 12;
    const top = (this.top.hidden ? 0 : this.top.offsetHeight - 10) + m;
    const bottom = this.dock.offsetHeight + 4;
    const left = this.corner.includes('l') ? m : W - w - m;
    const y = this.corner.includes('t') ? top : H - bottom - hgt;
    Object.assign(st, { left: Math.round(left) + 'px', top: Math.round(Math.max(m, y)) + 'px', width: Math.round(w) + 'px', height: Math.round(hgt) + 'px' });
  }

  _dragStart(e) {
    if (e.button !== 0 || this.pip.classList.contains('full')) return;
    const box = this.el.getBoundingClientRect();
    const r = this.pip.getBoundingClientRect();
    this._drag = { id: e.pointerId, box, w: r.width, hgt: r.height, dx: e.clientX - r.left, dy: e.clientY - r.top, x0: e.clientX, y0: e.clientY, moved: false };
    this.pip.setPointerCapture?.(e.pointerId);
  }

  _dragMove(e) {
    const d = this._drag;
    if (!d || e.pointerId !== d.id) return;
    if (!d.moved && Math.hypot(e.clientX - d.x0, e.clientY - d.y0) < 4) return;
    d.moved = true;
    this.pip.classList.add('dragging');
    const x = Math.min(Math.max(e.clientX - d.box.left - d.dx, 0), d.box.width - d.w);
    const y = Math.min(Math.max(e.clientY - d.box.top - d.dy, 0), d.box.height - d.hgt);
    this.pip.style.left = x + 'px';
    this.pip.style.top = y + 'px';
  }

  _dragEnd(e) {
    const d = this._drag;
    if (!d || e.pointerId !== d.id) return;
    this._drag = null;
    this.pip.classList.remove('dragging');
    if (d.moved) {
      const r = this.pip.getBoundingClientRect();
      const cx = r.left + r.width / 2 - d.box.left;
      const cy = r.top + r.height / 2 - d.box.top;
      this.corner = (cy < d.box.height / 2 ? 't' : 'b') + (cx < d.box.width / 2 ? 'l' : 'r');
    }
    this._placePip();
  }

  _pipKey(e) {
    const c = this.corner;
    const next = { ArrowLeft: c[0] + 'l', ArrowRight: c[0] + 'r', ArrowUp: 't' + c[1], ArrowDown: 'b' + c[1] }[e.key];
    if (!next || !CORNERS.includes(next)) return;
    e.preventDefault();
    this.corner = next;
    this._placePip();
  }
}

// --- tones: scheduled on the audio clock, so they keep their rhythm in a
// background tab (where timers are throttled) ---

let shared = null;
function sharedContext() {
  if (shared) return shared;
  const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
  if (!AC) return null;
  try {
    shared = new AC();
  } catch {
    shared = null;
  }
  return shared;
}

// unlockCallAudio makes (or resumes) the screen's own audio context; call
// it from a user gesture so that a later ring can sound.
export function unlockCallAudio() {
  const ctx = sharedContext();
  if (ctx?.state === 'suspended') ctx.resume().catch(() => {});
  return ctx;
}

const AHEAD_S = 36; // a call rings for 30 s at most; refilled while it rings
const RING = { period: 3.2, level: 0.2, a: 784, b: 987.8, notes: [0, 0.13, 0.26, 0.39, 0.72, 0.85, 0.98, 1.11] };
const RINGBACK = { period: 4.2, level: 0.055, on: 1.6 };

class Tone {
  constructor(ctx, kind) {
    this.ctx = ctx;
    this.kind = kind;
  }

  start() {
    const ctx = this.ctx;
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    const ring = this.kind === 'ring';
    this.out = ctx.createGain();
    this.out.gain.value = ring ? RING.level : RINGBACK.level;
    this.out.connect(ctx.destination);
    this.env = ctx.createGain();
    this.env.gain.value = 0;
    this.env.connect(this.out);
    // ring: a bell-like sine with a soft octave; ringback: 440 + 480 Hz.
    this.o1 = ctx.createOscillator();
    this.o2 = ctx.createOscillator();
    const g2 = ctx.createGain();
    g2.gain.value = ring ? 0.16 : 1;
    this.o1.type = this.o2.type = 'sine';
    this.o1.frequency.value = ring ? RING.a : 440;
    this.o2.frequency.value = ring ? RING.a * 2 : 480;
    this.o1.connect(this.env);
    this.o2.connect(g2).connect(this.env);
    const t0 = ctx.currentTime + 0.05;
    this.o1.start(t0);
    this.o2.start(t0);
    this.next = t0 + (ring ? 0 : 0.25);
    this._fill();
    this.timer = setInterval(() => this._fill(), 5000);
  }

  _fill() {
    const ctx = this.ctx;
    const until = ctx.currentTime + AHEAD_S;
    const g = this.env.gain;
    while (this.next < until) {
      const t = this.next;
      if (this.kind === 'ring') {
        RING.notes.forEach((at, i) => {
          const f = i % 2 ? RING.b : RING.a;
          this.o1.frequency.setValueAtTime(f, t + at);
          this.o2.frequency.setValueAtTime(f * 2, t + at);
          g.setValueAtTime(0.0001, t + at);
          g.exponentialRampToValueAtTime(1, t + at + 0.008);
          g.exponentialRampToValueAtTime(0.02, t + at + 0.125);
        });
        g.setValueAtTime(0, t + RING.notes.at(-1) + 0.126);
        this.next = t + RING.period;
      } else {
        g.setValueAtTime(0, t);
        g.linearRampToValueAtTime(1, t + 0.05);
        g.setValueAtTime(1, t + RINGBACK.on - 0.05);
        g.linearRampToValueAtTime(0, t + RINGBACK.on);
        this.next = t + RINGBACK.period;
      }
    }
  }

  stop() {
    clearInterval(this.timer);
    const ctx = this.ctx;
    const now = ctx.currentTime;
    try {
      this.env.gain.cancelScheduledValues(now);
      this.env.gain.setTargetAtTime(0, now, 0.015);
      this.o1.stop(now + 0.12);
      this.o2.stop(now + 0.12);
    } catch { /* already stopped */ }
    setTimeout(() => this.out.disconnect(), 200);
  }
}

// --- helpers ---

function toggle(btn, on, onLabel, offLabel, onIcon, offIcon) {
  const label = on ? onLabel : offLabel;
  if (btn.getAttribute('aria-label') === label && btn.getAttribute('aria-pressed') === String(on)) return;
  btn.setAttribute('aria-label', label);
  btn.title = label;
  btn.setAttribute('aria-pressed', String(on));
  btn.innerHTML = on ? onIcon : offIcon;
}

const ROUTE = { relay: 'TURN', host: 'direct', srflx: 'direct, NAT', prflx: 'direct' };

const ROUTE_TITLE = {
  relay: 'The call goes through the TURN relay (a direct path was not possible)',
  host: 'Directly between the two devices, on the same network',
  srflx: 'Directly between the two devices, across NAT',
  prflx: 'Directly between the two devices',
};

function num(v) {
  return typeof v === 'number' && isFinite(v);
}

function kbps(v) {
  if (!num(v)) return '—';
  return v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)} Mbps` : `${Math.round(v)} kbps`;
}

function mb(n) {
  return n < 1048576 ? `${Math.max(1, Math.round(n / 1024))} KB` : `${(n / 1048576).toFixed(1)} MB`;
}

// clock: 0:07, 3:24, 1:02:09.
export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hr = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hr ? `${hr}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function initials(name = '') {
  const words = String(name).trim().split(/\s+/).filter(Boolean);
  if (!words.length) return '?';
  const first = [...words[0]][0] || '';
  const second = words.length > 1 && !/^[A-Z0-9]{2,}$/.test(words.at(-1)) ? [...words.at(-1)][0] || '' : '';
  return (first + second).toUpperCase();
}

function hue(s = '') {
  let n = 0;
  for (const c of String(s)) n = (n * 31 + c.codePointAt(0)) >>> 0;
  return n % 360;
}

// problem: what to tell a person about a failed call action.
export function problem(e, media = null, prefix = 'That did not work') {
  switch (e?.code || e?.name) {
    case 'media_denied':
    case 'NotAllowedError':
      return media === 'audio' ? 'Allow the microphone in your browser to take the call.' : 'Allow the camera and microphone in your browser to take the call.';
    case 'NotFoundError':
      return 'No camera or microphone was found.';
    case 'NotReadableError':
      return 'The camera or microphone is in use by another app.';
    case 'in_call': return 'You are already in a call.';
    case 'offline': return 'You are offline. Try again when the connection is back.';
    case 'not_in_call': return 'This call is over.';
    default: return `${prefix}${e?.message ? ': ' + e.message : '.'}`;
  }
}
