-- +goose Up
-- Who exported or erased whose data, and how much: kept after the data.
CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    token_id   TEXT NOT NULL,
    counts     TEXT NOT NULL, -- JSON object
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_by_tenant ON audit_log (tenant_id, id);

-- +goose Down
DROP TABLE audit_log;
