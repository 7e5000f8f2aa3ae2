-- 0001_init: conversations, messages (branching via parent_id), FTS5 indexes kept by triggers.
--
-- Both tables carry an INTEGER PRIMARY KEY (seq) next to the public text id: the
-- external-content FTS5 tables key on rowid, and only an aliased rowid is stable
-- across VACUUM. Times are Unix milliseconds (UTC).

CREATE TABLE conversations (
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    title          TEXT    NOT NULL DEFAULT '',
    model          TEXT    NOT NULL DEFAULT '',
    system_prompt  TEXT    NOT NULL DEFAULT '',
    settings       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    tags           TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    pinned         INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    archived       INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
    -- The leaf of the branch the user is looking at; NULL means "the newest message".
    active_leaf_id TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- The conversation list: pinned first, then newest activity, per archive state.
CREATE INDEX conversations_list ON conversations (archived, pinned DESC, updated_at DESC, id DESC);
CREATE INDEX conversations_activity ON conversations (pinned DESC, updated_at DESC, id DESC);

CREATE TABLE messages (
    seq                    INTEGER PRIMARY KEY,
    id                     TEXT    NOT NULL UNIQUE,
    conversation_id        TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    parent_id              TEXT    REFERENCES messages (id) ON DELETE CASCADE,
    role                   TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content                TEXT    NOT NULL DEFAULT '',
    model                  TEXT    NOT NULL DEFAULT '',
    -- complete: finished normally; incomplete: streaming now or left by a crash;
    -- stopped: the user stopped it; error: generation failed (error holds why).
    status                 TEXT    NOT NULL DEFAULT 'complete'
                                   CHECK (status IN ('complete', 'incomplete', 'stopped', 'error')),
    finish_reason          TEXT    NOT NULL DEFAULT '',
    error                  TEXT    NOT NULL DEFAULT '',
    prompt_tokens          INTEGER,
    completion_tokens      INTEGER,
    ttft_ms                REAL,
    tokens_per_sec         REAL,
    prefill_tokens_per_sec REAL,
    settings               TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    meta                   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(meta)),
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);

CREATE INDEX messages_conversation ON messages (conversation_id, created_at, id);
CREATE INDEX messages_parent ON messages (parent_id);

-- Deleting the active leaf (directly or through a cascade) falls back to "newest message".
CREATE TRIGGER messages_active_leaf_ad AFTER DELETE ON messages BEGIN
    UPDATE conversations SET active_leaf_id = NULL
     WHERE id = old.conversation_id AND active_leaf_id = old.id;
END;

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    content,
    content = 'messages',
    content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
END;

CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
END;

CREATE TRIGGER messages_fts_au AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
END;

CREATE VIRTUAL TABLE conversations_fts USING fts5 (
    title,
    content = 'conversations',
    content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER conversations_fts_ai AFTER INSERT ON conversations BEGIN
    INSERT INTO conversations_fts (rowid, title) VALUES (new.seq, new.title);
END;

CREATE TRIGGER conversations_fts_ad AFTER DELETE ON conversations BEGIN
    INSERT INTO conversations_fts (conversations_fts, rowid, title) VALUES ('delete', old.seq, old.title);
END;

CREATE TRIGGER conversations_fts_au AFTER UPDATE OF title ON conversations BEGIN
    INSERT INTO conversations_fts (conversations_fts, rowid, title) VALUES ('delete', old.seq, old.title);
    INSERT INTO conversations_fts (rowid, title) VALUES (new.seq, new.title);
END;
