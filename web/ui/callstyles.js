// The call screen's styles (web/ui/callscreen.js), for the widget's shadow
// root and the console's document alike. It themes itself from the shared
// tokens: --accent, --font, and .pl-day / .pl-night on an ancestor. Video
// sits on near-black in both themes; ringing and audio calls sit on the
// accent (day) or a deep night gradient lit by the accent (night).
import { soundCSS } from './autoplay.js';

export const callCSS = soundCSS + `
.call-screen {
  --call-ink: #05070d; --call-glass: rgba(255, 255, 255, .16); --call-glass-hover: rgba(255, 255, 255, .26);
  position: absolute; inset: 0; z-index: 20; overflow: hidden; isolation: isolate;
  border-radius: inherit; color: #fff; background: var(--call-ink);
  font-family: var(--font, system-ui, sans-serif); font-size: 14px; line-height: 1.45; -webkit-font-smoothing: antialiased;
  container-type: size; animation: call-in .24s ease-out;
  user-select: none; -webkit-user-select: none; -webkit-tap-highlight-color: transparent;
}
.call-screen *, .call-screen *::before, .call-screen *::after { box-sizing: border-box; }
.call-screen [hidden] { display: none !important; }
.call-screen:focus { outline: none; }
.call-screen.closing { opacity: 0; transform: scale(.985); transition: opacity .22s ease, transform .22s ease; }
@keyframes call-in { from { opacity: 0; transform: scale(.985); } to { opacity: 1; transform: none; } }
.pl-day .call-screen, .pl-day.call-screen {
  --call-grad: radial-gradient(90% 55% at 50% 0%, rgba(255, 255, 255, .3), transparent 70%),
    radial-gradient(70% 50% at 100% 100%, color-mix(in srgb, #c026d3 40%, transparent), transparent 70%),
    linear-gradient(165deg, color-mix(in srgb, var(--accent) 88%, #fff), var(--accent) 45%, color-mix(in srgb, var(--accent) 62%, #1e1b4b));
}
.pl-night .call-screen, .pl-night.call-screen {
  --call-glass: rgba(255, 255, 255, .11); --call-glass-hover: rgba(255, 255, 255, .2);
  --call-grad: radial-gradient(100% 60% at 50% -8%, color-mix(in srgb, var(--accent) 58%, transparent), transparent 72%),
    radial-gradient(80% 45% at 100% 108%, rgba(192, 38, 211, .24), transparent 70%),
    linear-gradient(180deg, #0d1328, #04060e);
}
.call-bg { position: absolute; inset: 0; z-index: 0; background: var(--call-grad); transition: opacity .4s ease; }
.call-screen.has-remote-video .call-bg, .call-screen.is-preview .call-bg { opacity: 0; }

/* the other person: their video, or their avatar and name */
.call-screen video { display: block; }
.call-screen video.remote { position: absolute; inset: 0; z-index: 1; width: 100%; height: 100%; object-fit: contain; background: transparent;
  opacity: 0; transition: opacity .35s ease; }
.call-screen.has-remote-video video.remote { opacity: 1; }
@media (max-width: 480px) { .call-screen video.remote { object-fit: cover; } }
.call-persona { position: absolute; inset: 0; z-index: 2; display: flex; flex-direction: column; align-items: center; justify-content: center;
  gap: 4px; padding: 64px 24px 150px; text-align: center; transition: opacity .3s ease; pointer-events: none; }
.call-screen.has-remote-video .call-persona { opacity: 0; visibility: hidden; }
.call-screen[data-view=incoming] .call-persona { padding-bottom: 170px; }
.call-avatar { --h: 240; position: relative; flex: none; display: grid; place-items: center; width: clamp(88px, 30cqmin, 148px); aspect-ratio: 1;
  margin-bottom: 18px; border-radius: 50%; color: #fff; font-size: clamp(30px, 10.5cqmin, 52px); font-weight: 650; letter-spacing: .02em;
  background: linear-gradient(140deg, hsl(var(--h) 78% 66%), hsl(calc(var(--h) + 38) 68% 50%));
  box-shadow: 0 0 0 calc(var(--level, 0) * var(--ring, 18px)) rgba(255, 255, 255, .16), 0 22px 50px -18px rgba(0, 0, 0, .6), inset 0 0 0 1px rgba(255, 255, 255, .28);
  transition: box-shadow .12s linear; }
.call-avatar.accent { background: rgba(255, 255, 255, .2);
  box-shadow: 0 0 0 calc(var(--level, 0) * var(--ring, 18px)) rgba(255, 255, 255, .16), 0 22px 50px -18px rgba(0, 0, 0, .5), inset 0 0 0 1.5px rgba(255, 255, 255, .45);
  -webkit-backdrop-filter: blur(12px); backdrop-filter: blur(12px); }
.pl-night .call-avatar.accent { background: linear-gradient(140deg, var(--accent), color-mix(in srgb, var(--accent) 55%, #c026d3)); }
.call-avatar > span { position: relative; z-index: 1; display: grid; place-items: center; width: 100%; height: 100%; text-shadow: 0 1px 3px rgba(0, 0, 0, .18); }
.call-avatar > span svg { width: 50%; height: 50%; stroke-width: 2.1; }
/* the statistics open over an audio call: the avatar makes room */
.call-screen.stats-open:not(.has-remote-video) .call-persona { justify-content: flex-end; padding-bottom: 128px; }
.call-screen.stats-open:not(.has-remote-video) .call-avatar { --ring: 10px; width: 72px; font-size: 26px; margin-bottom: 12px; }
.call-avatar::before, .call-avatar::after { content: ""; position: absolute; inset: -2px; border-radius: 50%; border: 2px solid rgba(255, 255, 255, .6); opacity: 0; pointer-events: none; }
.call-screen[data-view=incoming] .call-avatar { animation: call-breathe 1.6s ease-in-out infinite; }
.call-screen[data-view=incoming] .call-avatar::before, .call-screen[data-view=incoming] .call-avatar::after,
.call-screen[data-view=outgoing] .call-avatar::before, .call-screen[data-view=outgoing] .call-avatar::after { animation: call-ripple 2.4s cubic-bezier(.15, .6, .35, 1) infinite; }
.call-screen[data-view=incoming] .call-avatar::after, .call-screen[data-view=outgoing] .call-avatar::after { animation-delay: 1.2s; }
.call-screen[data-view=outgoing] .call-avatar::before, .call-screen[data-view=outgoing] .call-avatar::after { border-color: rgba(255, 255, 255, .35); }
@keyframes call-ripple { 0% { transform: scale(1); opacity: .75; } 100% { transform: scale(1.8); opacity: 0; } }
@keyframes call-breathe { 50% { transform: scale(1.045); } }
.call-screen[data-view=ended] .call-avatar { filter: saturate(.4); opacity: .75; }
.call-name { margin: 0; max-width: 100%; font-size: clamp(20px, 6.6cqmin, 30px); font-weight: 650; letter-spacing: -.02em; line-height: 1.2;
  overflow-wrap: anywhere; text-wrap: balance; text-shadow: 0 1px 14px rgba(0, 0, 0, .18); }
.call-status { margin: 2px 0 0; font-size: 15px; font-weight: 500; opacity: .86; }
.call-screen[data-view=connecting] .call-status { animation: call-fade 1.4s ease-in-out infinite; }
@keyframes call-fade { 50% { opacity: .45; } }
.call-persona .call-timer { margin-top: 2px; font-size: 17px; font-weight: 500; font-variant-numeric: tabular-nums; opacity: .9; }
.call-screen:not([data-view=active]) .call-persona .call-timer { display: none; }
.call-hint { margin: 10px 0 0; max-width: 300px; font-size: 13.5px; line-height: 1.5; opacity: .85; text-wrap: balance; }
.call-screen.is-preview .call-persona { text-shadow: 0 1px 12px rgba(0, 0, 0, .45); }
.call-screen.is-preview .call-avatar { display: none; }

/* your own video */
.call-pip { position: absolute; z-index: 3; left: 0; top: 0; width: 0; height: 0; overflow: hidden; border-radius: 16px; background: #1e293b;
  box-shadow: 0 16px 36px -12px rgba(0, 0, 0, .65), 0 0 0 1px rgba(255, 255, 255, .2); cursor: grab; touch-action: none;
  transition: left .34s cubic-bezier(.2, .8, .2, 1), top .34s cubic-bezier(.2, .8, .2, 1), width .34s cubic-bezier(.2, .8, .2, 1),
    height .34s cubic-bezier(.2, .8, .2, 1), border-radius .34s ease; }
.call-pip.full { z-index: 1; border-radius: 0; box-shadow: none; cursor: default; }
.call-pip.full::after { content: ""; position: absolute; inset: 0; background: linear-gradient(180deg, rgba(2, 6, 23, .55), rgba(2, 6, 23, .15) 45%, rgba(2, 6, 23, .7)); }
.call-pip.dragging { transition: none; cursor: grabbing; }
.call-pip:focus-visible { outline: 3px solid #fff; outline-offset: 3px; }
.call-pip video.local { width: 100%; height: 100%; object-fit: cover; background: #0f172a; }
.call-pip.mirror video.local { transform: scaleX(-1); }
.call-pip.sharing video.local { object-fit: contain; }
.pip-off { position: absolute; inset: 0; display: grid; place-content: center; justify-items: center; gap: 6px; font-size: 12px; font-weight: 600;
  color: rgba(255, 255, 255, .8); background: linear-gradient(160deg, #1e293b, #0f172a); }
.pip-off svg { width: 22px; height: 22px; }
@container (max-width: 400px) { .pip-off { font-size: 0; gap: 0; } }

/* the top bar: who, how long, recording, quality */
.call-top { position: absolute; z-index: 4; top: 0; left: 0; right: 0; display: flex; align-items: center; gap: 8px; min-height: 64px;
  padding: 14px 14px 24px 18px; background: linear-gradient(180deg, rgba(0, 0, 0, .5), transparent); pointer-events: none; }
.call-top > * { pointer-events: auto; }
.call-screen.top-bare .call-top, .call-screen:not(.has-remote-video) .call-top { background: none; }
.call-top-title { flex: 1; min-width: 0; display: flex; flex-direction: column; line-height: 1.25; text-shadow: 0 1px 6px rgba(0, 0, 0, .35); }
.call-top-title strong { font-size: 15px; font-weight: 650; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.call-top .call-timer { font-size: 12.5px; font-weight: 500; opacity: .88; font-variant-numeric: tabular-nums; }
.call-screen:not(.has-remote-video) .call-top-title { visibility: hidden; }
.call-screen.top-bare .call-top-title, .call-screen.top-bare .call-quality { visibility: hidden; }
.call-min { flex: none; display: grid; place-items: center; width: 36px; height: 36px; margin-left: -6px; border: 0; border-radius: 12px; color: #fff;
  background: var(--call-glass); cursor: pointer; -webkit-backdrop-filter: blur(12px); backdrop-filter: blur(12px); }
.call-min:hover { background: var(--call-glass-hover); }
.call-quality { flex: none; display: inline-flex; align-items: center; gap: 7px; height: 28px; padding: 0 9px; border-radius: 999px; font-size: 12px; font-weight: 600;
  background: rgba(0, 0, 0, .28); -webkit-backdrop-filter: blur(12px); backdrop-filter: blur(12px); }
.call-quality .bars { display: inline-flex; align-items: flex-end; gap: 2px; height: 13px; }
.call-quality i { display: block; width: 3.5px; border-radius: 1.5px; background: rgba(255, 255, 255, .32); }
.call-quality i:nth-child(1) { height: 5px; } .call-quality i:nth-child(2) { height: 9px; } .call-quality i:nth-child(3) { height: 13px; }
.call-quality[data-quality=good] i { background: #4ade80; }
.call-quality[data-quality=fair] i:nth-child(-n+2) { background: #facc15; }
.call-quality[data-quality=poor] i:nth-child(1) { background: #f87171; }
.call-quality[data-quality=poor] { color: #fecaca; }
.q-text:empty { display: none; }
.call-rec, .call-pill { flex: none; display: inline-flex; align-items: center; gap: 6px; height: 28px; padding: 0 10px; border-radius: 999px;
  font-size: 12px; font-weight: 700; background: rgba(0, 0, 0, .32); -webkit-backdrop-filter: blur(12px); backdrop-filter: blur(12px); }
.call-rec { letter-spacing: .06em; }
.call-rec i { width: 8px; height: 8px; border-radius: 50%; background: #ef4444; box-shadow: 0 0 0 3px rgba(239, 68, 68, .28); animation: call-blink 1.2s ease-in-out infinite; }
.call-rec .rec-time { font-weight: 600; letter-spacing: 0; font-variant-numeric: tabular-nums; opacity: .85; }
@keyframes call-blink { 50% { opacity: .35; } }
.call-pill { font-weight: 600; background: rgba(34, 197, 94, .8); }
@container (max-width: 420px) { .call-pill { display: none; } .call-rec .rec-time { display: none; } }

/* the controls */
.call-dock { position: absolute; z-index: 5; left: 0; right: 0; bottom: 0; display: flex; flex-direction: column; align-items: center; gap: 12px;
  padding: 30px 12px calc(18px + env(safe-area-inset-bottom)); background: linear-gradient(0deg, rgba(0, 0, 0, .55), transparent); pointer-events: none; }
.call-dock > * { pointer-events: auto; }
.call-screen:not(.has-remote-video):not(.is-preview) .call-dock { background: none; }
.call-actions { display: flex; align-items: center; justify-content: center; gap: 10px; max-width: 100%; }
.call-btn { flex: none; position: relative; display: grid; place-items: center; width: 52px; height: 52px; padding: 0; border: 0; border-radius: 50%;
  color: #fff; background: var(--call-glass); cursor: pointer; -webkit-backdrop-filter: blur(14px); backdrop-filter: blur(14px);
  box-shadow: inset 0 0 0 1px rgba(255, 255, 255, .1); transition: background .15s ease, transform .12s ease, box-shadow .15s ease; }
.call-btn:hover { background: var(--call-glass-hover); }
.call-btn:active { transform: scale(.93); }
.call-btn:focus-visible, .call-close:focus-visible, .call-min:focus-visible, .call-notice button:focus-visible { outline: 3px solid #fff; outline-offset: 3px; }
.call-btn:disabled { opacity: .55; cursor: default; transform: none; }
.call-btn[aria-pressed=true], .call-btn.on { background: #fff; color: #0f172a; box-shadow: 0 6px 18px -8px rgba(0, 0, 0, .5); }
.call-btn.record[aria-pressed=true] { color: #dc2626; }
.call-btn.danger { background: #ef4444; box-shadow: 0 10px 26px -10px rgba(239, 68, 68, .9); }
.call-btn.danger:hover { background: #dc2626; }
.call-btn.hangup { width: 68px; border-radius: 26px; margin-left: 6px; }
.call-screen[data-view=outgoing] .call-btn.hangup { margin-left: 14px; }
.call-act { display: flex; flex-direction: column; align-items: center; gap: 9px; font-size: 13px; font-weight: 600; text-shadow: 0 1px 6px rgba(0, 0, 0, .25); }
.call-btn.accept, .call-btn.decline { width: 68px; height: 68px; }
.call-btn.accept svg, .call-btn.decline svg { width: 30px; height: 30px; }
.call-btn.accept { background: #22c55e; box-shadow: 0 12px 30px -10px rgba(34, 197, 94, .95); animation: call-nudge 1.6s ease-in-out infinite; }
.call-btn.accept:hover { background: #16a34a; }
@keyframes call-nudge { 0%, 70%, 100% { transform: none; } 78% { transform: rotate(-12deg) scale(1.04); } 86% { transform: rotate(10deg) scale(1.04); } 93% { transform: rotate(-6deg); } }
.call-screen[data-view=incoming] .call-actions { gap: clamp(56px, 26cqw, 140px); }
.call-screen[data-view=incoming] .call-dock { padding-bottom: calc(36px + env(safe-area-inset-bottom)); }
.call-close { min-width: 120px; height: 44px; padding: 0 22px; border: 0; border-radius: 999px; font: inherit; font-weight: 600; color: #fff;
  background: var(--call-glass); cursor: pointer; -webkit-backdrop-filter: blur(14px); backdrop-filter: blur(14px); }
.call-close:hover { background: var(--call-glass-hover); }
@container (max-width: 420px) {
  .call-actions { gap: 6px; }
  .call-btn { width: 44px; height: 44px; }
  .call-btn svg { width: 20px; height: 20px; }
  .call-btn.hangup { width: 56px; border-radius: 22px; margin-left: 2px; }
  .call-btn.accept, .call-btn.decline { width: 64px; height: 64px; }
}
@container (max-width: 380px) {
  .call-dock { padding-left: 8px; padding-right: 8px; }
  .call-actions { gap: 5px; }
  .call-btn { width: 40px; height: 40px; }
  .call-btn svg { width: 19px; height: 19px; }
  .call-btn.hangup { width: 50px; border-radius: 20px; }
}
@container (max-width: 330px) { .call-actions { gap: 3px; } .call-btn { width: 36px; height: 36px; } .call-btn.hangup { width: 44px; } }

/* messages over the controls: a recording to download, a refused camera */
.call-notice { display: flex; align-items: center; gap: 8px; max-width: min(440px, 100%); padding: 6px 6px 6px 14px; border-radius: 16px; font-size: 13px; font-weight: 500;
  color: var(--fg, #0f172a); background: color-mix(in srgb, var(--solid, #fff) 90%, transparent); box-shadow: 0 16px 36px -16px rgba(0, 0, 0, .6);
  -webkit-backdrop-filter: blur(18px); backdrop-filter: blur(18px); animation: call-in .2s ease-out; user-select: text; }
.call-notice > span { flex: 1; min-width: 0; }
.call-notice button { flex: none; display: inline-flex; align-items: center; gap: 6px; height: 32px; border: 0; border-radius: 10px; cursor: pointer; font: inherit; font-weight: 600; }
.call-notice .notice-act { padding: 0 12px; color: var(--accent-fg, #fff); background: var(--accent, #4f46e5); }
.call-notice .notice-act:hover { filter: brightness(1.08); }
.call-notice .notice-x { width: 32px; justify-content: center; color: var(--muted, #64748b); background: transparent; }
.call-notice .notice-x:hover { background: var(--hover, rgba(0, 0, 0, .06)); }
.call-notice button:focus-visible { outline-color: var(--accent, #4f46e5); }

/* the statistics */
.call-stats { position: absolute; z-index: 6; top: 60px; right: 12px; width: 284px; max-height: calc(100% - 170px); overflow: auto; padding: 12px 14px 12px;
  border-radius: 16px; font-size: 12.5px; color: var(--fg, #0f172a); background: color-mix(in srgb, var(--solid, #fff) 84%, transparent);
  border: 1px solid var(--line, rgba(0, 0, 0, .08)); box-shadow: 0 20px 44px -18px rgba(0, 0, 0, .6);
  -webkit-backdrop-filter: blur(20px) saturate(160%); backdrop-filter: blur(20px) saturate(160%); animation: call-in .18s ease-out; user-select: text; }
.call-stats h3 { margin: 0 0 8px; font-size: 11px; font-weight: 700; letter-spacing: .09em; text-transform: uppercase; color: var(--muted, #64748b); }
.call-stats dl { margin: 0; display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 6px 14px; }
.call-stat { display: contents; }
.call-stats dt { color: var(--muted, #64748b); white-space: nowrap; }
.call-stats dd { margin: 0; text-align: right; font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.call-stats dd[data-value=relay] { color: #d97706; }
.pl-night .call-stats dd[data-value=relay] { color: #fbbf24; }
@container (max-width: 480px) { .call-stats { left: 12px; right: 12px; width: auto; } }

@media (prefers-reduced-motion: reduce) {
  .call-screen, .call-screen *, .call-screen *::before, .call-screen *::after { animation: none !important; transition: none !important; }
  .call-screen[data-view=incoming] .call-avatar::before { opacity: .6; transform: scale(1.25); }
}
@media (forced-colors: active) {
  .call-btn, .call-close, .call-min { border: 1px solid ButtonText; }
  .call-btn[aria-pressed=true] { outline: 2px solid Highlight; }
}
`;
