-- +goose Up
-- Who exported or erased whose data, and how much: kept after the data.
CREATE TABLE audit_log (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL,
    action     text NOT NULL,
    subject    text NOT NULL,
    token_id   text NOT NULL,
    counts     jsonb NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX audit_by_tenant ON audit_log (tenant_id, id);

-- +goose Down
DROP TABLE audit_log;
