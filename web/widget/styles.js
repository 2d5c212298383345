// The widget's own styles: the launcher, the glass panel and its header.
// :host is reset with !important because a host page's rules beat :host
// rules otherwise (and "* { all: unset }" would reach the element itself).
export const widgetCSS = `
:host {
  all: initial !important;
  display: block !important; visibility: visible !important; opacity: 1 !important;
  position: fixed !important; z-index: 2147483000 !important;
  inset: auto 20px 20px auto !important; width: auto !important; height: auto !important;
  margin: 0 !important; padding: 0 !important; border: 0 !important; transform: none !important;
  contain: layout style !important;
}
:host([data-position="left"]) { inset: auto auto 20px 20px !important; }
:host([mode="page"]) { inset: 0 !important; width: 100% !important; height: 100% !important; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
button { font: inherit; }
.root { position: relative; display: flex; flex-direction: column; align-items: flex-end; gap: 14px; }
.root.left { align-items: flex-start; }
.launcher { position: relative; width: 60px; height: 60px; border-radius: 50%; border: 0; cursor: pointer; color: #fff;
  display: grid; place-items: center; padding: 0;
  background: linear-gradient(135deg, var(--accent), color-mix(in srgb, var(--accent) 55%, #c026d3));
  box-shadow: 0 12px 28px -8px color-mix(in srgb, var(--accent) 70%, transparent), 0 2px 6px rgba(0,0,0,.15);
  transition: transform .18s ease; }
.launcher:hover { transform: translateY(-2px) scale(1.03); }
.launcher svg { width: 28px; height: 28px; }
.launcher .dot { position: absolute; top: 3px; right: 3px; width: 14px; height: 14px; box-shadow: 0 0 0 3px #fff; }
.badge { position: absolute; top: -4px; left: -4px; min-width: 22px; height: 22px; padding: 0 6px; border-radius: 11px;
  background: #ef4444; color: #fff; font-size: 12px; font-weight: 700; display: grid; place-items: center; box-shadow: 0 0 0 2px #fff; }
.panel { position: relative; width: 380px; height: min(640px, calc(100vh - 110px)); display: flex; flex-direction: column; overflow: hidden;
  border-radius: 24px; background: var(--surface); color: var(--fg);
  -webkit-backdrop-filter: blur(24px) saturate(180%); backdrop-filter: blur(24px) saturate(180%);
  border: 1px solid color-mix(in srgb, var(--line) 60%, rgba(255,255,255,.35)); box-shadow: var(--shadow);
  transform-origin: bottom right; animation: pl-in .2s ease-out; }
.root.left .panel { transform-origin: bottom left; }
@keyframes pl-in { from { opacity: 0; transform: translateY(12px) scale(.97); } to { opacity: 1; transform: none; } }
/* A call: the launcher turns green while the panel is hidden, and a video
   call on a desktop gets a wider panel (the picture is not a strip). */
.root.in-call .launcher { background: linear-gradient(135deg, #22c55e, #15803d); box-shadow: 0 12px 28px -8px rgba(22, 163, 74, .7), 0 2px 6px rgba(0,0,0,.15); }
.root.in-call:not(.open) .launcher::after { content: ""; position: absolute; inset: 0; border-radius: 50%; border: 2px solid #22c55e; animation: pl-ring 1.8s ease-out infinite; }
@keyframes pl-ring { from { transform: scale(1); opacity: .8; } to { transform: scale(1.5); opacity: 0; } }
.root.call-video:not(.page) .panel { width: min(720px, calc(100vw - 40px)); height: min(640px, calc(100vh - 110px)); }
.panel { transition: width .32s cubic-bezier(.2, .8, .2, 1); }
@media (prefers-reduced-motion: reduce) { .panel { animation: none; transition: none; } .launcher { transition: none; } .root.in-call .launcher::after { animation: none; } }
header { position: relative; display: flex; align-items: center; gap: 12px; padding: 14px 12px 14px 16px; color: #fff;
  background: linear-gradient(135deg, var(--accent), color-mix(in srgb, var(--accent) 55%, #c026d3)); }
header::after { content: ""; position: absolute; inset: 0; background: linear-gradient(180deg, rgba(255,255,255,.16), transparent 60%); pointer-events: none; }
.avatar { position: relative; width: 42px; height: 42px; border-radius: 14px; display: grid; place-items: center; font-weight: 700; font-size: 18px;
  background: rgba(255,255,255,.22); box-shadow: inset 0 0 0 1px rgba(255,255,255,.35); flex: none; }
.avatar .dot { position: absolute; right: -3px; bottom: -3px; width: 13px; height: 13px; box-shadow: 0 0 0 2px rgba(255,255,255,.9); }
.title { flex: 1; min-width: 0; z-index: 1; }
.title h2 { margin: 0; font-size: 16px; font-weight: 650; letter-spacing: -.01em; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
/* the status may take two lines: "Nobody is available right now · leave a message" must be read whole */
.title p { margin: 2px 0 0; font-size: 12.5px; line-height: 1.3; opacity: .9; overflow: hidden; display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2; line-clamp: 2; }
header .icon-btn { color: #fff; z-index: 1; }
.head-actions { position: relative; z-index: 1; display: flex; align-items: center; gap: 0; margin-right: -2px; }
.head-actions .icon-btn { width: 34px; height: 36px; border-radius: 11px; }
.head-actions .call-start svg { width: 20px; height: 20px; }
.head-actions .icon-btn:disabled { opacity: .45; cursor: default; background: none; }
.head-actions .icon-btn[aria-busy] { opacity: 1; animation: pl-pulse 1s ease-in-out infinite; }
header .icon-btn:hover { background: rgba(255,255,255,.16); }
header .icon-btn:focus-visible { outline-color: #fff; }
.banner { padding: 7px 14px; font-size: 12.5px; text-align: center; background: color-mix(in srgb, #f59e0b 22%, var(--surface-2)); color: var(--fg); border-bottom: 1px solid var(--line); }
.banner.error { background: color-mix(in srgb, #ef4444 18%, var(--surface-2)); }
.body { flex: 1; min-height: 0; display: flex; flex-direction: column; background: var(--backdrop); }
.gone { flex: 1; display: grid; place-items: center; padding: 28px; text-align: center; }
.gone h3 { margin: 0 0 8px; font-size: 17px; }
.gone p { margin: 0; color: var(--muted); }
.footer { text-align: center; font-size: 11px; color: var(--muted); padding: 0 0 8px; margin-top: -4px; }
.footer a { color: inherit; }
/* Phones: the open chat takes the whole screen. */
@media (max-width: 480px) {
  :host(.open) { inset: 0 !important; }
  .root.open { height: 100%; }
  .root.open .launcher { display: none; }
  .root.open .panel, .root.open.call-video .panel { width: 100%; height: 100%; border-radius: 0; background: var(--solid); border: 0; }
  .row { max-width: 88%; }
}
/* The full-page chat. */
.root.page { height: 100%; align-items: stretch; }
.root.page .panel { width: 100%; height: 100%; max-width: 760px; margin: 0 auto; border-radius: 0; animation: none; }
@media (min-width: 800px) { .root.page { padding: 24px; } .root.page .panel { border-radius: 24px; } }
`;
