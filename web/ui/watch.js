// The public viewer page of a broadcast, /watch/ADDRESS/CHANNEL: anyone
// with the link watches as a visitor of the inbox at ADDRESS (no sign-in:
// the same anonymous visitor session the chat widget uses), through the
// SFU, receive only. While nobody is live it says so and keeps waiting.
import { Client } from '../sdk/client.js';
import '../sdk/room.js';
import { visitorSession } from '../sdk/visitor.js';
import { RoomScreen, roomCSS } from './roomscreen.js';

const card = document.getElementById('watch');
const { address, channel } = card.dataset;
const message = document.getElementById('message');
const say = (text) => { message.textContent = text; };

const sheet = new CSSStyleSheet();
sheet.replaceSync(roomCSS + `
.watch-overlay { position: fixed; inset: 0; }
.watch-overlay .call-screen { border-radius: 0; }
`);
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];

let client = null;
let screen = null;

async function watch() {
  say('Connecting to the broadcast…');
  const session = visitorSession({ url: location.origin, address });
  let s;
  try {
    s = await session.open();
  } catch (e) {
    say(e.code === 'address_invalid' ? 'This broadcast link is no longer valid.' : `The broadcast could not be opened: ${e.message}`);
    return;
  }
  client = new Client({ url: location.origin, token: (o) => session.token(o), storageKey: `parley:${location.origin}:${s.user.id}` });
  await new Promise((resolve) => {
    client.addEventListener('connected', resolve, { once: true });
    client.connect();
  });
  let room;
  try {
    room = await client.rooms.watch(channel);
  } catch (e) {
    say(`The broadcast could not be opened: ${e.message}`);
    return;
  }
  const overlay = document.createElement('div');
  overlay.className = 'watch-overlay';
  screen = new RoomScreen({
    room, title: channel, link: location.href, linkNote: 'The link is copied: anyone who opens it can watch.', onClose: () => leave('You left the broadcast.'),
  });
  overlay.append(screen.el);
  document.body.append(overlay);
  room.addEventListener('closed', () => leave(room.reason === 'closed' ? 'The broadcast has ended.' : 'You left the broadcast.'));
  window.parleyWatch = { room, client }; // for tests and the curious
}

function leave(text) {
  if (!screen) return;
  screen.destroy();
  screen.el.parentElement?.remove();
  screen = null;
  client?.close?.();
  say(text);
  const again = document.createElement('button');
  again.className = 'btn primary';
  again.textContent = 'Watch again';
  again.onclick = () => { again.remove(); watch(); };
  card.append(again);
}

watch();
