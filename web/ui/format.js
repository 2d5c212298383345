// Formatting for people, in their own locale.

export function timeOf(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function dayLabel(iso) {
  const d = new Date(iso);
  const today = new Date();
  const yesterday = new Date(Date.now() - 86400000);
  if (dayKey(d) === dayKey(today)) return 'Today';
  if (dayKey(d) === dayKey(yesterday)) return 'Yesterday';
  const sameYear = d.getFullYear() === today.getFullYear();
  return d.toLocaleDateString([], { weekday: sameYear ? 'long' : undefined, day: 'numeric', month: 'long', year: sameYear ? undefined : 'numeric' });
}

// ago: "now", "5 min", "3 h", or a date, for conversation lists.
export function ago(iso) {
  const t = Date.parse(iso);
  if (!t) return '';
  const s = (Date.now() - t) / 1000;
  if (s < 60) return 'now';
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (dayKey(t) === dayKey(Date.now())) return timeOf(iso);
  if (s < 6 * 86400) return new Date(t).toLocaleDateString([], { weekday: 'short' });
  return new Date(t).toLocaleDateString([], { day: 'numeric', month: 'short' });
}

export function size(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1048576).toFixed(1)} MB`;
}

export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// localTime: the time now in a visitor's timezone, "14:05 (UTC+2)".
export function localTime(tz) {
  if (!tz) return '';
  try {
    const now = new Date();
    const t = now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', timeZone: tz });
    const off = new Intl.DateTimeFormat('en', { timeZone: tz, timeZoneName: 'shortOffset' })
      .formatToParts(now).find((p) => p.type === 'timeZoneName')?.value || '';
    return `${t} (${off.replace('GMT', 'UTC')})`;
  } catch {
    return '';
  }
}

export const STATUS_LABEL = { online: 'Online', away: 'Away', busy: 'Busy', offline: 'Offline' };

// callLabel describes a call event message (type "call", text
// "MEDIA:OUTCOME"): "Video call · 3:24", "Missed audio call".
export function callLabel(m, mine = false) {
  const [media, outcome] = String(m.text || '').split(':');
  const kind = media === 'video' ? 'video call' : 'audio call';
  const Kind = kind[0].toUpperCase() + kind.slice(1);
  switch (outcome) {
    case 'started': return `${Kind} started`;
    case 'ended': return `${Kind} · ${duration(m.duration_ms || 0)}`;
    case 'missed': return mine ? `${Kind}, no answer` : `Missed ${kind}`;
    case 'declined': return `${Kind} declined`;
    case 'busy': return `${Kind}: busy`;
    default: return Kind;
  }
}
