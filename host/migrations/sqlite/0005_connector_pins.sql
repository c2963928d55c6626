-- A tenant or a service pinned to one version of its connector: its calls use that artifact
-- whatever version of the name is active. `kind` is `tenant` or `service`, `id` the tenant's or
-- service's id. A pinned artifact cannot be removed. Times are milliseconds since the epoch.
CREATE TABLE connector_pins (
    kind      TEXT NOT NULL,
    id        TEXT NOT NULL,
    name      TEXT NOT NULL,
    digest    TEXT NOT NULL,
    pinned_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX connector_pins_by_digest ON connector_pins (digest);
