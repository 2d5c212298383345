// Styles shared by the widget (inside its shadow root) and the console: the
// day and night palettes as custom properties, and the conversation view.
// A container with class "pl-day" or "pl-night" and --accent set themes
// everything inside it.

export const tokensCSS = `
.pl-day {
  --fg: #0f172a; --muted: #64748b; --faint: #94a3b8;
  --surface: rgba(255, 255, 255, 0.74); --surface-2: rgba(255, 255, 255, 0.9); --solid: #ffffff;
  --line: rgba(15, 23, 42, 0.08); --hover: rgba(15, 23, 42, 0.05);
  --theirs: rgba(241, 245, 249, 0.95); --theirs-fg: #0f172a;
  --input: rgba(255, 255, 255, 0.85);
  --shadow: 0 30px 60px -18px rgba(30, 27, 75, 0.45), 0 0 0 1px rgba(255, 255, 255, 0.5) inset;
  --backdrop: rgba(248, 250, 252, 0.6);
  --danger: #dc2626; --ok: #16a34a;
  color-scheme: light;
}
.pl-night {
  --fg: #e2e8f0; --muted: #94a3b8; --faint: #64748b;
  --surface: rgba(15, 23, 42, 0.72); --surface-2: rgba(30, 41, 59, 0.9); --solid: #0f172a;
  --line: rgba(255, 255, 255, 0.08); --hover: rgba(255, 255, 255, 0.06);
  --theirs: rgba(51, 65, 85, 0.9); --theirs-fg: #e2e8f0;
  --input: rgba(30, 41, 59, 0.85);
  --shadow: 0 30px 60px -18px rgba(0, 0, 0, 0.7), 0 0 0 1px rgba(255, 255, 255, 0.06) inset;
  --backdrop: rgba(2, 6, 23, 0.5);
  --danger: #f87171; --ok: #4ade80;
  color-scheme: dark;
}
.pl-day, .pl-night {
  --accent-fg: #ffffff;
  --radius: 18px;
  --font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif, "Apple Color Emoji", "Segoe UI Emoji";
  font-family: var(--font); color: var(--fg); font-size: 14px; line-height: 1.45;
}
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; background: #9ca3af; box-shadow: 0 0 0 2px var(--solid); flex: none; }
.dot.online { background: #22c55e; }
.dot.away { background: #eab308; }
.dot.busy { background: #ef4444; }
.dot.offline { background: #9ca3af; }
.dot.typing { background: #ef4444; animation: pl-pulse 1s ease-in-out infinite; }
@keyframes pl-pulse { 0%, 100% { transform: scale(1); opacity: 1; } 50% { transform: scale(1.35); opacity: .55; } }
@media (prefers-reduced-motion: reduce) { .dot.typing { animation: none; outline: 2px solid #ef4444; outline-offset: 1px; } }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
.icon-btn { display: inline-grid; place-items: center; width: 36px; height: 36px; border-radius: 12px; border: 0; background: transparent; color: inherit; cursor: pointer; padding: 0; }
.icon-btn:hover { background: var(--hover); }
.icon-btn:focus-visible, button:focus-visible, a:focus-visible, textarea:focus-visible, input:focus-visible, select:focus-visible, [tabindex]:focus-visible {
  outline: 2px solid var(--accent); outline-offset: 2px;
}
`;

export const threadCSS = `
.thread { position: relative; display: flex; flex-direction: column; min-height: 0; flex: 1; }
.log-wrap { position: relative; flex: 1; min-height: 0; display: flex; flex-direction: column; }
.log { flex: 1; min-height: 0; overflow-y: auto; overscroll-behavior: contain; padding: 14px 14px 6px; scroll-behavior: auto; overflow-anchor: none; /* the thread keeps the message in view itself */ }
.jump { position: absolute; left: 50%; bottom: 10px; transform: translateX(-50%); z-index: 2; display: inline-flex; align-items: center; gap: 6px; padding: 7px 14px 7px 10px; border-radius: 999px; border: 1px solid var(--line); background: var(--surface-2); color: var(--fg); font: inherit; font-size: 12px; font-weight: 600; cursor: pointer; box-shadow: 0 8px 24px -10px rgba(15,23,42,.45); backdrop-filter: blur(12px); -webkit-backdrop-filter: blur(12px); white-space: nowrap; }
.jump:hover { filter: brightness(1.04); }
.jump.has-new { background: var(--accent); color: var(--accent-fg); border-color: transparent; }
.jump .jump-icon { display: inline-flex; }
.jump[hidden] { display: none; }
.msgs { position: relative; margin: 0; padding: 0; list-style: none; display: flex; flex-direction: column; gap: 2px; }
.log:focus-visible { outline-offset: -2px; }
.day { align-self: center; margin: 10px 0 6px; padding: 3px 10px; border-radius: 999px; font-size: 12px; color: var(--muted); background: var(--surface-2); border: 1px solid var(--line); }
.call-event { align-self: center; display: inline-flex; align-items: center; gap: 6px; margin: 8px 0; padding: 4px 12px; border-radius: 999px; font-size: 12px; color: var(--muted); background: var(--surface-2); border: 1px solid var(--line); }
.call-event .meta-time { color: var(--faint); }
.more { align-self: center; font-size: 12px; color: var(--muted); padding: 6px; }
.row { display: flex; flex-direction: column; max-width: 82%; align-self: flex-start; }
.row.mine { align-self: flex-end; align-items: flex-end; }
.row.first { margin-top: 8px; }
.who { font-size: 12px; color: var(--muted); margin: 0 10px 2px; }
.bubble { position: relative; padding: 8px 12px; border-radius: var(--radius); background: var(--theirs); color: var(--theirs-fg); white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; box-shadow: 0 1px 1px rgba(0,0,0,.04); outline: none; user-select: text; -webkit-touch-callout: none; }
.row:not(.mine) .bubble { border-bottom-left-radius: 6px; }
.row:not(.mine):not(.first) .bubble { border-top-left-radius: 6px; }
.row.mine .bubble { background: var(--accent); color: var(--accent-fg); border-bottom-right-radius: 6px; }
.row.mine:not(.first) .bubble { border-top-right-radius: 6px; }
.row.welcome .bubble { background: var(--surface-2); border: 1px solid var(--line); }
.bubble:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.row.mine .bubble:focus-visible { outline-color: var(--fg); }
.bubble a { color: inherit; text-decoration: underline; text-underline-offset: 2px; }
.bubble.deleted { font-style: italic; opacity: .7; background: transparent; border: 1px dashed var(--line); color: var(--muted); }
.row.mine .bubble.deleted { background: transparent; color: var(--muted); }
.meta { display: flex; align-items: center; gap: 4px; font-size: 11px; color: var(--muted); margin: 2px 8px 0; min-height: 14px; }
.meta .tick { display: inline-flex; color: var(--faint); }
.meta .tick.read { color: var(--accent); }
.meta .tick.failed { color: var(--danger); }
.meta button { font: inherit; font-size: 11px; color: var(--accent); background: none; border: 0; padding: 0 2px; cursor: pointer; text-decoration: underline; }
.quote { display: block; font-size: 12px; margin: -2px -4px 6px; padding: 4px 8px; border-left: 3px solid currentColor; border-radius: 6px; opacity: .8; background: rgba(127,127,127,.12); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 240px; }
.media { display: block; padding: 0; border: 0; background: none; cursor: zoom-in; border-radius: 12px; overflow: hidden; margin: -4px -8px 4px; position: relative; }
.media img { display: block; max-width: 240px; max-height: 240px; min-width: 80px; min-height: 60px; object-fit: cover; background: var(--hover); }
.bubble.only-media { padding: 4px; background: transparent !important; box-shadow: none; }
.bubble.only-media .media { margin: 0; }
.progress { position: absolute; left: 8px; right: 8px; bottom: 8px; height: 6px; border-radius: 3px; background: rgba(0,0,0,.35); overflow: hidden; }
.progress > span { display: block; height: 100%; width: 0; background: #fff; transition: width .15s linear; }
.progress-label { position: absolute; right: 10px; bottom: 18px; font-size: 11px; color: #fff; text-shadow: 0 1px 2px rgba(0,0,0,.6); }
.filecard { display: flex; align-items: center; gap: 10px; min-width: 180px; color: inherit; text-decoration: none; background: none; border: 0; font: inherit; cursor: pointer; padding: 2px 0; text-align: left; }
.filecard .ficon { display: grid; place-items: center; width: 36px; height: 36px; border-radius: 10px; background: rgba(127,127,127,.18); flex: none; }
.filecard small { display: block; opacity: .75; font-size: 11px; }
.filecard .progress { position: static; margin-top: 4px; background: rgba(127,127,127,.3); }
.filecard .progress > span { background: currentColor; }
.voice { display: flex; align-items: center; gap: 8px; min-width: 180px; }
.voice button { width: 32px; height: 32px; border-radius: 50%; border: 0; display: grid; place-items: center; cursor: pointer; background: rgba(127,127,127,.2); color: inherit; flex: none; }
.voice .bar { flex: 1; height: 4px; border-radius: 2px; background: rgba(127,127,127,.35); overflow: hidden; }
.voice .bar > span { display: block; height: 100%; width: 0; background: currentColor; }
.voice .len { font-size: 12px; font-variant-numeric: tabular-nums; opacity: .85; }
.typing-line { display: flex; align-items: center; gap: 6px; min-height: 22px; padding: 0 18px 4px; font-size: 12px; color: var(--muted); }
.typing-line[hidden] { display: flex; visibility: hidden; }
.typing-line .dots { display: inline-flex; gap: 3px; }
.typing-line .dots i { width: 5px; height: 5px; border-radius: 50%; background: currentColor; animation: pl-bounce 1.2s infinite ease-in-out; }
.typing-line .dots i:nth-child(2) { animation-delay: .15s; } .typing-line .dots i:nth-child(3) { animation-delay: .3s; }
@keyframes pl-bounce { 0%, 80%, 100% { transform: translateY(0); opacity: .5; } 40% { transform: translateY(-3px); opacity: 1; } }
.context { display: flex; align-items: center; gap: 8px; margin: 0 12px; padding: 6px 6px 6px 12px; border-left: 3px solid var(--accent); border-radius: 10px; background: var(--hover); font-size: 12px; color: var(--muted); }
.context span { flex: 1; min-width: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.context .icon-btn { width: 28px; height: 28px; }
.composer { display: flex; align-items: flex-end; gap: 4px; margin: 8px 10px 10px; padding: 6px; border-radius: 22px; background: var(--input); border: 1px solid var(--line); box-shadow: 0 4px 16px -8px rgba(15,23,42,.25); }
.composer:focus-within { border-color: color-mix(in srgb, var(--accent) 55%, transparent); }
.composer textarea { flex: 1; min-width: 0; resize: none; border: 0; outline: none; background: transparent; color: var(--fg); font: inherit; line-height: 20px; padding: 8px 4px; max-height: 120px; }
.composer textarea::placeholder { color: var(--faint); }
.composer .icon-btn { color: var(--muted); border-radius: 50%; }
.composer .send { background: var(--accent); color: var(--accent-fg); }
.composer .send:hover { background: var(--accent); filter: brightness(1.08); }
.recording { flex: 1; display: flex; align-items: center; gap: 8px; padding: 0 6px; color: var(--fg); font-variant-numeric: tabular-nums; }
.recording .rec { width: 10px; height: 10px; border-radius: 50%; background: #ef4444; animation: pl-pulse 1s infinite; }
.drop { position: absolute; inset: 8px; border-radius: 16px; border: 2px dashed var(--accent); background: color-mix(in srgb, var(--accent) 14%, var(--surface-2)); display: grid; place-items: center; font-weight: 600; color: var(--accent); z-index: 3; pointer-events: none; }
.menu { position: absolute; z-index: 5; min-width: 150px; padding: 6px; border-radius: 14px; background: var(--surface-2); border: 1px solid var(--line); box-shadow: var(--shadow); backdrop-filter: blur(16px); -webkit-backdrop-filter: blur(16px); }
.menu button { display: flex; align-items: center; gap: 10px; width: 100%; padding: 8px 10px; border: 0; border-radius: 9px; background: none; color: var(--fg); font: inherit; text-align: left; cursor: pointer; }
.menu button:hover, .menu button:focus { background: var(--hover); outline: none; }
.menu button.danger { color: var(--danger); }
.lightbox { position: absolute; inset: 0; z-index: 6; display: grid; place-items: center; background: rgba(2,6,23,.82); padding: 16px; }
.lightbox img { max-width: 100%; max-height: 100%; border-radius: 10px; }
.lightbox .icon-btn { position: absolute; top: 10px; right: 10px; color: #fff; background: rgba(255,255,255,.12); }
.notice { margin: 0 12px 6px; padding: 8px 12px; border-radius: 12px; font-size: 12px; background: var(--hover); color: var(--muted); }
.notice.error { color: var(--danger); }
`;
