// Package wordpress runs the WordPress plugin in integrations/wordpress
// inside a real WordPress: Debian's wordpress package served by `php -S`,
// with a fresh database on the local MariaDB. The test drives it over HTTP
// as a person would: installer, login, plugin activation, settings form,
// pages with the shortcode, and visits logged in and logged out.
//
// It needs php-cli, php-mysql, the wordpress package and MariaDB on
// 127.0.0.1:3306 (root, no password); scripts/deps-wordpress.sh installs the
// packages. It never skips: a missing piece is a failure saying what to do.
package wordpress

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/ids"
)

const (
	wpCore      = "/usr/share/wordpress"
	blockTheme  = "twentytwentythree" // Debian's wordpress-theme-twentytwentythree, WordPress 6.1's default
	dbAddr      = "127.0.0.1:3306"
	installHint = "install with: apt-get install -y wordpress wordpress-theme-twentytwentythree php-cli php-mysql (or run scripts/deps-wordpress.sh)"
	mariaHint   = "start MariaDB with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd (it must accept root without a password on 127.0.0.1:3306)"

	optionField = "parley_chat" // the plugin's option, and so the settings form's field prefix
	parleyURL   = "http://parley.example.test:8080"
	address     = "AbCd1234"
)

func TestPluginInRealWordPress(t *testing.T) {
	start := time.Now()
	requirePrerequisites(t)
	wp := startWordPress(t)
	admin := wp.browser()
	admin.install(t)
	admin.login(t)
	admin.activatePlugin(t)
	visitor := wp.browser() // never logs in

	// The first save: URL with a trailing slash, which is stored without it.
	admin.saveSettings(t, map[string]string{"url": parleyURL + "/", "address": address}, "everywhere")
	admin.expectSettings(t, settings{url: parleyURL, address: address})
	settingsPage := admin.get(t, "/wp-admin/options-general.php?page=parley-chat")
	wantSnippet := `<script src="` + parleyURL + `/widget.js" data-address="` + address + `" async></script>`
	if m := snippetRe.FindStringSubmatch(settingsPage); m == nil || html.UnescapeString(m[1]) != wantSnippet {
		t.Errorf("the settings page does not show the embed snippet %s:\n%s", wantSnippet, around(settingsPage, "Embed snippet"))
	}

	pages := map[string]string{
		"plain":    admin.createPage(t, "Chat", "[parley_chat]"),
		"override": admin.createPage(t, "Other inbox", `[parley_chat address="Zz99Yy88"]`),
		"invalid":  admin.createPage(t, "Bad address", `[parley_chat address="short"]`),
		"twice":    admin.createPage(t, "Twice", "[parley_chat]\n\n[parley_chat]"),
	}

	t.Run("shortcode", func(t *testing.T) {
		body := visitor.get(t, pages["plain"])
		expectWidget(t, body, pages["plain"], address)
		body = visitor.get(t, pages["override"])
		expectWidget(t, body, pages["override"], "Zz99Yy88")
		body = visitor.get(t, pages["invalid"])
		expectNoWidget(t, body, pages["invalid"])
		if !strings.Contains(body, "<!-- Parley Chat:") {
			t.Errorf("%s: a shortcode with an invalid address should leave an HTML comment:\n%s", pages["invalid"], around(body, "Bad address"))
		}
		expectWidget(t, visitor.get(t, pages["twice"]), pages["twice"], address)
		expectNoWidget(t, visitor.get(t, "/"), "home page with \"show on every page\" off")
	})

	t.Run("every page", func(t *testing.T) {
		admin.saveSettings(t, map[string]string{"everywhere": "1"})
		admin.expectSettings(t, settings{url: parleyURL, address: address, everywhere: true})
		// The home page has no shortcode: this tag proves the theme runs wp_footer.
		expectWidget(t, visitor.get(t, "/"), "home page", address)
		expectWidget(t, visitor.get(t, pages["plain"]), pages["plain"], address)
		expectWidget(t, visitor.get(t, pages["override"]), pages["override"], "Zz99Yy88")
		expectWidget(t, visitor.get(t, pages["invalid"]), pages["invalid"], address) // the footer's, with the configured address

		admin.saveSettings(t, nil, "everywhere")
		expectNoWidget(t, visitor.get(t, "/"), "home page after turning \"show on every page\" off")
		expectWidget(t, visitor.get(t, pages["plain"]), pages["plain"], address)
		admin.saveSettings(t, map[string]string{"everywhere": "1"}) // on for the rest of the test
	})

	t.Run("invalid values are refused", func(t *testing.T) {
		before := settings{url: parleyURL, address: address, everywhere: true}
		for _, bad := range []map[string]string{
			{"address": `bad"<x`},
			{"address": "short"},
			{"url": "javascript:alert(1)"},
			{"url": "ftp://parley.example.test"},
			{"account": `acc_"><b>`},
			{"api_key": "not-a-key"},
		} {
			page := admin.saveSettings(t, bad)
			if !strings.Contains(page, "settings-error") || !strings.Contains(page, "was kept") {
				t.Errorf("saving %v: no settings error on the page:\n%s", bad, around(page, "<h1>"))
			}
			admin.expectSettings(t, before)
		}
		expectWidget(t, visitor.get(t, "/"), "home page after refused values", address)
		expectWidget(t, visitor.get(t, pages["plain"]), pages["plain"], address)
		expectNoIdentity(t, admin.get(t, pages["plain"]), "logged-in visit after a refused API key")
	})

	t.Run("settings POST without a valid nonce", func(t *testing.T) {
		form := admin.settingsForm(t)
		form.Set(optionField+"[address]", "NoNce123")
		form.Set(optionField+"[url]", "https://evil.example.test")
		form.Del(optionField + "[everywhere]")
		for _, nonce := range []string{"0123456789", ""} {
			f := cloneValues(form)
			if nonce == "" {
				f.Del("_wpnonce")
			} else {
				f.Set("_wpnonce", nonce)
			}
			status, body := admin.post(t, "/wp-admin/options.php", f)
			if status != http.StatusForbidden {
				t.Errorf("options.php with _wpnonce=%q answered %d, want 403:\n%s", nonce, status, snippetOf(body, 0, 400))
			}
		}
		admin.expectSettings(t, settings{url: parleyURL, address: address, everywhere: true})
	})

	t.Run("identity", func(t *testing.T) {
		keyID := ids.New(ids.APIKey)
		secret := auth.NewSecret(32)
		apiKey := auth.APIKeyString(keyID, secret)
		account := ids.New(ids.Account)
		wp.forbid(secret, "the API key's secret")

		// The account alone is not enough.
		admin.saveSettings(t, map[string]string{"account": account})
		expectNoIdentity(t, admin.get(t, pages["plain"]), "logged-in visit with only the account ID set")

		page := admin.saveSettings(t, map[string]string{"api_key": apiKey})
		if !strings.Contains(page, keyID+".") {
			t.Errorf("the settings page does not show the stored key masked (%s.…):\n%s", keyID, around(page, "parley_chat_api_key"))
		}
		if in := inputs(page, "parley_chat[api_key]"); len(in) != 1 || in[0]["value"] != "" {
			t.Errorf("the API key field should be present and empty, got %v", in)
		}

		lookup := func(kid string) ([]byte, string, error) {
			if kid != keyID {
				return nil, "", fmt.Errorf("unknown key %q", kid)
			}
			return []byte(secret), account, nil
		}
		check := func(t *testing.T, path string) {
			t.Helper()
			body := admin.get(t, path)
			tag := expectWidget(t, body, path+" (logged in)", "")
			token, ok := tag["data-identity"]
			if !ok {
				t.Fatalf("%s: a logged-in visit has no data-identity:\n%s", path, widgetSnippet(body))
			}
			verifyToken(t, token, lookup, keyID, account)
			expectNoIdentity(t, visitor.get(t, path), path+" (logged out)")
		}
		check(t, pages["plain"])
		check(t, "/")

		// Saving the form again leaves the (empty) key field empty: the stored key stays.
		admin.saveSettings(t, nil)
		admin.expectSettings(t, settings{url: parleyURL, address: address, everywhere: true, account: account})
		check(t, pages["plain"])

		admin.saveSettings(t, map[string]string{"forget_api_key": "1"})
		expectNoIdentity(t, admin.get(t, pages["plain"]), "logged-in visit after removing the API key")
		admin.saveSettings(t, map[string]string{"api_key": apiKey})
	})

	t.Run("classic theme", func(t *testing.T) {
		admin.activateTheme(t, "parley-classic")
		home := visitor.get(t, "/")
		if !strings.Contains(home, "parley-classic-footer") {
			t.Fatalf("the classic test theme is not active on the home page:\n%s", snippetOf(home, 0, 600))
		}
		expectWidget(t, home, "home page (classic theme)", address)
		expectWidget(t, visitor.get(t, pages["plain"]), pages["plain"]+" (classic theme)", address)
		expectWidget(t, visitor.get(t, pages["override"]), pages["override"]+" (classic theme)", "Zz99Yy88")
		body := admin.get(t, pages["plain"])
		if tag := expectWidget(t, body, pages["plain"]+" (classic theme, logged in)", address); tag["data-identity"] == "" {
			t.Errorf("no data-identity on a logged-in visit with the classic theme:\n%s", widgetSnippet(body))
		}
	})

	t.Run("uninstall", func(t *testing.T) {
		// WordPress's own uninstall_plugin() (what deleting the plugin runs,
		// minus removing its files, which here are the repository's).
		out := wp.php(t, `require_once ABSPATH . 'wp-admin/includes/plugin.php';
			echo is_array( get_option( 'parley_chat' ) ) ? "stored " : "missing ";
			uninstall_plugin( 'parley-chat/parley-chat.php' );
			echo false === get_option( 'parley_chat' ) ? 'deleted' : 'kept';`)
		if out != "stored deleted" {
			t.Errorf("uninstall: want the option stored then deleted, got %q", out)
		}
	})

	wp.checkPagesAndLog(t)
	t.Logf("WordPress test took %s (%d pages fetched)", time.Since(start).Round(time.Millisecond), len(wp.pages))
}

// ---------------------------------------------------------------------------
// Prerequisites and the WordPress site

func requirePrerequisites(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("php"); err != nil {
		t.Fatalf("php is not installed; %s", installHint)
	}
	if out, err := exec.Command("php", "-r", `exit(extension_loaded("mysqli") ? 0 : 1);`).CombinedOutput(); err != nil {
		t.Fatalf("PHP has no mysqli extension (%v %s); %s", err, out, installHint)
	}
	for _, f := range []string{wpCore + "/wp-settings.php", wpCore + "/wp-content/themes/" + blockTheme + "/theme.json"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("Debian's WordPress is missing (%v); %s", err, installHint)
		}
	}
	c, err := net.DialTimeout("tcp", dbAddr, 3*time.Second)
	if err != nil {
		t.Fatalf("MariaDB is not listening on %s (%v); %s", dbAddr, err, mariaHint)
	}
	c.Close()
}

type site struct {
	base string // http://127.0.0.1:PORT
	dir  string // temporary directory: site/ (document root), logs, prepend file

	mu        sync.Mutex
	pages     []fetched         // every HTML page fetched, for the final checks
	forbidden map[string]string // strings no page may contain → what they are
}

type fetched struct{ url, body string }

func (s *site) record(u, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages = append(s.pages, fetched{u, body})
}

func (s *site) forbid(str, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidden[str] = what
}

// startWordPress creates a database, a document root and a `php -S` serving
// it on a free loopback port; all are removed when the test ends.
func startWordPress(t *testing.T) *site {
	t.Helper()
	s := &site{dir: t.TempDir(), forbidden: map[string]string{
		`bad"<x`:              "an unescaped refused address",
		"javascript:alert(1)": "a refused URL",
		`acc_"><b>`:           "an unescaped refused account ID",
	}}
	db := "parley_wp_" + randomHex(6)
	mysql(t, "CREATE DATABASE `"+db+"` CHARACTER SET utf8mb4")
	t.Cleanup(func() { mysql(t, "DROP DATABASE IF EXISTS `"+db+"`") })

	root := filepath.Join(s.dir, "site")
	buildDocumentRoot(t, root)
	// Debian's core files are symlinks, and PHP resolves __DIR__ through them,
	// so wp-load.php would take /usr/share/wordpress as ABSPATH and load
	// Debian's wp-config.php (which reads /etc/wordpress/config-HOST.php).
	// Defining ABSPATH first makes WordPress use this document root and its
	// own wp-config.php.
	prepend := filepath.Join(s.dir, "prepend.php")
	writeFile(t, prepend, "<?php\ndefine( 'ABSPATH', "+phpString(root+"/")+" );\n")

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		s.base = fmt.Sprintf("http://127.0.0.1:%d", port)
		writeFile(t, filepath.Join(root, "wp-config.php"), wpConfig(db, s.base, root, filepath.Join(s.dir, "debug.log")))
		if lastErr = s.serve(t, prepend, root, port); lastErr == nil {
			return s
		}
	}
	t.Fatalf("php -S did not start: %v", lastErr)
	return nil
}

func (s *site) serve(t *testing.T, prepend, root string, port int) error {
	t.Helper()
	logPath := filepath.Join(s.dir, fmt.Sprintf("php-server-%d.log", port))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command("php",
		"-d", "auto_prepend_file="+prepend,
		"-d", "display_errors=0",
		"-d", "log_errors=1",
		"-d", "error_log="+filepath.Join(s.dir, "php-errors.log"),
		"-d", "memory_limit=256M",
		"-S", addr, "-t", root)
	cmd.Env = append(os.Environ(), "PHP_CLI_SERVER_WORKERS=4") // requests in parallel, like a real server
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the workers are in its process group
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting php -S: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		// SIGINT to the whole group: the workers stop and the master reaps
		// them. (SIGTERM to the master alone would leave the workers serving.)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("php -S on %s exited: %s", addr, out)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			t.Cleanup(stop)
			return nil
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("php -S on %s did not listen within 15s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// buildDocumentRoot links Debian's WordPress core into root and gives it its
// own wp-content: our plugin (a symlink to the repository's folder), Debian's
// default block theme and a minimal classic theme.
func buildDocumentRoot(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(wpCore)
	if err != nil {
		t.Fatalf("reading %s: %v; %s", wpCore, err, installHint)
	}
	for _, d := range []string{"wp-content/plugins", "wp-content/themes", "wp-content/uploads"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		switch e.Name() {
		case "wp-config.php", "wp-content", ".htaccess":
			continue
		}
		symlink(t, filepath.Join(wpCore, e.Name()), filepath.Join(root, e.Name()))
	}
	plugin, err := filepath.Abs("../../integrations/wordpress/parley-chat")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(plugin, "parley-chat.php")); err != nil {
		t.Fatalf("the plugin is missing: %v", err)
	}
	symlink(t, plugin, filepath.Join(root, "wp-content/plugins/parley-chat"))
	symlink(t, filepath.Join(wpCore, "wp-content/themes", blockTheme), filepath.Join(root, "wp-content/themes", blockTheme))

	classic := filepath.Join(root, "wp-content/themes/parley-classic")
	if err := os.Mkdir(classic, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(classic, "style.css"), "/*\nTheme Name: Parley Classic Test\nVersion: 1.0\n*/\n")
	writeFile(t, filepath.Join(classic, "index.php"), `<!DOCTYPE html>
<html <?php language_attributes(); ?>>
<head><meta charset="<?php bloginfo( 'charset' ); ?>"><?php wp_head(); ?></head>
<body <?php body_class(); ?>>
<?php while ( have_posts() ) : the_post(); ?>
<article><h2><?php the_title(); ?></h2><?php the_content(); ?></article>
<?php endwhile; ?>
<footer class="parley-classic-footer"></footer>
<?php wp_footer(); ?>
</body>
</html>
`)
}

func wpConfig(db, base, root, debugLog string) string {
	var b strings.Builder
	def := func(name, value string) { fmt.Fprintf(&b, "define( %s, %s );\n", phpString(name), value) }
	b.WriteString("<?php\n// Written by test/wordpress for one test run.\n")
	def("DB_NAME", phpString(db))
	def("DB_USER", "'root'")
	def("DB_PASSWORD", "''")
	def("DB_HOST", phpString(dbAddr))
	def("DB_CHARSET", "'utf8mb4'")
	def("DB_COLLATE", "''")
	for _, k := range []string{"AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"} {
		def(k, phpString(randomHex(32)))
	}
	def("WP_HOME", phpString(base))
	def("WP_SITEURL", phpString(base))
	def("WP_CONTENT_DIR", phpString(root+"/wp-content"))
	def("WP_CONTENT_URL", phpString(base+"/wp-content"))
	def("DISABLE_WP_CRON", "true")
	def("WP_HTTP_BLOCK_EXTERNAL", "true") // no internet: fail update checks at once instead of timing out
	def("AUTOMATIC_UPDATER_DISABLED", "true")
	def("WP_AUTO_UPDATE_CORE", "false")
	def("WP_DEBUG", "true")
	def("WP_DEBUG_DISPLAY", "false")
	def("WP_DEBUG_LOG", phpString(debugLog))
	b.WriteString("$table_prefix = 'wp_';\nrequire_once ABSPATH . 'wp-settings.php';\n")
	return b.String()
}

// php runs code inside the site's WordPress (loaded as for a request) and
// returns what it prints.
func (s *site) php(t *testing.T, code string) string {
	t.Helper()
	u, _ := url.Parse(s.base)
	boot := "define( 'ABSPATH', " + phpString(filepath.Join(s.dir, "site")+"/") + " );\n" +
		"$_SERVER['HTTP_HOST'] = " + phpString(u.Host) + ";\n" +
		"require ABSPATH . 'wp-load.php';\n"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "php", "-d", "display_errors=stderr", "-r", boot+code).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("php in WordPress: %v: %s%s", err, out, stderr)
	}
	return strings.TrimSpace(string(out))
}

// mysql runs one statement as root through PHP's mysqli (which WordPress needs anyway).
func mysql(t *testing.T, stmt string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(dbAddr)
	code := `mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
try { $m = new mysqli($argv[1], "root", "", "", (int) $argv[2]); $m->query($argv[3]); }
catch (Throwable $e) { fwrite(STDERR, $e->getMessage() . "\n"); exit(1); }`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "php", "-r", code, "--", host, port, stmt).CombinedOutput()
	if err != nil {
		t.Fatalf("MariaDB %q: %v: %s\n%s", stmt, err, out, mariaHint)
	}
}

// checkPagesAndLog fails when a page contained a forbidden string, or when
// PHP logged a notice, warning or error from the plugin.
func (s *site) checkPagesAndLog(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pages {
		for str, what := range s.forbidden {
			if i := strings.Index(p.body, str); i >= 0 {
				t.Errorf("%s contains %s (%q):\n%s", p.url, what, str, snippetOf(p.body, i-200, i+200))
			}
		}
	}
	for _, f := range []string{"debug.log", "php-errors.log"} {
		data, err := os.ReadFile(filepath.Join(s.dir, f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "parley-chat") || strings.Contains(line, "Fatal error") {
				t.Errorf("PHP logged (%s): %s", f, line)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// A browser: an HTTP client with its own cookie jar

type browser struct {
	site *site
	c    *http.Client
	user string
	pass string
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{site: s, c: &http.Client{Jar: jar, Timeout: 60 * time.Second}, user: "admin", pass: "pw-" + randomHex(12)}
}

func (b *browser) url(path string) string {
	if strings.HasPrefix(path, "http://") {
		return path
	}
	return b.site.base + path
}

func (b *browser) do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	b.site.record(resp.Request.URL.String(), string(body))
	return resp.StatusCode, string(body)
}

// get fetches a page and fails unless it answers 200.
func (b *browser) get(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url(path), nil)
	status, body := b.do(t, req)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d:\n%s", path, status, snippetOf(body, 0, 600))
	}
	return body
}

func (b *browser) post(t *testing.T, path string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.url(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(t, req)
}

// install runs WordPress's installer (step 2 of wp-admin/install.php).
func (b *browser) install(t *testing.T) {
	t.Helper()
	b.get(t, "/wp-admin/install.php")
	status, body := b.post(t, "/wp-admin/install.php?step=2", url.Values{
		"weblog_title":    {"Parley test site"},
		"user_name":       {b.user},
		"admin_password":  {b.pass},
		"admin_password2": {b.pass},
		"pw_weak":         {"1"},
		"admin_email":     {"admin@example.test"},
		"blog_public":     {"0"},
		"language":        {""},
		"Submit":          {"Install WordPress"},
	})
	if status != http.StatusOK || !strings.Contains(body, "Success!") {
		t.Fatalf("the WordPress installer did not succeed (status %d):\n%s", status, around(body, "<h1"))
	}
}

func (b *browser) login(t *testing.T) {
	t.Helper()
	b.get(t, "/wp-login.php") // sets the test cookie
	req, _ := http.NewRequest(http.MethodPost, b.url("/wp-login.php"), strings.NewReader(url.Values{
		"log": {b.user}, "pwd": {b.pass}, "wp-submit": {"Log In"},
		"redirect_to": {b.url("/wp-admin/")}, "testcookie": {"1"},
	}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("logging in: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.site.record(resp.Request.URL.String(), string(body))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, "/wp-admin/") {
		t.Fatalf("logging in ended at %s (status %d):\n%s", resp.Request.URL, resp.StatusCode, around(string(body), "login_error"))
	}
}

var activateLink = regexp.MustCompile(`href="([^"]*action=activate[^"]*plugin=parley-chat%2Fparley-chat\.php[^"]*)"`)

// activatePlugin follows the "Activate" link (with its nonce) on plugins.php.
func (b *browser) activatePlugin(t *testing.T) {
	t.Helper()
	list := b.get(t, "/wp-admin/plugins.php")
	if !strings.Contains(list, "Parley Chat") {
		t.Fatalf("plugins.php does not list Parley Chat:\n%s", around(list, "plugins"))
	}
	m := activateLink.FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("no activation link for parley-chat on plugins.php:\n%s", around(list, "Parley Chat"))
	}
	page := b.get(t, "/wp-admin/"+html.UnescapeString(m[1]))
	if !strings.Contains(page, "Plugin activated.") {
		t.Fatalf("activating the plugin did not say \"Plugin activated.\":\n%s", around(page, "<h1"))
	}
	if !strings.Contains(page, "options-general.php?page=parley-chat") {
		t.Errorf("Settings → Parley Chat is not in the admin menu:\n%s", around(page, "options-general.php"))
	}
}

// activateTheme follows a theme's "Activate" link from themes.php.
func (b *browser) activateTheme(t *testing.T, slug string) {
	t.Helper()
	list := b.get(t, "/wp-admin/themes.php")
	re := regexp.MustCompile(`themes\.php\?action=activate&(?:amp;)?stylesheet=` + regexp.QuoteMeta(slug) + `&(?:amp;)?_wpnonce=([0-9a-f]+)`)
	m := re.FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("no activation link for theme %s on themes.php:\n%s", slug, around(list, slug))
	}
	page := b.get(t, "/wp-admin/themes.php?action=activate&stylesheet="+url.QueryEscape(slug)+"&_wpnonce="+m[1])
	if !strings.Contains(page, "New theme activated.") {
		t.Fatalf("activating theme %s did not say \"New theme activated.\":\n%s", slug, around(page, "<h1"))
	}
}

var snippetRe = regexp.MustCompile(`(?s)<pre id="parley-chat-snippet"><code>(.*?)</code></pre>`)

var settingsFormRe = regexp.MustCompile(`(?s)<form[^>]*action="options\.php"[^>]*>(.*?)</form>`)

// settingsForm reads Settings → Parley Chat's form as a browser would submit it.
func (b *browser) settingsForm(t *testing.T) url.Values {
	t.Helper()
	page := b.get(t, "/wp-admin/options-general.php?page=parley-chat")
	m := settingsFormRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no settings form posting to options.php on the settings page:\n%s", around(page, "<h1"))
	}
	form := url.Values{}
	for _, in := range tags(m[1], "input") {
		name := in["name"]
		if name == "" {
			continue
		}
		if typ := in["type"]; (typ == "checkbox" || typ == "radio") && !has(in, "checked") {
			continue
		}
		form.Add(name, in["value"])
	}
	for _, need := range []string{"_wpnonce", "option_page", "action"} {
		if form.Get(need) == "" {
			t.Fatalf("the settings form has no %s field:\n%s", need, snippetOf(m[1], 0, 1500))
		}
	}
	return form
}

// saveSettings submits the settings form with some fields changed ("url",
// "address", "everywhere", "api_key", "forget_api_key", "account") and some
// unset, and returns the page WordPress redirects to.
func (b *browser) saveSettings(t *testing.T, set map[string]string, unset ...string) string {
	t.Helper()
	form := b.settingsForm(t)
	for k, v := range set {
		form.Set(optionField+"["+k+"]", v)
	}
	for _, k := range unset {
		form.Del(optionField + "[" + k + "]")
	}
	status, body := b.post(t, "/wp-admin/options.php", form)
	if status != http.StatusOK || !strings.Contains(body, `id="parley_chat_address"`) {
		t.Fatalf("saving settings %v: status %d, not back on the settings page:\n%s", set, status, around(body, "<h1"))
	}
	return body
}

type settings struct {
	url, address, account string
	everywhere            bool
}

// expectSettings reads the stored settings back from the settings form.
func (b *browser) expectSettings(t *testing.T, want settings) {
	t.Helper()
	f := b.settingsForm(t)
	got := settings{
		url:        f.Get(optionField + "[url]"),
		address:    f.Get(optionField + "[address]"),
		account:    f.Get(optionField + "[account]"),
		everywhere: f.Get(optionField+"[everywhere]") == "1",
	}
	if got != want {
		t.Fatalf("stored settings are %+v, want %+v", got, want)
	}
}

// createPage publishes a page through the REST API and returns its path.
func (b *browser) createPage(t *testing.T, title, content string) string {
	t.Helper()
	nonce := strings.TrimSpace(b.get(t, "/wp-admin/admin-ajax.php?action=rest-nonce"))
	if !regexp.MustCompile(`^[0-9a-f]{10}$`).MatchString(nonce) {
		t.Fatalf("admin-ajax.php?action=rest-nonce answered %q, not a nonce", snippetOf(nonce, 0, 200))
	}
	payload, _ := json.Marshal(map[string]string{"title": title, "content": content, "status": "publish"})
	req, _ := http.NewRequest(http.MethodPost, b.url("/?rest_route=/wp/v2/pages"), strings.NewReader(string(payload)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-WP-Nonce", nonce)
	status, body := b.do(t, req)
	var page struct {
		Link string `json:"link"`
	}
	if status != http.StatusCreated || json.Unmarshal([]byte(body), &page) != nil || page.Link == "" {
		t.Fatalf("creating page %q: status %d: %s", title, status, snippetOf(body, 0, 600))
	}
	u, err := url.Parse(page.Link)
	if err != nil {
		t.Fatalf("page link %q: %v", page.Link, err)
	}
	return u.RequestURI()
}

// ---------------------------------------------------------------------------
// Checks

// expectWidget asserts that body has exactly one widget tag, pointing at the
// Parley URL, async, with the address (unless want is ""); it returns it.
func expectWidget(t *testing.T, body, where, want string) map[string]string {
	t.Helper()
	found := widgets(body)
	if len(found) != 1 {
		t.Fatalf("%s: %d widget tags, want exactly 1:\n%s", where, len(found), widgetSnippet(body))
	}
	tag := found[0]
	if tag["src"] != parleyURL+"/widget.js" {
		t.Errorf("%s: widget src=%q, want %q", where, tag["src"], parleyURL+"/widget.js")
	}
	if want != "" && tag["data-address"] != want {
		t.Errorf("%s: data-address=%q, want %q:\n%s", where, tag["data-address"], want, widgetSnippet(body))
	}
	if !has(tag, "async") {
		t.Errorf("%s: the widget tag is not async:\n%s", where, widgetSnippet(body))
	}
	return tag
}

func expectNoWidget(t *testing.T, body, where string) {
	t.Helper()
	if n := len(widgets(body)); n != 0 || strings.Contains(body, "widget.js") {
		t.Errorf("%s: want no widget, found %d tags:\n%s", where, n, widgetSnippet(body))
	}
}

func expectNoIdentity(t *testing.T, body, where string) {
	t.Helper()
	if strings.Contains(body, "data-identity") {
		t.Errorf("%s: the page has data-identity:\n%s", where, around(body, "data-identity"))
	}
}

// verifyToken checks the JWT with the server's own verifier and the claims
// the plugin promises.
func verifyToken(t *testing.T, token string, lookup auth.KeyLookup, keyID, account string) {
	t.Helper()
	now := time.Now()
	claims, err := auth.Parse(token, lookup, now, time.Hour)
	if err != nil {
		t.Fatalf("internal/auth.Parse refuses the plugin's token %s: %v", token, err)
	}
	if claims.Subject != "wp-1" || claims.Role != "visitor" || claims.AccountID != account || claims.DisplayName != "admin" {
		t.Errorf("token claims sub=%q role=%q acc=%q name=%q, want wp-1, visitor, %s, admin",
			claims.Subject, claims.Role, claims.AccountID, claims.DisplayName, account)
	}
	if claims.IssuedAt == nil || claims.ExpiresAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) != time.Hour ||
		claims.IssuedAt.Sub(now).Abs() > time.Minute {
		t.Errorf("token iat=%v exp=%v, want iat≈now and exp=iat+1h", claims.IssuedAt, claims.ExpiresAt)
	}
	rawHeader, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	var header map[string]string
	if err := json.Unmarshal(rawHeader, &header); err != nil || header["alg"] != "HS256" || header["typ"] != "JWT" || header["kid"] != keyID {
		t.Errorf("token header %s, want alg HS256, typ JWT, kid %s", rawHeader, keyID)
	}
}

// ---------------------------------------------------------------------------
// A little HTML reading (tags and attributes are all the test needs)

var attrRe = regexp.MustCompile(`([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+)))?`)

// tags returns the attributes (unescaped) of every <name …> tag in s.
func tags(s, name string) []map[string]string {
	re := regexp.MustCompile(`(?is)<` + name + `\b([^>]*)>`)
	var out []map[string]string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllStringSubmatch(m[1], -1) {
			attrs[strings.ToLower(a[1])] = html.UnescapeString(a[2] + a[3] + a[4])
		}
		out = append(out, attrs)
	}
	return out
}

func has(attrs map[string]string, name string) bool { _, ok := attrs[name]; return ok }

// widgets returns the <script> tags that load widget.js.
func widgets(body string) []map[string]string {
	var out []map[string]string
	for _, s := range tags(body, "script") {
		if strings.HasSuffix(s["src"], "/widget.js") {
			out = append(out, s)
		}
	}
	return out
}

func inputs(body, name string) []map[string]string {
	var out []map[string]string
	for _, in := range tags(body, "input") {
		if in["name"] == name {
			out = append(out, in)
		}
	}
	return out
}

// widgetSnippet shows the widget tags of a page, or its end when it has none.
func widgetSnippet(body string) string {
	var parts []string
	for _, m := range regexp.MustCompile(`(?is)<script[^>]*widget\.js[^>]*>`).FindAllStringIndex(body, -1) {
		parts = append(parts, snippetOf(body, m[0]-150, m[1]+50))
	}
	if parts == nil {
		return "(no widget tag) … " + snippetOf(body, len(body)-800, len(body))
	}
	return strings.Join(parts, "\n---\n")
}

// around shows the part of s around the first needle (or its start).
func around(s, needle string) string {
	i := strings.Index(s, needle)
	if i < 0 {
		return snippetOf(s, 0, 800)
	}
	return snippetOf(s, i-200, i+800)
}

func snippetOf(s string, from, to int) string {
	from, to = max(from, 0), min(to, len(s))
	if from >= to {
		return ""
	}
	return s[from:to]
}

// ---------------------------------------------------------------------------
// Small helpers

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// phpString quotes s as a PHP single-quoted string.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
