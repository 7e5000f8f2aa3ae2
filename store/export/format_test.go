package export

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestGolden(t *testing.T) {
	cases := []struct {
		file string
		f    Format
		opts Options
	}{
		{"fixture.md.golden", Markdown, Options{}},
		{"fixture.json.golden", JSON, Options{}},
		{"fixture.jsonl.golden", JSONL, Options{}},
		{"fixture-active-system-skip.jsonl.golden", JSONL, Options{ActiveBranchOnly: true, IncludeSystem: true, SkipIncomplete: true}},
		{"fixture.html.golden", HTML, Options{}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, tc.f, []Conversation{fixture()}, tc.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, b.Bytes())
		})
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"md": Markdown, "Markdown": Markdown, ".json": JSON, "JSONL": JSONL, "htm": HTML} {
		got, err := ParseFormat(in)
		if err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := ParseFormat("pdf")
	if err == nil || !strings.Contains(err.Error(), `"pdf"`) || !strings.Contains(err.Error(), "md, json, jsonl, html") {
		t.Errorf("ParseFormat(pdf) error = %v; want one naming the format and the choices", err)
	}
	if err := Write(&bytes.Buffer{}, Format("pdf"), nil, Options{}); err == nil {
		t.Error("Write with an unknown format succeeded")
	}
}

// TestJSONLLines validates the fine-tuning output line by line: each line a
// JSON object with exactly a "messages" array of {role, content} strings.
func TestJSONLLines(t *testing.T) {
	c := fixture()
	for _, opts := range []Options{{}, {ActiveBranchOnly: true}, {IncludeSystem: true}, {SkipIncomplete: true}, {ActiveBranchOnly: true, IncludeSystem: true, SkipIncomplete: true}} {
		var b bytes.Buffer
		if err := Write(&b, JSONL, []Conversation{c, c}, opts); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if !strings.HasSuffix(b.String(), "\n") {
			t.Errorf("%+v: output does not end with a newline", opts)
		}
		for i, line := range lines {
			validateJSONLLine(t, i+1, line, opts)
		}
		wantLines := 4 // two conversations × two branches
		if opts.ActiveBranchOnly {
			wantLines = 2
		}
		if len(lines) != wantLines {
			t.Errorf("%+v: %d lines, want %d:\n%s", opts, len(lines), wantLines, b.String())
		}
	}
}

func validateJSONLLine(t *testing.T, n int, line string, opts Options) {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		t.Fatalf("line %d is not a JSON object: %v\n%s", n, err, line)
	}
	if len(obj) != 1 || obj["messages"] == nil {
		t.Fatalf("line %d: keys %v, want only \"messages\"", n, obj)
	}
	var msgs []map[string]any
	if err := json.Unmarshal(obj["messages"], &msgs); err != nil {
		t.Fatalf("line %d: messages is not an array of objects: %v", n, err)
	}
	if len(msgs) == 0 {
		t.Fatalf("line %d: empty messages", n)
	}
	for j, m := range msgs {
		role, ok1 := m["role"].(string)
		_, ok2 := m["content"].(string)
		if len(m) != 2 || !ok1 || !ok2 {
			t.Fatalf("line %d message %d: %v, want exactly string role and content", n, j, m)
		}
		switch role {
		case "system", "user", "assistant":
		default:
			t.Fatalf("line %d message %d: role %q", n, j, role)
		}
		if role == "system" && (!opts.IncludeSystem || j != 0) {
			t.Fatalf("line %d: system message at %d with IncludeSystem=%v", n, j, opts.IncludeSystem)
		}
	}
	if last := msgs[len(msgs)-1]["role"]; last != "assistant" && opts.SkipIncomplete {
		t.Fatalf("line %d ends with %v, want an assistant reply", n, last)
	}
	if opts.SkipIncomplete && strings.Contains(line, "half a") {
		t.Fatalf("line %d keeps a cancelled reply with SkipIncomplete", n)
	}
}

func TestBranches(t *testing.T) {
	c := normalized(&Conversation{ID: "c", Messages: fixture().Messages})
	bs := c.Branches()
	if len(bs) != 2 {
		t.Fatalf("%d branches, want 2", len(bs))
	}
	ids := func(p []*Message) string {
		var s []string
		for _, m := range p {
			s = append(s, m.ID)
		}
		return strings.Join(s, ",")
	}
	if got := ids(bs[0]); got != "m1,m2,m3,m4b,m5,m6" {
		t.Errorf("active branch %s", got)
	}
	if got := ids(bs[1]); got != "m1,m2,m3,m4" {
		t.Errorf("other branch %s", got)
	}
	ob := c.otherBranches()
	if len(ob) != 1 || ob[0].From.ID != "m3" || ids(ob[0].Messages) != "m4" {
		t.Errorf("otherBranches = %+v", ob)
	}
}

func TestSortMessagesParentFirst(t *testing.T) {
	// Equal timestamps with the child's id sorting first: the parent must
	// still come first.
	ms := []Message{
		{ID: "b", Role: "user", CreatedAt: t0},
		{ID: "a", ParentID: "b", Role: "assistant", CreatedAt: t0},
		{ID: "0", ParentID: "a", Role: "user", CreatedAt: t0},
	}
	if !sortMessages(ms) {
		t.Fatal("reported a cycle")
	}
	if ms[0].ID != "b" || ms[1].ID != "a" || ms[2].ID != "0" {
		t.Errorf("order %s %s %s, want b a 0", ms[0].ID, ms[1].ID, ms[2].ID)
	}
	cyc := []Message{{ID: "x", ParentID: "y", CreatedAt: t0}, {ID: "y", ParentID: "x", CreatedAt: t0}}
	if sortMessages(cyc) {
		t.Error("cycle not reported")
	}
}

func TestYAMLLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"a\nb":       "|-\n  a\n  b\n",
		"a\n\nb\n":   "|\n  a\n\n  b\n",
		"a\nb\n\n":   "|+\n  a\n  b\n\n",
		" lead\nx":   "",
		"trail \nx":  "",
		"one line":   "",
		"cr\r\nline": "",
	} {
		got, ok := yamlLiteral(in)
		if (want == "") == ok || got != want {
			t.Errorf("yamlLiteral(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestUnclosedFence(t *testing.T) {
	for in, want := range map[string]bool{
		"```go\nx\n```":      false,
		"```go\nx":           true,
		"~~~\nx\n```\n":      true,
		"````\n```\n````":    false,
		"text ``` inline":    false,
		"```\na\n```\n```py": true,
	} {
		if got := hasUnclosedFence(in); got != want {
			t.Errorf("hasUnclosedFence(%q) = %v", in, got)
		}
	}
}

func TestActiveLeafID(t *testing.T) {
	c := fixture()
	c.ActiveLeafID = "m4" // the user switched back to the first reply
	var b bytes.Buffer
	if err := Write(&b, JSONL, []Conversation{c}, Options{ActiveBranchOnly: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Never paste") || strings.Contains(b.String(), "half a") {
		t.Errorf("active branch ignores ActiveLeafID:\n%s", b.String())
	}
	b.Reset()
	if err := Write(&b, Markdown, []Conversation{c}, Options{}); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if strings.Index(md, "Never paste") > strings.Index(md, "## Branch 2") || strings.Index(md, "half a") < strings.Index(md, "## Branch 2") {
		t.Errorf("markdown does not put the active branch first:\n%s", md)
	}
	// An active leaf with replies below it extends to the newest of them.
	c.ActiveLeafID = "m3"
	if p := c.ActivePath(); p[len(p)-1].ID != "m6" {
		t.Errorf("active path ends at %s, want m6", p[len(p)-1].ID)
	}
}
