// Package export writes conversation history in the formats users take it
// away in, and reads impetus exports back into the store. The CLI
// (`impetus export`, `impetus import`), the TUI's export dialog and the MCP
// export_conversation tool all go through it.
//
// # Formats
//
// Formats() lists them; ParseFormat reads a name ("md", "markdown", ".json").
//
//   - Markdown ("md"): one document per conversation; YAML front matter with
//     title, id, model, created/updated, pinned/archived, tags, system prompt
//     and settings; each message under a role heading ("## User"), content
//     verbatim so code blocks stay intact (an interrupted reply's unclosed
//     fence is closed); an italic stats line; other branches after the
//     active one ("## Branch 2").
//   - JSON ("json"): full fidelity — every field, the whole message tree
//     (parent ids), statuses, stats — in a versioned document
//     ("impetus_export_version": 1, see SCHEMA.md). What Read and Import take
//     back; export → import into an empty database → export is byte-identical.
//   - JSONL ("jsonl"): the chat fine-tuning format of mlx-lm LoRA and OpenAI,
//     {"messages":[{"role":...,"content":...},...]} per line: one line per
//     root-to-leaf branch, or per conversation with ActiveBranchOnly.
//     IncludeSystem starts each line with the system prompt; SkipIncomplete
//     drops replies that were stopped, failed or never finished. A line
//     without an assistant reply is not written.
//   - HTML ("html"): one standalone page (CSS from assets/export embedded,
//     light and dark by prefers-color-scheme, a Content-Security-Policy that
//     forbids scripts), Markdown rendered by goldmark in safe mode, raw HTML
//     in messages shown as escaped text, code highlighted with CSS classes.
//     Every value is escaped by html/template.
//
// # Writing
//
//	ids, err := export.Select(ctx, st, export.Selection{All: true})   // or IDs, Search, Tag, Since
//	err = export.Export(ctx, st, ids, w, export.JSONL, opts, progress) // one stream
//	err = export.ExportFile(ctx, st, ids, path, f, opts, force, progress) // atomic file
//	paths, err := export.ExportDir(ctx, st, ids, dir, f, opts, force, progress) // file per conversation
//	s, err := export.Render(ctx, st, id, export.Markdown, opts)        // one conversation as a string
//
// Lower level: Load one conversation (all branches) from the store, or
// convert with FromStore; Write([]Conversation) or stream with
// NewEncoder/Encode/Close. WriteFileAtomic writes through a temporary file in
// the target's directory and renames it, so a failed export never leaves a
// half-written file under the target name, and never replaces an existing
// file unless force is set. FileName gives the safe per-conversation name
// ("title-slug-ID.ext").
//
// # Reading and importing
//
//	res, err := export.ImportFile(ctx, st, path)   // JSON export or JSONL; res.Imported, res.Skipped
//	convs, err := export.Read(r, name)             // parse and validate only
//	res, err := export.Import(ctx, st, convs)
//
// Import keeps ids, timestamps, branches, statuses and stats (through
// store.ImportConversation) and skips conversations whose id the store
// already holds, so importing the same file twice adds nothing. JSONL lines
// get ids derived from a hash of their messages for the same reason. Errors
// name the file, and the line and column or the field at fault; a truncated
// file and one of another export version are reported as such.
package export
