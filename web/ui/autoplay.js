// Autoplay: browsers start a media element with sound only once the person
// has interacted with the page (Chromium's desktop default,
// document-user-activation-required; Safari and Firefox do alike); a muted
// one may start at once. A watch link opened from a chat, a call resumed
// after a reload: nobody has clicked yet. So playback starts with sound
// when allowed, else muted, and the screen offers a button that turns the
// sound on (a click is the interaction the browser waits for).
import { h } from './dom.js';

const SPEAKER_OFF = '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M11 5 6 9H2v6h4l5 4V5z"/><path d="m23 9-6 6M17 9l6 6"/></svg>';
const PLAY = '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false"><path d="M7 4v16l13-8z" fill="currentColor"/></svg>';

// startPlayback plays el and says how: 'sound', 'muted' (sound was refused:
// it plays muted), 'blocked' (even muted playback was refused, as in a
// phone's power saving mode) or 'replaced' (a newer source took its place).
export async function startPlayback(el) {
  try {
    await el.play();
    return el.muted ? 'muted' : 'sound';
  } catch (e) {
    if (e?.name !== 'NotAllowedError') return 'replaced';
  }
  el.muted = true;
  try {
    await el.play();
    return 'muted';
  } catch (e) {
    return e?.name === 'NotAllowedError' ? 'blocked' : 'replaced';
  }
}

// soundCSS styles the button; it sits in a call screen's dock.
export const soundCSS = `
.sound-btn { display: inline-flex; align-items: center; justify-content: center; gap: 10px; min-height: 52px; max-width: 100%; padding: 0 24px; border: 0; border-radius: 999px;
  font: inherit; font-size: 16px; font-weight: 650; color: #0f172a; background: #fff; cursor: pointer; box-shadow: 0 14px 34px -12px rgba(0, 0, 0, .7); animation: call-in .2s ease-out; }
.sound-btn:hover { background: #f1f5f9; }
.sound-btn:focus-visible { outline: 3px solid var(--accent, #4f46e5); outline-offset: 3px; }
.sound-btn[hidden] { display: none; }
`;

// SoundButton is the control: show('muted' | 'blocked') reveals it,
// clicking it unmutes and plays every element elements() lists, then hides it.
export class SoundButton {
  constructor(elements) {
    this.elements = elements;
    this.el = h('button', { type: 'button', class: 'sound-btn', hidden: true, onclick: () => this.turnOn() });
  }

  show(how) {
    if (how !== 'muted' && how !== 'blocked') return;
    if (!this.el.hidden && this.el.dataset.how === 'blocked') return; // the stronger message stays
    const label = how === 'blocked' ? 'Play' : 'Turn on sound';
    this.el.dataset.how = how;
    this.el.innerHTML = (how === 'blocked' ? PLAY : SPEAKER_OFF) + `<span>${label}</span>`;
    this.el.setAttribute('aria-label', how === 'blocked' ? 'Play the video with sound' : 'Turn on sound');
    this.el.hidden = false;
  }

  hide() {
    this.el.hidden = true;
  }

  async turnOn() {
    this.hide();
    for (const v of this.elements()) {
      v.muted = false;
      try {
        await v.play();
      } catch {
        // refused even now: leave it muted and offer the button again
        v.muted = true;
        this.show('blocked');
      }
    }
  }
}
