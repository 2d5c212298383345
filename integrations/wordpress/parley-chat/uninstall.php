<?php
/**
 * Runs when the plugin is deleted from the Plugins screen: removes its settings.
 *
 * @package ParleyChat
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

delete_option( 'parley_chat' );
