// The console's own styles, applied with document.adoptedStyleSheets after
// the shared tokensCSS (palettes on .pl-day/.pl-night) and threadCSS (the
// conversation view). Glass panels over a soft gradient, like the widget
// and the landing page.

export const consoleCSS = `
:root { --accent: #4f46e5; }
.pl-day {
  --page-bg: #edf0f8; --glow-1: 42%; --glow-2: rgba(192, 38, 211, .26); --glow-3: rgba(14, 165, 233, .26);
  --glass: rgba(255, 255, 255, .56); --glass-line: rgba(255, 255, 255, .75);
  --panel-shadow: 0 1px 0 rgba(255, 255, 255, .7) inset, 0 24px 48px -30px rgba(30, 27, 75, .38), 0 2px 6px -2px rgba(30, 27, 75, .06);
  --card-bg: rgba(255, 255, 255, .6); --line-strong: rgba(15, 23, 42, .13); --sheet-bg: rgba(246, 247, 252, .9);
  --overlay-shadow: 0 30px 70px -20px rgba(30, 27, 75, .45);
}
.pl-night {
  --page-bg: #060a1c; --glow-1: 46%; --glow-2: rgba(192, 38, 211, .24); --glow-3: rgba(14, 165, 233, .18);
  --glass: rgba(15, 23, 42, .58); --glass-line: rgba(255, 255, 255, .07);
  --panel-shadow: 0 1px 0 rgba(255, 255, 255, .04) inset, 0 24px 48px -28px rgba(0, 0, 0, .85);
  --card-bg: rgba(30, 41, 59, .42); --line-strong: rgba(255, 255, 255, .12); --sheet-bg: rgba(12, 18, 36, .9);
  --overlay-shadow: 0 30px 70px -20px rgba(0, 0, 0, .9);
}
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
html, body { margin: 0; height: 100%; }
html { background: var(--page-bg); }
body.console {
  min-height: 100dvh; -webkit-font-smoothing: antialiased; -webkit-tap-highlight-color: transparent;
  background:
    radial-gradient(1100px 650px at -5% -15%, color-mix(in srgb, var(--accent) var(--glow-1), transparent), transparent 62%),
    radial-gradient(900px 600px at 108% -5%, var(--glow-2), transparent 60%),
    radial-gradient(1000px 700px at 45% 120%, var(--glow-3), transparent 62%),
    var(--page-bg);
  background-attachment: fixed;
}
a { color: var(--accent); }
h1, h2, h3 { letter-spacing: -.01em; }
button, input, select, textarea { font: inherit; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .92em; }
.muted { color: var(--muted); }

.glass {
  background: var(--glass); border: 1px solid var(--glass-line); border-radius: 22px; box-shadow: var(--panel-shadow);
  -webkit-backdrop-filter: blur(24px) saturate(165%); backdrop-filter: blur(24px) saturate(165%);
}
.mark { width: 34px; height: 34px; border-radius: 11px; flex: none; background: url(/console/icons/192.png) center / cover;
  box-shadow: 0 8px 16px -8px rgba(79, 70, 229, .75); }

/* --- booting --- */
.boot { min-height: 100dvh; display: grid; place-items: center; }
.boot-mark { width: 56px; height: 56px; border-radius: 18px; background: url(/console/icons/192.png) center / cover; animation: pl-breathe 1.4s ease-in-out infinite; }
@keyframes pl-breathe { 50% { transform: scale(.92); opacity: .7; } }

/* --- buttons and fields --- */
.btn { display: inline-flex; align-items: center; justify-content: center; gap: 8px; padding: 10px 16px; border-radius: 12px;
  border: 1px solid var(--line-strong); background: var(--input); color: var(--fg); font-weight: 600; font-size: 14px; line-height: 20px;
  cursor: pointer; text-decoration: none; white-space: nowrap; transition: background .15s, filter .15s, box-shadow .15s; }
.btn:hover { background: var(--surface-2); }
.btn svg { flex: none; }
.btn > span { display: inline-flex; }
.btn.primary { border: 0; padding: 11px 17px; color: var(--accent-fg);
  background: linear-gradient(135deg, var(--accent), color-mix(in srgb, var(--accent) 62%, #c026d3));
  box-shadow: 0 10px 22px -12px color-mix(in srgb, var(--accent) 85%, transparent), inset 0 1px 0 rgba(255, 255, 255, .18); }
.btn.primary:hover { filter: brightness(1.07); }
.btn.block { width: 100%; padding: 13px 16px; font-size: 15px; }
.btn.small { padding: 6px 12px; font-size: 12.5px; border-radius: 10px; }
.btn.done { color: var(--ok); border-color: color-mix(in srgb, var(--ok) 45%, transparent); }
.btn.danger { border: 0; background: var(--danger); color: #fff; }
.btn.danger:hover { filter: brightness(1.06); background: var(--danger); }
.btn.danger-outline { background: transparent; color: var(--danger); border-color: color-mix(in srgb, var(--danger) 35%, transparent); }
.btn.danger-outline:hover { background: color-mix(in srgb, var(--danger) 8%, transparent); }
.btn.on-dark { background: rgba(255, 255, 255, .1); color: #f8fafc; border-color: rgba(255, 255, 255, .2); }
.btn.on-dark:hover { background: rgba(255, 255, 255, .18); }
.btn.on-dark.done { color: #86efac; }
.btn:disabled { opacity: .6; cursor: default; filter: none; }
.btn.busy { position: relative; color: transparent !important; }
.btn.busy::after { content: ""; position: absolute; width: 18px; height: 18px; border-radius: 50%; border: 2px solid rgba(255, 255, 255, .45); border-top-color: #fff; animation: pl-spin .7s linear infinite; }
.link-btn { background: none; border: 0; padding: 0; color: var(--accent); cursor: pointer; text-decoration: underline; text-underline-offset: 2px; font-weight: 600; }

.field { display: flex; flex-direction: column; gap: 6px; min-width: 0; margin: 0; padding: 0; border: 0; }
.field > label, .field > legend { font-size: 13px; font-weight: 600; color: var(--fg); padding: 0; }
.field input:not([type=radio]):not([type=color]), .field textarea {
  width: 100%; padding: 11px 13px; border-radius: 12px; border: 1px solid var(--line-strong); background: var(--input); color: var(--fg);
  font-size: 14.5px; line-height: 20px; outline: none; transition: border-color .15s, box-shadow .15s; }
.field textarea { resize: vertical; min-height: 84px; }
.field input::placeholder, .field textarea::placeholder { color: var(--faint); }
.field input:focus, .field textarea:focus { border-color: var(--accent); box-shadow: 0 0 0 4px color-mix(in srgb, var(--accent) 18%, transparent); }
.field input:focus-visible, .field textarea:focus-visible { outline: none; }
.field input[aria-invalid=true], .field textarea[aria-invalid=true] { border-color: var(--danger); box-shadow: 0 0 0 4px color-mix(in srgb, var(--danger) 14%, transparent); }
.field input:not([type=radio]):disabled, .field textarea:disabled { opacity: .7; cursor: not-allowed; }
.hint { font-size: 12px; color: var(--muted); }
.form-error { margin: 0; padding: 10px 12px; border-radius: 12px; font-size: 13.5px; line-height: 1.4; color: var(--danger);
  background: color-mix(in srgb, var(--danger) 9%, transparent); border: 1px solid color-mix(in srgb, var(--danger) 24%, transparent); }
.spinner { display: inline-block; width: 18px; height: 18px; flex: none; border-radius: 50%; border: 2px solid color-mix(in srgb, var(--accent) 22%, transparent); border-top-color: var(--accent); animation: pl-spin .8s linear infinite; }
@keyframes pl-spin { to { transform: rotate(360deg); } }

/* --- sign-in --- */
.auth { position: relative; min-height: 100dvh; display: flex; flex-direction: column; align-items: center; justify-content: center; padding: 56px 16px 40px; }
.auth-top { position: absolute; top: 14px; right: 14px; }
.auth-top .icon-btn { color: var(--muted); background: var(--glass); border: 1px solid var(--glass-line); -webkit-backdrop-filter: blur(12px); backdrop-filter: blur(12px); }
.auth-card { width: min(420px, 100%); padding: 34px 34px 30px; }
.brand-lockup { display: flex; align-items: center; gap: 10px; font-weight: 700; font-size: 17px; letter-spacing: -.01em; margin-bottom: 26px; }
.auth-card h1 { margin: 0 0 8px; font-size: 25px; line-height: 1.2; letter-spacing: -.025em; }
.auth-card .lead { margin: 0 0 24px; color: var(--muted); font-size: 14.5px; line-height: 1.5; }
.auth-form { display: flex; flex-direction: column; gap: 16px; }
.auth-form .btn.block { margin-top: 6px; }
.auth-wait { display: flex; align-items: center; gap: 12px; color: var(--muted); padding: 10px 0 4px; }
.auth-foot { margin: 20px 0 0; max-width: 380px; text-align: center; font-size: 13px; color: var(--muted); }

/* --- the shell --- */
.skip { position: absolute; left: 14px; top: -80px; z-index: 60; padding: 10px 14px; border-radius: 12px; background: var(--solid); color: var(--fg); font-weight: 600; box-shadow: var(--overlay-shadow); }
.skip:focus { top: 14px; }
.shell { height: 100dvh; display: grid; grid-template-columns: 328px minmax(0, 1fr) 304px; gap: 14px; padding: 14px; }
.shell.details-closed, .shell.no-conv { grid-template-columns: 328px minmax(0, 1fr); }
.shell.details-closed .details, .shell.no-conv .details { display: none; }
.side, .main, .details { min-width: 0; min-height: 0; overflow: hidden; display: flex; flex-direction: column; }

/* the sidebar */
.side-head { display: flex; align-items: center; justify-content: space-between; gap: 8px; padding: 14px 10px 12px 16px; }
.brand { display: flex; align-items: center; gap: 10px; min-width: 0; }
.brand-text { display: flex; flex-direction: column; min-width: 0; line-height: 1.2; }
.brand-text strong { font-size: 15px; letter-spacing: -.01em; }
.brand-sub { font-size: 12px; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.toolbar { display: flex; gap: 0; flex: none; }
.toolbar .icon-btn { width: 34px; height: 34px; border-radius: 10px; color: var(--muted); position: relative; }
.toolbar .icon-btn:hover { color: var(--fg); }
.toolbar .icon-btn[aria-pressed=true] { color: var(--fg); }
.toolbar .icon-btn svg { width: 19px; height: 19px; }
.icon-btn.attention::after { content: ""; position: absolute; top: 6px; right: 6px; width: 8px; height: 8px; border-radius: 50%; background: var(--accent); box-shadow: 0 0 0 2px var(--solid); }
.me { display: flex; align-items: center; gap: 10px; margin: 0 12px 12px; padding: 10px 10px 10px 11px; border-radius: 16px; background: var(--card-bg); border: 1px solid var(--line); }
.me-text { flex: 1; min-width: 0; display: flex; flex-direction: column; line-height: 1.3; }
.me-text strong { font-size: 13.5px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.me-sub { font-size: 11.5px; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.conn::before { content: ""; display: inline-block; width: 6px; height: 6px; border-radius: 50%; margin-right: 5px; vertical-align: 1px; background: var(--faint); }
.conn.ok::before { background: var(--ok); }
.conn.wait::before { background: #f59e0b; animation: pl-pulse 1s ease-in-out infinite; }
.conn.bad::before { background: var(--danger); }
.status-pick { position: relative; flex: none; display: inline-flex; }
.status-pick::after { content: ""; position: absolute; right: 11px; top: 50%; width: 6px; height: 6px; border-right: 1.6px solid var(--muted); border-bottom: 1.6px solid var(--muted); transform: translateY(-70%) rotate(45deg); pointer-events: none; }
.status-pick select { appearance: none; -webkit-appearance: none; padding: 6px 28px 6px 10px; border-radius: 10px; border: 1px solid var(--line-strong); background: var(--input); color: var(--fg); font-size: 12.5px; font-weight: 600; cursor: pointer; }
.status-pick select:hover { border-color: color-mix(in srgb, var(--accent) 40%, var(--line-strong)); }
.search { position: relative; margin: 0 12px 6px; }
.search-icon { position: absolute; left: 11px; top: 50%; transform: translateY(-50%); display: flex; color: var(--faint); pointer-events: none; }
.search-input { width: 100%; padding: 9px 12px 9px 35px; border-radius: 12px; border: 1px solid var(--line); background: var(--input); color: var(--fg); font-size: 13.5px; outline: none; transition: border-color .15s, box-shadow .15s; }
.search-input::placeholder { color: var(--faint); }
.search-input:focus { border-color: var(--accent); box-shadow: 0 0 0 4px color-mix(in srgb, var(--accent) 16%, transparent); }
.search-input:focus-visible { outline: none; }
.search-input::-webkit-search-cancel-button { cursor: pointer; }

/* the conversation list */
.nav { flex: 1; min-height: 0; overflow-y: auto; overscroll-behavior: contain; padding: 0 8px 12px; scrollbar-width: thin; scrollbar-color: var(--line-strong) transparent; }
.list-head { display: flex; align-items: baseline; justify-content: space-between; padding: 10px 10px 6px; }
.list-title { margin: 0; font-size: 11px; font-weight: 700; text-transform: uppercase; letter-spacing: .09em; color: var(--muted); }
.list-count { font-size: 11.5px; color: var(--faint); font-weight: 600; }
.list-count.has-unread { color: var(--accent); }
.conv-list { display: flex; flex-direction: column; gap: 2px; }
.conv { position: relative; display: flex; align-items: center; gap: 12px; width: 100%; padding: 10px 10px 10px 12px; border: 0; border-radius: 14px;
  background: transparent; color: inherit; text-align: left; cursor: pointer; transition: background .12s; }
.conv:hover { background: var(--hover); }
.conv.selected { background: color-mix(in srgb, var(--accent) 12%, transparent); }
.conv.selected::before { content: ""; position: absolute; left: 2px; top: 16px; bottom: 16px; width: 3px; border-radius: 3px; background: var(--accent); }
.conv:focus-visible { outline: 2px solid var(--accent); outline-offset: -2px; }
.conv-body { flex: 1; min-width: 0; display: flex; flex-direction: column; gap: 3px; }
.conv-top, .conv-bottom { display: flex; align-items: center; gap: 8px; min-width: 0; }
.conv-name { flex: 1; min-width: 0; font-size: 14px; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.conv-time { flex: none; font-size: 11.5px; color: var(--faint); font-variant-numeric: tabular-nums; }
.conv-preview { flex: 1; min-width: 0; font-size: 13px; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.conv.has-unread .conv-preview { color: var(--fg); font-weight: 500; }
.conv.has-unread .conv-time { color: var(--accent); font-weight: 600; }
.conv-preview.is-typing { color: var(--accent); font-style: italic; }
.unread { flex: none; display: grid; place-items: center; min-width: 20px; height: 20px; padding: 0 6px; border-radius: 10px;
  background: var(--accent); color: var(--accent-fg); font-size: 11.5px; font-weight: 700; font-variant-numeric: tabular-nums;
  box-shadow: 0 4px 10px -4px color-mix(in srgb, var(--accent) 80%, transparent); }
.list-empty { padding: 30px 18px; text-align: center; color: var(--muted); }
.list-empty h3 { margin: 16px 0 6px; font-size: 15px; color: var(--fg); }
.list-empty p { margin: 0 auto 18px; font-size: 13px; line-height: 1.5; max-width: 250px; }
.list-empty .btn { font-size: 13px; }
.list-empty[aria-busy] { padding: 4px 4px; }
.skeleton { display: flex; flex-direction: column; gap: 9px; padding: 14px 12px 14px 66px; position: relative; }
.skeleton::before { content: ""; position: absolute; left: 12px; top: 50%; width: 42px; height: 42px; margin-top: -21px; border-radius: 50%; background: var(--hover); }
.skeleton span { height: 10px; border-radius: 6px; background: var(--hover); animation: pl-fade 1.2s ease-in-out infinite; }
.skeleton span:first-child { width: 45%; }
.skeleton span:last-child { width: 80%; }
@keyframes pl-fade { 50% { opacity: .45; } }
.sentinel { height: 1px; }
.empty-art { width: 56px; height: 56px; margin: 0 auto; border-radius: 18px; display: grid; place-items: center; color: var(--accent);
  background: linear-gradient(135deg, color-mix(in srgb, var(--accent) 16%, transparent), color-mix(in srgb, #c026d3 12%, transparent));
  box-shadow: inset 0 0 0 1px color-mix(in srgb, var(--accent) 18%, transparent); }
.empty-art svg { width: 26px; height: 26px; }
.empty-art.big { width: 88px; height: 88px; border-radius: 28px; }
.empty-art.big svg { width: 38px; height: 38px; }


/* avatars */
.avatar { position: relative; flex: none; display: grid; place-items: center; width: 42px; height: 42px; border-radius: 50%;
  color: #fff; font-size: 14px; font-weight: 650; letter-spacing: .02em; --h: 240;
  background: linear-gradient(140deg, hsl(var(--h) 78% 66%), hsl(calc(var(--h) + 38) 68% 52%));
  box-shadow: inset 0 0 0 1px rgba(255, 255, 255, .22); }
.pl-night .avatar { background: linear-gradient(140deg, hsl(var(--h) 62% 55%), hsl(calc(var(--h) + 38) 58% 42%)); }
.avatar.sm { width: 34px; height: 34px; font-size: 12px; }
.avatar.lg { width: 68px; height: 68px; font-size: 22px; }
.avatar .ini { display: grid; place-items: center; width: 100%; height: 100%; text-shadow: 0 1px 2px rgba(0, 0, 0, .15); }
.avatar .ini svg { width: 54%; height: 54%; stroke-width: 2.1; }
.avatar .dot { position: absolute; right: -1px; bottom: -1px; width: 12px; height: 12px; box-shadow: 0 0 0 2.5px var(--solid); }
.avatar.sm .dot { width: 10px; height: 10px; }

/* the conversation */
.main { position: relative; }
.main:focus { outline: none; }
.chat-pane { flex: 1; min-height: 0; display: flex; flex-direction: column; }
.chat-head { display: flex; align-items: center; gap: 12px; padding: 12px 12px 12px 18px; border-bottom: 1px solid var(--line); min-height: 68px; }
.chat-head .back { display: none; margin-left: -8px; }
.chat-heading { flex: 1; min-width: 0; }
.chat-title { margin: 0; font-size: 16px; font-weight: 650; line-height: 1.3; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.chat-sub { margin: 1px 0 0; font-size: 12.5px; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.chat-sub.is-typing { color: var(--accent); }
.details-toggle { color: var(--muted); }
.chat-head .call-start { color: var(--muted); }
.chat-head .call-start:hover { color: var(--accent); background: color-mix(in srgb, var(--accent) 10%, transparent); }
.chat-head .call-start:disabled { opacity: .4; cursor: default; background: none; color: var(--muted); }
.chat-head .call-start[aria-busy] { opacity: 1; color: var(--accent); animation: pl-pulse 1s ease-in-out infinite; }
.chat-head .call-start + .call-start { margin-left: -8px; }
.main > .call-screen { z-index: 20; }
.details-toggle.active { color: var(--accent); background: color-mix(in srgb, var(--accent) 11%, transparent); }
.chat-body { position: relative; flex: 1; min-height: 0; display: flex; flex-direction: column; }
.chat-loading { position: absolute; inset: 0 0 76px; display: flex; align-items: center; justify-content: center; gap: 10px; color: var(--muted); font-size: 14px; text-align: center; padding: 24px; pointer-events: none; }
.chat-loading.error { color: var(--danger); }
.chat-empty { flex: 1; display: flex; flex-direction: column; align-items: center; justify-content: center; text-align: center; padding: 32px; color: var(--muted); }
.chat-empty h2 { margin: 22px 0 8px; font-size: 20px; color: var(--fg); }
.chat-empty p { margin: 0; max-width: 340px; font-size: 14px; line-height: 1.55; }
.main .log { padding: 20px 24px 8px; }
.pl-day .main { --theirs: #ffffff; }
.pl-day .main .row:not(.mine) .bubble:not(.deleted):not(.only-media) { box-shadow: 0 1px 2px rgba(15, 23, 42, .06), 0 0 0 1px rgba(15, 23, 42, .05); }
.chat-body { background: linear-gradient(180deg, color-mix(in srgb, var(--accent) 4%, transparent), transparent 40%); }
.main .row { max-width: min(74%, 560px); }
.main .day { background: var(--card-bg); border: 1px solid var(--line); }
.main .thread > .typing-line { padding: 0 26px 4px; }
.main .notice, .main .context { margin-left: 18px; margin-right: 18px; }
.main .composer { margin: 6px 18px 18px; padding: 7px; border-radius: 20px; }
.main .log { scrollbar-width: thin; scrollbar-color: var(--line-strong) transparent; }

/* the visitor's details */
.details { position: relative; }
.details:focus { outline: none; }
.details-head { display: flex; align-items: center; justify-content: space-between; padding: 12px 10px 0 20px; min-height: 52px; }
.details-head h2 { margin: 0; font-size: 11px; font-weight: 700; text-transform: uppercase; letter-spacing: .09em; color: var(--muted); }
.details-head .icon-btn { color: var(--muted); }
.details-body { flex: 1; min-height: 0; overflow-y: auto; padding: 0 20px 20px; scrollbar-width: thin; scrollbar-color: var(--line-strong) transparent; }
.profile { display: flex; flex-direction: column; align-items: center; text-align: center; gap: 12px; padding: 6px 0 18px; border-bottom: 1px solid var(--line); }
.profile-text strong { display: block; font-size: 17px; letter-spacing: -.01em; overflow-wrap: anywhere; }
.profile-meta { display: flex; align-items: center; justify-content: center; flex-wrap: wrap; gap: 8px 10px; margin-top: 8px; }
.chip { display: inline-flex; align-items: center; gap: 6px; padding: 3px 10px; border-radius: 999px; font-size: 11.5px; font-weight: 600; color: var(--muted); background: var(--hover); white-space: nowrap; }
.chip-ok { color: var(--ok); background: color-mix(in srgb, var(--ok) 14%, transparent); }
.status-line { display: inline-flex; align-items: center; gap: 6px; font-size: 12.5px; color: var(--muted); }
.status-line .dot { width: 8px; height: 8px; box-shadow: none; }
.facts { padding: 16px 0 6px; border-bottom: 1px solid var(--line); }
.facts:last-child { border-bottom: 0; }
.facts h3 { margin: 0 0 6px; font-size: 11px; font-weight: 700; letter-spacing: .09em; text-transform: uppercase; color: var(--faint); }
.facts dl { margin: 0; }
.fact { padding: 7px 0; }
.fact dt { display: flex; align-items: center; gap: 7px; font-size: 12px; color: var(--muted); }
.fact-icon { display: inline-flex; color: var(--faint); }
.fact-icon svg { width: 15px; height: 15px; }
.fact dd { margin: 3px 0 0 22px; font-size: 13.5px; line-height: 1.45; overflow-wrap: anywhere; }
.fact dd small { display: block; font-size: 12px; color: var(--muted); }
.fact dd a { color: var(--accent); text-decoration: none; }
.fact dd a:hover { text-decoration: underline; }
.page-card { display: flex; flex-direction: column; gap: 2px; }
.page-title { font-weight: 600; }
.page-url { font-size: 12.5px; word-break: break-all; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; }
.none { color: var(--faint); }
.details-loading { display: flex; align-items: center; justify-content: center; gap: 10px; padding: 28px 0; color: var(--muted); font-size: 13px; }
.details-error { color: var(--muted); font-size: 13px; text-align: center; padding: 20px 0; }

/* --- settings --- */
dialog.sheet { padding: 0; border: 1px solid var(--glass-line); color: var(--fg); background: var(--sheet-bg); width: min(780px, calc(100vw - 32px));
  max-width: none; height: min(900px, calc(100dvh - 40px)); max-height: none; overflow: hidden; box-shadow: var(--overlay-shadow); }
dialog.sheet[open] { display: flex; flex-direction: column; animation: pl-rise .18s ease-out; }
dialog.sheet::backdrop { background: rgba(15, 23, 42, .32); -webkit-backdrop-filter: blur(3px); backdrop-filter: blur(3px); }
.pl-night dialog.sheet::backdrop { background: rgba(0, 0, 0, .55); }
@keyframes pl-rise { from { opacity: 0; transform: translateY(10px) scale(.985); } to { opacity: 1; transform: none; } }
.sheet-head { display: flex; align-items: center; gap: 14px; padding: 18px 14px 16px 22px; border-bottom: 1px solid var(--line); }
.sheet-head > div { flex: 1; min-width: 0; }
.sheet-head h2 { margin: 0; font-size: 19px; }
.sheet-head p { margin: 2px 0 0; font-size: 13px; color: var(--muted); }
.sheet-head .icon-btn { color: var(--muted); align-self: flex-start; }
.sheet-icon { width: 40px; height: 40px; border-radius: 13px; display: grid; place-items: center; flex: none; color: var(--accent); background: color-mix(in srgb, var(--accent) 13%, transparent); }
.sheet-body { flex: 1; min-height: 0; overflow-y: auto; padding: 20px 22px 28px; display: flex; flex-direction: column; gap: 16px; scrollbar-width: thin; }
.card { padding: 20px 22px; border-radius: 18px; background: var(--card-bg); border: 1px solid var(--line); }
.card > h3 { margin: 0 0 4px; font-size: 15.5px; }
.card-lead { margin: 0 0 16px; font-size: 13px; line-height: 1.5; color: var(--muted); }
.kv { display: grid; grid-template-columns: 92px minmax(0, 1fr); align-items: center; gap: 12px; padding: 6px 0; }
.kv-label { font-size: 13px; font-weight: 600; color: var(--muted); }
.kv-value { display: flex; align-items: center; gap: 10px; min-width: 0; }
.kv-value > code, .kv-value > a { flex: 1; min-width: 0; padding: 8px 12px; border-radius: 10px; background: var(--input); border: 1px solid var(--line); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-size: 13.5px; line-height: 20px; }
.kv-value > code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code.address { font-size: 15px; font-weight: 650; letter-spacing: .08em; }
.chat-link { text-decoration: none; }
.chat-link:hover { text-decoration: underline; }
.danger-zone { margin-top: 14px; padding-top: 16px; border-top: 1px solid var(--line); }
.confirm { display: flex; gap: 12px; padding: 14px 16px; border-radius: 14px; background: color-mix(in srgb, var(--danger) 7%, transparent); border: 1px solid color-mix(in srgb, var(--danger) 28%, transparent); }
.confirm-icon { color: var(--danger); flex: none; padding-top: 1px; }
.confirm strong { font-size: 14px; }
.confirm p { margin: 4px 0 12px; font-size: 13px; line-height: 1.5; color: var(--muted); }
.actions { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.actions.end { justify-content: flex-end; margin-top: 18px; }
.save-state { margin-right: auto; font-size: 13px; color: var(--muted); }
.save-state.error { color: var(--danger); }
.note { margin: 14px 0 0; padding: 10px 12px; border-radius: 12px; font-size: 13px; color: var(--muted); background: var(--hover); }
.widget-grid { display: grid; grid-template-columns: minmax(0, 1fr) 230px; gap: 22px; align-items: start; }
.widget-fields { display: flex; flex-direction: column; gap: 16px; min-width: 0; }
.row2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.color-row { display: flex; align-items: center; gap: 10px; }
input.color { width: 46px; height: 42px; padding: 4px; border-radius: 12px; border: 1px solid var(--line-strong); background: var(--input); cursor: pointer; }
input.color::-webkit-color-swatch-wrapper { padding: 0; }
input.color::-webkit-color-swatch { border: 0; border-radius: 8px; }
.color-hex { color: var(--muted); text-transform: uppercase; }
.segmented { display: inline-flex; align-self: flex-start; padding: 3px; gap: 2px; border-radius: 12px; background: var(--hover); border: 1px solid var(--line); }
.segmented label { position: relative; display: flex; cursor: pointer; }
.segmented input { position: absolute; inset: 0; width: 100%; height: 100%; margin: 0; opacity: 0; cursor: pointer; }
.segmented span { padding: 8px 18px; border-radius: 9px; font-size: 13px; font-weight: 600; color: var(--muted); transition: background .12s, color .12s; }
.segmented input:checked + span { background: var(--solid); color: var(--fg); box-shadow: 0 1px 3px rgba(15, 23, 42, .14); }
.segmented input:focus-visible + span { outline: 2px solid var(--accent); outline-offset: 1px; }
.segmented input:disabled { cursor: not-allowed; }
.segmented input:disabled + span { opacity: .7; }
.preview { --pv: #4f46e5; --pv-fg: #fff; position: relative; height: 236px; border-radius: 16px; overflow: hidden; border: 1px solid var(--line);
  background: repeating-linear-gradient(0deg, transparent 0 18px, color-mix(in srgb, var(--fg) 4%, transparent) 18px 19px),
    linear-gradient(160deg, color-mix(in srgb, var(--pv) 14%, var(--input)), var(--input)); }
.pv-panel { position: absolute; right: 14px; bottom: 64px; width: 160px; border-radius: 14px; overflow: hidden; background: var(--solid); box-shadow: 0 14px 28px -14px rgba(15, 23, 42, .5); border: 1px solid var(--line); }
.pv-head { display: flex; align-items: center; gap: 7px; padding: 9px 10px; font-size: 11.5px; font-weight: 650; color: var(--pv-fg);
  background: linear-gradient(135deg, var(--pv), color-mix(in srgb, var(--pv) 58%, #c026d3)); }
.pv-name { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.pv-avatar { width: 20px; height: 20px; flex: none; border-radius: 7px; display: grid; place-items: center; font-size: 10.5px; background: rgba(255, 255, 255, .24); }
.pv-body { display: flex; flex-direction: column; gap: 9px; padding: 9px; }
.pv-bubble { align-self: flex-start; max-height: 62px; overflow: hidden; padding: 6px 9px; border-radius: 11px 11px 11px 4px; font-size: 10.5px; line-height: 1.4; background: var(--theirs); color: var(--theirs-fg); }
.pv-input { height: 18px; border-radius: 9px; background: var(--hover); }
.pv-launcher { position: absolute; right: 14px; bottom: 14px; width: 40px; height: 40px; border-radius: 50%; display: grid; place-items: center; color: var(--pv-fg);
  background: linear-gradient(135deg, var(--pv), color-mix(in srgb, var(--pv) 58%, #c026d3)); box-shadow: 0 10px 20px -10px var(--pv); }
.pv-launcher svg { width: 19px; height: 19px; }
.preview.left .pv-panel, .preview.left .pv-launcher { right: auto; left: 14px; }
.snippet { position: relative; }
.snippet pre { margin: 0; padding: 16px 96px 16px 16px; border-radius: 14px; background: #0b1222; color: #e2e8f0; overflow-x: auto;
  font: 12.5px/1.65 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-all; border: 1px solid rgba(255, 255, 255, .06); }
.snippet .btn { position: absolute; top: 10px; right: 10px; }
.team { list-style: none; margin: 0; padding: 0; }
.team li { display: flex; align-items: center; gap: 12px; padding: 10px 0; border-top: 1px solid var(--line); }
.team li:first-child { border-top: 0; padding-top: 2px; }
.member { flex: 1; min-width: 0; display: flex; flex-direction: column; line-height: 1.35; }
.member strong { font-size: 14px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.member small { font-size: 12px; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.you { color: var(--muted); font-weight: 400; }
.member-status { width: 58px; text-align: right; font-size: 12.5px; color: var(--muted); }
.invite { margin-top: 16px; padding-top: 16px; border-top: 1px solid var(--line); }
.invite-row { display: flex; align-items: flex-end; gap: 10px; }
.invite-row .field { flex: 1; }
.invite-row .btn { height: 44px; }
.invite-out { margin-top: 14px; padding: 14px 16px; border-radius: 14px; background: color-mix(in srgb, var(--accent) 8%, transparent); border: 1px solid color-mix(in srgb, var(--accent) 24%, transparent); }
.invite-out p { margin: 0 0 10px; font-size: 13px; line-height: 1.5; color: var(--muted); }
.invite-out p strong { color: var(--fg); }
.account { display: flex; align-items: center; gap: 12px; margin: 14px 0 18px; }
.account strong { display: block; font-size: 14.5px; }
.account small { display: block; font-size: 12.5px; color: var(--muted); }
.password-form { display: flex; flex-direction: column; gap: 16px; }
.password-form .actions.end { margin-top: 2px; }

/* --- the toast --- */
.toast { position: fixed; left: 50%; bottom: 24px; z-index: 100; max-width: min(460px, calc(100vw - 32px)); padding: 11px 16px; border-radius: 14px;
  background: rgba(15, 23, 42, .94); color: #f8fafc; font-size: 13.5px; line-height: 1.4; box-shadow: 0 16px 36px -14px rgba(0, 0, 0, .5);
  opacity: 0; transform: translate(-50%, 16px); pointer-events: none; transition: opacity .2s, transform .2s; }
.pl-night .toast { background: rgba(241, 245, 249, .96); color: #0f172a; }
.toast.show { opacity: 1; transform: translate(-50%, 0); }
.toast.error { background: #b91c1c; color: #fff; }

/* --- tablets: the details float over the conversation --- */
@media (min-width: 1000px) and (max-width: 1239.98px) {
  .shell { grid-template-columns: 300px minmax(0, 1fr) 280px; gap: 12px; padding: 12px; }
  .shell.details-closed, .shell.no-conv { grid-template-columns: 300px minmax(0, 1fr); }
}
@media (max-width: 999.98px) {
  .shell, .shell.details-closed, .shell.no-conv { grid-template-columns: 300px minmax(0, 1fr); gap: 12px; padding: 12px; }
  .details { position: fixed; top: 12px; right: 12px; bottom: 12px; width: min(340px, calc(100vw - 24px)); z-index: 30; box-shadow: var(--overlay-shadow); animation: pl-slide .18s ease-out; }
  .pl-day .details { background: rgba(255, 255, 255, .9); }
  .pl-night .details { background: rgba(15, 23, 42, .94); }
}
@keyframes pl-slide { from { opacity: 0; transform: translateX(16px); } to { opacity: 1; transform: none; } }

/* --- phones: one pane at a time --- */
@media (max-width: 699.98px) {
  .shell, .shell.details-closed, .shell.no-conv { grid-template-columns: minmax(0, 1fr); padding: 0; gap: 0; }
  .shell .glass { border-radius: 0; border: 0; box-shadow: none; }
  .side, .main, .details { display: none; }
  .shell[data-pane=list] .side, .shell[data-pane=main] .main, .shell[data-pane=details] .details { display: flex; }
  .details { position: static; width: auto; animation: none; }
  .side-head { padding-top: calc(12px + env(safe-area-inset-top)); }
  .chat-head { padding: calc(8px + env(safe-area-inset-top)) 8px 8px 10px; min-height: 60px; gap: 10px; }
  .chat-head .back { display: inline-grid; margin-left: 0; }
  .chat-head .avatar { width: 38px; height: 38px; font-size: 13px; }
  .details-head { padding-top: calc(8px + env(safe-area-inset-top)); }
  .main .log { padding: 14px 12px 6px; }
  .main .row { max-width: 86%; }
  .main .thread > .typing-line { padding: 0 16px 4px; }
  .main .composer { margin: 4px 8px calc(8px + env(safe-area-inset-bottom)); }
  .main .notice, .main .context { margin-left: 10px; margin-right: 10px; }
  .nav { padding-bottom: calc(12px + env(safe-area-inset-bottom)); }
  dialog.sheet { width: 100vw; height: 100dvh; max-height: 100dvh; margin: 0; border-radius: 0; border: 0; }
  .shell.in-call .main { display: flex; position: fixed; inset: 0; z-index: 40; }
  .sheet-head { padding: calc(12px + env(safe-area-inset-top)) 8px 12px 16px; }
  .sheet-head p, .sheet-icon { display: none; }
  .sheet-head .icon-btn { align-self: center; }
  .sheet-body { padding: 14px 12px calc(24px + env(safe-area-inset-bottom)); gap: 12px; }
  .card { padding: 16px; }
  .widget-grid, .row2 { grid-template-columns: minmax(0, 1fr); }
  .preview { height: 210px; }
  .kv { grid-template-columns: minmax(0, 1fr); gap: 6px; }
  .invite-row { flex-direction: column; align-items: stretch; }
  .auth-card { padding: 28px 22px 24px; }
}

@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation-duration: .01ms !important; animation-iteration-count: 1 !important; transition: none !important; }
}
@media (forced-colors: active) {
  .glass, .card, .conv.selected { border: 1px solid CanvasText; }
  .unread { border: 1px solid CanvasText; }
}
`;
