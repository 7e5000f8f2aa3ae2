package export

import (
	"bytes"
	"strings"
	"testing"
)

func fixtureJSON(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, JSON, []Conversation{fixture()}, Options{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReadJSONExport(t *testing.T) {
	convs, err := Read(strings.NewReader(fixtureJSON(t)), "x.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 1 {
		t.Fatalf("%d conversations", len(convs))
	}
	// Read gives back what was written: writing it again is identical.
	var b bytes.Buffer
	if err := Write(&b, JSON, convs, Options{}); err != nil {
		t.Fatal(err)
	}
	if b.String() != fixtureJSON(t) {
		t.Errorf("read → write differs:\n%s", b.String())
	}
}

// Bad input gives one line naming the file and what is wrong.
func TestReadErrors(t *testing.T) {
	full := fixtureJSON(t)
	cases := []struct {
		name, input, want string
	}{
		{"empty", "", "x.json: empty file"},
		{"not json", "hello", "x.json: not an impetus JSON export or JSONL"},
		{"array", "[1,2]", "does not start with a JSON object"},
		{"truncated", full[:len(full)/2], "x.json: truncated JSON"},
		{"truncated early", full[:40], "x.json: truncated JSON"},
		{"newer version", strings.Replace(full, `"impetus_export_version": 1`, `"impetus_export_version": 2`, 1), "impetus_export_version 2 is not supported (this impetus reads version 1)"},
		{"version string", strings.Replace(full, `"impetus_export_version": 1`, `"impetus_export_version": "1"`, 1), `impetus_export_version is "1", expected the number 1`},
		{"other schema", `{"version": 1, "conversations": []}`, `no "impetus_export_version" field`},
		{"other json", `{"foo": 1}`, "neither an impetus JSON export"},
		{"syntax", strings.Replace(full, `"title":`, `"title" `, 1), "x.json:6:17: invalid JSON"},
		{"wrong type", strings.Replace(full, `"pinned": true`, `"pinned": "yes"`, 1), `field "conversations.pinned"`},
		{"no conversations", `{"impetus_export_version": 1}`, `missing "conversations"`},
		{"missing id", strings.Replace(full, `"id": "01JQ0FIXTURE0000000000000A",`, ``, 1), `conversations[0]: missing "id"`},
		{"dangling parent", strings.Replace(full, `"parent_id": "m1"`, `"parent_id": "nope"`, 1), `"parent_id" "nope" is not a message of this conversation`},
		{"duplicate message", strings.Replace(full, `"id": "m2"`, `"id": "m1"`, 1), `duplicate id "m1"`},
		{"bad jsonl line", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}\n{\"messages\":[{\"role\":\"user\"}]}\n", `x.json:2: messages[0]: missing "content"`},
		{"truncated jsonl", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}\n{\"messages\":[{\"role\":\"us", `x.json:2: truncated JSON line`},
		{"jsonl no role", "{\"messages\":[{\"content\":\"a\"}]}\n", `x.json:1: messages[0]: missing "role"`},
		{"jsonl empty", "{\"messages\":[]}\n", `x.json:1: "messages" is missing or empty`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.input), "x.json")
			if err == nil {
				t.Fatalf("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}

func TestReadJSONL(t *testing.T) {
	in := "\ufeff{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"Q?\"},{\"role\":\"assistant\",\"content\":\"A.\"}],\"extra\":1}\r\n\n" +
		"{\"messages\":[{\"role\":\"user\",\"content\":\"Q?\"},{\"role\":\"assistant\",\"content\":\"A.\"}]}"
	a, err := Read(strings.NewReader(in), "t.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 2 {
		t.Fatalf("%d conversations", len(a))
	}
	if a[0].SystemPrompt != "S" || len(a[0].Messages) != 2 || a[0].Title != "Q?" || a[0].Messages[1].ParentID != a[0].Messages[0].ID {
		t.Errorf("first line read as %+v", a[0])
	}
	if a[0].ID == a[1].ID {
		t.Error("different lines got the same id")
	}
	b, _ := Read(strings.NewReader(in), "t.jsonl")
	if a[0].ID != b[0].ID || a[1].Messages[1].ID != b[1].Messages[1].ID {
		t.Error("ids are not stable across reads")
	}
	if len(a[0].ID) != 26 || strings.ToUpper(a[0].ID) != a[0].ID {
		t.Errorf("id %q is not store-shaped", a[0].ID)
	}
}
