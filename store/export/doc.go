// Package export writes conversation history in the formats users take it
// away in, and reads impetus exports back.
//
// Formats (see Formats, ParseFormat):
//
//   - md: one Markdown document per conversation; YAML front matter with
//     title, id, model, dates, pinned/archived, tags, system prompt and
//     settings; each message under a role heading ("## User"), content
//     verbatim so code blocks stay intact; stats in an italic line; other
//     branches after the active one.
//   - json: full fidelity — every field, the whole message tree (parent
//     ids), stats — in a versioned document ("impetus_export_version": 1,
//     documented in SCHEMA.md). This is what Read and the importer take back.
//   - jsonl: the chat fine-tuning format of mlx-lm LoRA and OpenAI:
//     {"messages":[{"role":...,"content":...},...]} per line. Options choose
//     the system prompt, the active branch only, and whether interrupted
//     replies are dropped. A line without an assistant reply is not written.
//   - html: one standalone page (CSS from assets/export embedded, light and
//     dark by prefers-color-scheme, a Content-Security-Policy forbidding
//     scripts), Markdown rendered by goldmark in safe mode, raw HTML in
//     messages shown as escaped text, code highlighted with chroma classes.
//
// Writing:
//
//	convs, err := export.Load(ctx, st, ids)        // from the store
//	err = export.Write(w, export.JSONL, convs, export.Options{ActiveBranchOnly: true})
//
// or, for large exports, stream with NewEncoder/Encode/Close. Files are
// written by WriteFile (one file, atomically: temp file + rename, so a failed
// export never leaves a half-written file under the target name) and
// WriteDir (one file per conversation, named by FileName, never overwriting
// unless asked).
//
// Reading: Read parses an impetus JSON export or a JSONL file; Import puts
// the conversations into the store, keeping ids and timestamps, and skips
// any conversation whose id the store already holds, so importing the same
// file twice does not duplicate anything.
//
// The TUI's export dialog, the MCP export_conversation tool and the
// `impetus export`/`impetus import` commands all go through this package.
package export
