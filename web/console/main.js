// The agent console's entry: styles, theme, the service worker, and which
// screen to show — a one-time sign-in link (#signin=CODE), an invitation
// (#invite=CODE), the app for a stored session, or the sign-in form.

import { tokensCSS, threadCSS } from '../ui/styles.js';
import { consoleCSS } from './styles.js';
import { startTheme } from './theme.js';
import { Session } from './session.js';
import { signinForm, redeemLink, chooseLogin, inviteForm } from './signin.js';
import { registerServiceWorker } from './notify.js';

const sheet = new CSSStyleSheet();
sheet.replaceSync(tokensCSS + threadCSS + consoleCSS);
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
startTheme();
registerServiceWorker();

const root = document.getElementById('app');
const session = new Session();
let app = null;

// dropHash removes a code from the address bar (and from history).
function dropHash() {
  history.replaceState(history.state, '', location.pathname + location.search);
}

function onSession(s) {
  session.save(s);
  dropHash();
  route();
}

let opening = null;
function openApp() {
  if (app || opening) return opening;
  opening = import('./app.js').then(({ App }) => {
    opening = null;
    if (!session.valid) return showSignin(); // signed out meanwhile
    app = new App({ root, session, onSignOut: signOut });
    app.start();
  });
  return opening;
}

function closeApp() {
  app?.destroy();
  app = null;
}

function signOut(notice = '') {
  closeApp();
  session.clear('signout');
  showSignin(notice);
}

function showSignin(notice = '') {
  closeApp();
  signinForm(root, { onSession, notice });
}

// When the session ends elsewhere (another tab signed out, a refresh was
// refused), go back to the sign-in form.
session.addEventListener('ended', (e) => {
  const why = e.detail?.reason;
  if (why === 'signout' || why === 'stale') return;
  showSignin(why === 'expired' ? 'Your session has ended. Sign in again.' : 'You were signed out in another window.');
});

function route() {
  const params = new URLSearchParams(location.hash.slice(1));
  const signin = params.get('signin');
  const invite = params.get('invite');
  if (signin) {
    closeApp();
    dropHash();
    return redeemLink(root, signin, {
      onSession,
      onFailed: (msg) => showSignin(msg),
    });
  }
  if (invite) {
    closeApp();
    return inviteForm(root, invite, { onSession });
  }
  if (session.valid) {
    if (session.data.needs_password) {
      closeApp();
      return chooseLogin(root, { session, onSession, onSignOut: () => signOut() });
    }
    return openApp();
  }
  const stale = !!session.data;
  if (stale) session.clear('stale');
  showSignin(stale ? 'Your session has ended. Sign in again.' : '');
}

// A link pasted into an open console (#signin=… or #invite=…) starts over.
addEventListener('hashchange', () => {
  if (/^#(signin|invite)=/.test(location.hash)) route();
});

route();
