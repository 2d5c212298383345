<?php
/**
 * Plugin Name:       Parley Chat
 * Plugin URI:        https://github.com/parley-chat/parley
 * Description:       Adds the Parley real-time chat widget to your site, with the [parley_chat] shortcode or on every page, and can recognise logged-in users.
 * Version:           1.0.0
 * Requires at least: 5.0
 * Requires PHP:      7.4
 * Author:            Parley
 * License:           MIT
 * License URI:       https://opensource.org/licenses/MIT
 * Text Domain:       parley-chat
 *
 * @package ParleyChat
 */

defined( 'ABSPATH' ) || exit;

/** The one option that holds every setting, as an array. */
const PARLEY_CHAT_OPTION = 'parley_chat';

/** How long a signed identity token lives, in seconds. */
const PARLEY_CHAT_TOKEN_TTL = 3600;

/* -------------------------------------------------------------------------
 * Settings
 * ---------------------------------------------------------------------- */

/**
 * The settings a fresh install starts with.
 *
 * @return array
 */
function parley_chat_defaults() {
	return array(
		'url'        => '',    // Parley server, e.g. https://chat.example.com (no trailing slash).
		'address'    => '',    // The inbox's 8-character address.
		'everywhere' => false, // Print the widget on every front-end page.
		'api_key'    => '',    // Optional: key_<id>.<secret>, to sign identity tokens.
		'account'    => '',    // Optional: acc_<id>, the Parley account the key belongs to.
	);
}

/**
 * The saved settings, completed with defaults.
 *
 * @return array
 */
function parley_chat_settings() {
	$saved = get_option( PARLEY_CHAT_OPTION, array() );
	return array_merge( parley_chat_defaults(), is_array( $saved ) ? $saved : array() );
}

/**
 * Whether $address is an inbox address: exactly 8 letters or digits.
 *
 * @param mixed $address Candidate address.
 * @return bool
 */
function parley_chat_valid_address( $address ) {
	return is_string( $address ) && 1 === preg_match( '/^[A-Za-z0-9]{8}$/', $address );
}

/**
 * Checks a Parley URL: http or https, a host, no query, fragment or credentials.
 *
 * @param string $url Candidate URL.
 * @return string|null The URL without a trailing slash, or null if it is refused.
 */
function parley_chat_clean_url( $url ) {
	$parts = wp_parse_url( $url );
	if ( ! is_array( $parts ) || empty( $parts['host'] ) || empty( $parts['scheme'] )
		|| ! in_array( strtolower( $parts['scheme'] ), array( 'http', 'https' ), true )
		|| isset( $parts['query'] ) || isset( $parts['fragment'] ) || isset( $parts['user'] ) ) {
		return null;
	}
	// Refuse rather than silently repair: esc_url_raw() must leave the URL as it is.
	if ( esc_url_raw( $url, array( 'http', 'https' ) ) !== $url ) {
		return null;
	}
	return untrailingslashit( $url );
}

/**
 * One submitted field as a trimmed string ('' when missing or not a string).
 *
 * @param array  $input Submitted settings.
 * @param string $key   Field name.
 * @return string
 */
function parley_chat_field( $input, $key ) {
	return isset( $input[ $key ] ) && is_scalar( $input[ $key ] ) ? trim( (string) $input[ $key ] ) : '';
}

/**
 * Sanitize callback of the setting. A field that is not valid keeps its
 * stored value and adds a settings error; the message never repeats the input.
 *
 * WordPress may run this twice on one save (when the option is first added),
 * so it must accept its own output unchanged.
 *
 * @param mixed $input The submitted array (already unslashed by options.php).
 * @return array
 */
function parley_chat_sanitize( $input ) {
	$input = is_array( $input ) ? $input : array();
	$new   = parley_chat_settings(); // Start from the stored values.
	$error = function ( $code, $message ) {
		add_settings_error( PARLEY_CHAT_OPTION, $code, $message, 'error' );
	};

	$url = parley_chat_field( $input, 'url' );
	$url = '' === $url ? '' : parley_chat_clean_url( $url );
	if ( null !== $url ) {
		$new['url'] = $url;
	} else {
		$error( 'parley_chat_url', __( 'The Parley URL must be an http:// or https:// address, such as https://chat.example.com. The previous URL was kept.', 'parley-chat' ) );
	}

	$address = parley_chat_field( $input, 'address' );
	if ( '' === $address || parley_chat_valid_address( $address ) ) {
		$new['address'] = $address;
	} else {
		$error( 'parley_chat_address', __( 'The address must be exactly 8 letters or digits. The previous address was kept.', 'parley-chat' ) );
	}

	$new['everywhere'] = ! empty( $input['everywhere'] );

	$key = parley_chat_field( $input, 'api_key' );
	if ( ! empty( $input['forget_api_key'] ) ) {
		$new['api_key'] = '';
	} elseif ( '' === $key ) { // phpcs:ignore Generic.CodeAnalysis.EmptyStatement
		// Left empty: keep the stored key (the page never shows it).
	} elseif ( 1 === preg_match( '/^key_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/', $key ) ) {
		$new['api_key'] = $key;
	} else {
		$error( 'parley_chat_api_key', __( 'The API key must look like key_….… as Parley showed it. The previous key was kept.', 'parley-chat' ) );
	}

	$account = parley_chat_field( $input, 'account' );
	if ( '' === $account || 1 === preg_match( '/^acc_[A-Za-z0-9]+$/', $account ) ) {
		$new['account'] = $account;
	} else {
		$error( 'parley_chat_account', __( 'The account ID must look like acc_…. The previous account ID was kept.', 'parley-chat' ) );
	}

	return $new;
}

/**
 * Registers the setting, its section and its fields (Settings API).
 */
function parley_chat_register_settings() {
	register_setting(
		'parley_chat',
		PARLEY_CHAT_OPTION,
		array(
			'type'              => 'array',
			'sanitize_callback' => 'parley_chat_sanitize',
			'default'           => parley_chat_defaults(),
		)
	);

	add_settings_section( 'parley_chat_widget', __( 'Widget', 'parley-chat' ), '__return_false', 'parley-chat' );
	add_settings_field( 'parley_chat_url', __( 'Parley URL', 'parley-chat' ), 'parley_chat_field_url', 'parley-chat', 'parley_chat_widget', array( 'label_for' => 'parley_chat_url' ) );
	add_settings_field( 'parley_chat_address', __( 'Address', 'parley-chat' ), 'parley_chat_field_address', 'parley-chat', 'parley_chat_widget', array( 'label_for' => 'parley_chat_address' ) );
	add_settings_field( 'parley_chat_everywhere', __( 'Show on every page', 'parley-chat' ), 'parley_chat_field_everywhere', 'parley-chat', 'parley_chat_widget' );

	add_settings_section( 'parley_chat_identity', __( 'Recognise logged-in users (optional)', 'parley-chat' ), 'parley_chat_identity_intro', 'parley-chat' );
	add_settings_field( 'parley_chat_api_key', __( 'API key', 'parley-chat' ), 'parley_chat_field_api_key', 'parley-chat', 'parley_chat_identity', array( 'label_for' => 'parley_chat_api_key' ) );
	add_settings_field( 'parley_chat_account', __( 'Account ID', 'parley-chat' ), 'parley_chat_field_account', 'parley-chat', 'parley_chat_identity', array( 'label_for' => 'parley_chat_account' ) );
}
add_action( 'admin_init', 'parley_chat_register_settings' );

/** Prints the URL field. */
function parley_chat_field_url() {
	printf(
		'<input type="url" class="regular-text" id="parley_chat_url" name="%s[url]" value="%s" placeholder="https://chat.example.com">',
		esc_attr( PARLEY_CHAT_OPTION ),
		esc_attr( parley_chat_settings()['url'] )
	);
	echo '<p class="description">' . esc_html__( 'Where your Parley server answers, starting with http:// or https://.', 'parley-chat' ) . '</p>';
}

/** Prints the address field. */
function parley_chat_field_address() {
	printf(
		'<input type="text" class="regular-text code" id="parley_chat_address" name="%s[address]" value="%s" maxlength="8" pattern="[A-Za-z0-9]{8}">',
		esc_attr( PARLEY_CHAT_OPTION ),
		esc_attr( parley_chat_settings()['address'] )
	);
	echo '<p class="description">' . esc_html__( "Your inbox's address: 8 letters or digits.", 'parley-chat' ) . '</p>';
}

/** Prints the "show on every page" checkbox. */
function parley_chat_field_everywhere() {
	printf(
		'<label><input type="checkbox" name="%s[everywhere]" value="1" %s> %s</label>',
		esc_attr( PARLEY_CHAT_OPTION ),
		checked( parley_chat_settings()['everywhere'], true, false ),
		esc_html__( 'Add the chat widget to every page of the site (otherwise only where the [parley_chat] shortcode is).', 'parley-chat' )
	);
}

/** Explains the identity section. */
function parley_chat_identity_intro() {
	echo '<p>' . esc_html__( 'With an API key and its account ID, logged-in users are recognised in the chat by their WordPress name: the page carries a token signed with the key, valid for one hour. The key itself never leaves the server.', 'parley-chat' ) . '</p>';
}

/** Prints the API key field. The stored key is never printed, only its public id. */
function parley_chat_field_api_key() {
	$key = parley_chat_settings()['api_key'];
	printf(
		'<input type="password" class="regular-text code" id="parley_chat_api_key" name="%s[api_key]" value="" autocomplete="off" placeholder="%s">',
		esc_attr( PARLEY_CHAT_OPTION ),
		esc_attr( '' === $key ? 'key_….…' : __( 'Leave empty to keep the stored key', 'parley-chat' ) )
	);
	if ( '' === $key ) {
		echo '<p class="description">' . esc_html__( 'An API key of your Parley account, as Parley showed it: key_… then a dot and the secret.', 'parley-chat' ) . '</p>';
		return;
	}
	$kid = strtok( $key, '.' );
	echo '<p class="description">' . sprintf(
		/* translators: %s: the stored key's id followed by a masked secret. */
		esc_html__( 'A key is stored: %s. Leave the field empty to keep it.', 'parley-chat' ),
		'<code>' . esc_html( $kid . '.••••••••' ) . '</code>'
	) . '</p>';
	printf(
		'<label><input type="checkbox" name="%s[forget_api_key]" value="1"> %s</label>',
		esc_attr( PARLEY_CHAT_OPTION ),
		esc_html__( 'Remove the stored key', 'parley-chat' )
	);
}

/** Prints the account ID field. */
function parley_chat_field_account() {
	printf(
		'<input type="text" class="regular-text code" id="parley_chat_account" name="%s[account]" value="%s" placeholder="acc_…">',
		esc_attr( PARLEY_CHAT_OPTION ),
		esc_attr( parley_chat_settings()['account'] )
	);
}

/** Adds Settings → Parley Chat. */
function parley_chat_admin_menu() {
	add_options_page( __( 'Parley Chat', 'parley-chat' ), __( 'Parley Chat', 'parley-chat' ), 'manage_options', 'parley-chat', 'parley_chat_render_settings_page' );
}
add_action( 'admin_menu', 'parley_chat_admin_menu' );

/** Prints the settings page. Errors are shown by WordPress (options-head.php). */
function parley_chat_render_settings_page() {
	if ( ! current_user_can( 'manage_options' ) ) {
		return;
	}
	$s = parley_chat_settings();
	?>
	<div class="wrap">
		<h1><?php echo esc_html( get_admin_page_title() ); ?></h1>
		<form method="post" action="options.php">
			<?php
			settings_fields( 'parley_chat' );
			do_settings_sections( 'parley-chat' );
			submit_button();
			?>
		</form>

		<h2><?php esc_html_e( 'Embed snippet', 'parley-chat' ); ?></h2>
		<?php if ( '' === $s['url'] || ! parley_chat_valid_address( $s['address'] ) ) : ?>
			<p><?php esc_html_e( 'Save a Parley URL and an address to get the snippet.', 'parley-chat' ); ?></p>
		<?php else : ?>
			<p><?php esc_html_e( 'This is what the plugin prints. Use the [parley_chat] shortcode, or paste the tag into any other site:', 'parley-chat' ); ?></p>
			<pre id="parley-chat-snippet"><code><?php echo esc_html( parley_chat_script_tag( $s['url'], $s['address'] ) ); ?></code></pre>
			<?php if ( '' !== $s['api_key'] && '' !== $s['account'] ) : ?>
				<p><?php esc_html_e( 'For logged-in users the tag also carries data-identity="…" with a freshly signed token.', 'parley-chat' ); ?></p>
			<?php endif; ?>
		<?php endif; ?>
	</div>
	<?php
}

/**
 * Adds a "Settings" link to the plugin's row on the Plugins screen.
 *
 * @param array $links Existing links.
 * @return array
 */
function parley_chat_action_links( $links ) {
	$url = admin_url( 'options-general.php?page=parley-chat' );
	array_unshift( $links, '<a href="' . esc_url( $url ) . '">' . esc_html__( 'Settings', 'parley-chat' ) . '</a>' );
	return $links;
}
add_filter( 'plugin_action_links_' . plugin_basename( __FILE__ ), 'parley_chat_action_links' );

/** Stores the defaults on activation, so the first save is an update. */
function parley_chat_activate() {
	add_option( PARLEY_CHAT_OPTION, parley_chat_defaults() );
}
register_activation_hook( __FILE__, 'parley_chat_activate' );

/* -------------------------------------------------------------------------
 * Front end
 * ---------------------------------------------------------------------- */

/**
 * The embed tag. Every value is escaped here.
 *
 * @param string $url      Parley URL without a trailing slash.
 * @param string $address  Inbox address.
 * @param string $identity Signed token, or '' for none.
 * @return string
 */
function parley_chat_script_tag( $url, $address, $identity = '' ) {
	$tag = sprintf( '<script src="%s" data-address="%s"', esc_url( $url . '/widget.js' ), esc_attr( $address ) );
	if ( '' !== $identity ) {
		$tag .= sprintf( ' data-identity="%s"', esc_attr( $identity ) );
	}
	return $tag . ' async></script>';
}

/**
 * Base64url without padding, as JWTs use it.
 *
 * @param string $data Bytes.
 * @return string
 */
function parley_chat_base64url( $data ) {
	return rtrim( strtr( base64_encode( $data ), '+/', '-_' ), '=' );
}

/**
 * An HS256 token that tells Parley who the logged-in user is, or '' when no
 * one is logged in or the API key and account ID are not both configured.
 * Format: docs/auth.md of Parley ("Minting tokens in your own backend").
 *
 * @param array $s Settings.
 * @return string
 */
function parley_chat_identity_token( array $s ) {
	if ( ! is_user_logged_in() || '' === $s['api_key'] || '' === $s['account'] ) {
		return '';
	}
	list( $kid, $secret ) = explode( '.', $s['api_key'], 2 ); // The secret is used as-is, not decoded.
	$user  = wp_get_current_user();
	$now   = time();
	$json  = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE;
	$claim = array(
		'sub'  => 'wp-' . $user->ID,
		'acc'  => $s['account'],
		'role' => 'visitor',
		'name' => $user->display_name,
		'iat'  => $now,
		'exp'  => $now + PARLEY_CHAT_TOKEN_TTL,
	);
	$head  = array(
		'alg' => 'HS256',
		'typ' => 'JWT',
		'kid' => $kid,
	);
	$input = parley_chat_base64url( json_encode( $head, $json ) ) . '.' . parley_chat_base64url( json_encode( $claim, $json ) );
	return $input . '.' . parley_chat_base64url( hash_hmac( 'sha256', $input, $secret, true ) );
}

/**
 * The widget tag for this page, printed at most once per page: whichever of
 * the shortcode and the footer comes first prints it, the other prints ''.
 *
 * @param string $address Inbox address, or '' for the configured one.
 * @return string
 */
function parley_chat_widget( $address = '' ) {
	static $printed = false;
	$s       = parley_chat_settings();
	$address = '' === $address ? $s['address'] : $address;
	if ( '' === $s['url'] || ! parley_chat_valid_address( $address ) ) {
		return "<!-- Parley Chat: set the Parley URL and address in Settings → Parley Chat -->\n";
	}
	if ( $printed ) {
		return '';
	}
	$printed = true;
	return parley_chat_script_tag( $s['url'], $address, parley_chat_identity_token( $s ) ) . "\n";
}

/**
 * [parley_chat] and [parley_chat address="AbCd1234"].
 *
 * @param array|string $atts Shortcode attributes.
 * @return string
 */
function parley_chat_shortcode( $atts ) {
	if ( is_feed() ) {
		return ''; // Feed readers do not run scripts.
	}
	$atts = shortcode_atts( array( 'address' => '' ), $atts, 'parley_chat' );
	if ( '' !== $atts['address'] && ! parley_chat_valid_address( $atts['address'] ) ) {
		return '<!-- Parley Chat: the shortcode\'s address must be 8 letters or digits -->';
	}
	return parley_chat_widget( $atts['address'] );
}
add_shortcode( 'parley_chat', 'parley_chat_shortcode' );

/** Prints the widget in the footer of every front-end page when asked to. */
function parley_chat_footer() {
	if ( parley_chat_settings()['everywhere'] ) {
		echo parley_chat_widget(); // phpcs:ignore WordPress.Security.EscapeOutput -- escaped in parley_chat_script_tag().
	}
}
add_action( 'wp_footer', 'parley_chat_footer' );
