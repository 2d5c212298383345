/* Parley chat widget loader: <script src="https://HOST/widget.js" data-address="ADDRESS" async></script>
 * Optional: data-identity (a token your site signed for a logged-in customer), data-position="left",
 * data-color="#4f46e5", data-theme="day|night", data-open (open on load).
 * A classic script, so that it works in any page; it loads the widget module from the same server. */
(function () {
  var script = document.currentScript;
  if (!script || !script.src) return;
  var base = script.src.replace(/\/widget\.js(?:[?#].*)?$/, '');
  var d = script.dataset;
  // Every module the widget imports, fetched at once instead of one level
  // of imports after another (sdk-unit.test.mjs keeps this list complete).
  var modules = ['widget/parley-chat.js', 'widget/styles.js', 'sdk/client.js', 'sdk/conversation.js',
    'sdk/outbox.js', 'sdk/ids.js', 'sdk/visitor.js', 'sdk/call.js', 'sdk/errors.js', 'ui/thread.js', 'ui/styles.js', 'ui/dom.js', 'ui/icons.js',
    'ui/format.js', 'ui/recorder.js'];
  var head = document.head || document.documentElement;
  for (var i = 0; i < modules.length; i++) {
    var link = document.createElement('link');
    link.rel = 'modulepreload';
    link.href = base + '/' + modules[i];
    head.appendChild(link);
  }
  // A new visitor's widget shows the inbox's look and status: ask for them
  // now, while the modules load. (A returning one opens a session instead.)
  var returning = !!d.identity;
  try {
    returning = returning || !!localStorage.getItem('parley.visitor:' + base);
  } catch (e) { /* no storage: a new visitor */ }
  var config = !returning && d.address && window.fetch
    ? fetch(base + '/api/v1/widget/' + encodeURIComponent(d.address)).catch(function () { return null; })
    : null;
  function mount() {
    import(base + '/widget/parley-chat.js').then(function (m) {
      m.mount({ server: base, address: d.address, identity: d.identity, position: d.position, color: d.color, theme: d.theme, open: d.open !== undefined, config: config });
    }).catch(function (e) {
      console.error('Parley: the chat widget could not load from ' + base, e);
    });
  }
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
