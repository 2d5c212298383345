// Calls in the console: the conversation header's video and phone buttons
// call the visitor; a visitor's call rings here (and on every teammate's
// console: the first to accept takes it). The call screen covers the
// conversation (the whole screen on a phone); an incoming call opens its
// conversation, rings even in a background tab (on the audio context the
// first gesture unlocked), and shows a system notification while the
// console is not in view.

import { CallScreen, callCSS, problem } from '../ui/callscreen.js';
import { toast } from './kit.js';
import { setCallTitle } from './notify.js';

const PHONE = matchMedia('(max-width: 699.98px)');
let sheet = null;

export class CallManager {
  constructor(app) {
    this.app = app;
    this.screen = null;
    this.placing = null; // 'video' | 'audio' while a call starts
    const calls = app.client.calls;
    this.supported = !!calls && typeof RTCPeerConnection === 'function' && !!navigator.mediaDevices?.getUserMedia;
    if (!this.supported) return;
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(callCSS);
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    }
    const signal = app.ac.signal;
    calls.addEventListener('incoming', (e) => this.show(e.detail), { signal });
    calls.addEventListener('outgoing', (e) => this.show(e.detail), { signal });
  }

  // busy: a call is on (or starting), or a group call: the header's buttons wait.
  get busy() {
    return !!this.placing || !!(this.screen && this.screen.session.state !== 'ended') || !!this.app.client.calls?.current || !!this.app.rooms?.busy;
  }

  destroy() {
    if (this.screen && this.screen.session.state !== 'ended') this.screen.session.hangup();
    this._close(this.screen);
  }

  // start calls the visitor of the open conversation.
  async start(media) {
    const app = this.app;
    const conv = app.chat.conv;
    if (!this.supported || !conv || this.busy) return;
    this.placing = media;
    app.chat.renderHeader();
    try {
      const session = await app.client.calls.start(conv.id, media);
      this.show(session);
    } catch (e) {
      toast(problem(e, media, 'The call did not start'), true);
    } finally {
      this.placing = null;
      app.chat.renderHeader();
    }
  }

  show(session) {
    if (this.screen?.session === session) return;
    if (this.screen && this.screen.session.state !== 'ended') return; // one call at a time
    this._close(this.screen);
    const app = this.app;
    const convId = session.conversationId;
    if (session.direction === 'in') {
      if (app.settingsView?.isOpen) app.settingsView.close(); // a modal sheet would hide the ringing call
      if (convId && app.selected !== convId) app.select(convId, { push: PHONE.matches });
      else if (app._overlay) app.toggleDetails(false); // the details overlay (tablets) would cover it
    }
    const conv = () => app.client.convs.get(convId);
    const screen = new CallScreen({
      session,
      names: (id) => (id ? app.nameOf(id, conv()) : conv()?.info.name || 'Visitor'),
      audio: () => app.notifier.audioContext(),
      onClose: () => this._close(screen),
      endedHint: (reason, s) => {
        const name = conv()?.info.name || 'The visitor';
        if (s.direction !== 'out') return reason === 'answered_elsewhere' ? 'A teammate (or another of your devices) took the call.' : '';
        return { busy: `${name} is on another call.`, missed: `${name} did not answer.`, failed: 'Check your connection and try again.' }[reason] || '';
      },
    });
    this.screen = screen;
    app.chat.el.append(screen.el);
    app.chat.setCovered(true);
    app.shell.classList.add('in-call');
    if (session.direction === 'in' && session.state === 'ringing') this._ring(session);
    this._onState = () => {
      if (session.state !== 'ringing') this._stopRinging();
      app.chat.renderHeader();
    };
    session.addEventListener('state', this._onState);
    app.chat.renderHeader();
  }

  // _ring: a system notification and the tab's title, while nobody looks.
  _ring(session) {
    const app = this.app;
    const name = app.nameOf(session.peerId, app.client.convs.get(session.conversationId));
    const what = session.media === 'video' ? 'video call' : 'audio call';
    this._ringing = session;
    setCallTitle(`Incoming ${what} · ${name}`);
    if (document.visibilityState !== 'visible' || !document.hasFocus()) {
      app.notifier.callAlert({ title: `${name} is calling`, body: `Incoming ${what}. Open the console to answer.`, conversationId: session.conversationId, tag: 'call-' + session.id });
    }
  }

  _stopRinging() {
    const s = this._ringing;
    if (!s) return;
    this._ringing = null;
    this.app.notifier.clearCallAlert('call-' + s.id);
    setCallTitle(null);
  }

  _close(screen) {
    if (!screen) return;
    screen.session.removeEventListener('state', this._onState);
    this._stopRinging();
    const hadFocus = screen.el.contains(document.activeElement);
    screen.destroy();
    if (screen !== this.screen) return;
    this.screen = null;
    const app = this.app;
    app.chat.setCovered(false);
    app.shell.classList.remove('in-call');
    app.chat.renderHeader();
    if (hadFocus) app.chat.focus();
  }
}
