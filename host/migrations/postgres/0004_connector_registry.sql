-- The connector registry. Artifacts are stored content-addressed: the digest is the sha256 of
-- the component's bytes (lower-case hex), with the name and version its info() gave at upload.
-- Times are milliseconds since the epoch.
CREATE TABLE connector_artifacts (
    digest      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    wasm        BYTEA NOT NULL,
    size        BIGINT NOT NULL,
    -- The publisher key that signed the digest, when it was signed.
    signed_by   TEXT,
    uploaded_at BIGINT NOT NULL
);
CREATE INDEX connector_artifacts_by_name ON connector_artifacts (name, uploaded_at);

-- Every activation, in order: a name's active artifact is its latest activation. Replicas
-- watch the largest id to learn of a new one.
CREATE TABLE connector_activations (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL,
    digest       TEXT NOT NULL,
    activated_at BIGINT NOT NULL,
    -- bundled, activate or rollback.
    reason       TEXT NOT NULL
);
CREATE INDEX connector_activations_by_name ON connector_activations (name, id);
