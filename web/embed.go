// Package web holds Parley's browser code, served by the binary as it is:
// plain ES modules, no framework and no build step.
//
//	sdk/      the JavaScript SDK: connection, resume, outbox, uploads
//	ui/       the conversation view the widget and the console share
//	widget/   the <parley-chat> element and its loader (/widget.js)
//	console/  the agent console (a PWA)
//	pages/    the landing page and the full-page chat
package web

import "embed"

// FS is every file under web/ that the server serves.
//
//go:embed sdk ui widget console pages
var FS embed.FS
