// Package assets holds the files compiled into the impetus binary: the default
// config, the HTML export template and its CSS, TUI themes. Everything below
// this directory is embedded; read it through FS.
package assets

import "embed"

// FS is every file under assets/, e.g. "config.toml" or "export/style.css".
//
//go:embed *
var FS embed.FS
