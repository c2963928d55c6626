-- cassa's store, PostgreSQL flavour (production, several replicas). Times are milliseconds since the epoch,
-- ids are UUID strings, booleans are 0/1, documents are JSON text.

-- Current state of every payment (the open-payments view included).
CREATE TABLE payments (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    service_id    TEXT NOT NULL,
    remote_id     TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    next_check_at BIGINT,
    version       BIGINT NOT NULL,
    event         TEXT NOT NULL,
    -- Notifications to the core still to deliver (COMPLETE / PAYMENT_FAILED with an unsent
    -- notify link): when to try next, and how many attempts failed so far.
    notify_due_at   BIGINT,
    notify_attempts BIGINT NOT NULL DEFAULT 0
);
-- One payment per application (DOMAIN.md §6.3).
CREATE UNIQUE INDEX payments_by_remote_id ON payments (remote_id);
-- Open payments by due time, for the poller.
CREATE INDEX payments_due ON payments (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX payments_by_tenant_service ON payments (tenant_id, service_id, status);
CREATE INDEX payments_notify_due ON payments (notify_due_at) WHERE notify_due_at IS NOT NULL;

-- Every state a payment went through.
CREATE TABLE payment_history (
    payment_id  TEXT NOT NULL,
    version     BIGINT NOT NULL,
    status      TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    event       TEXT NOT NULL,
    -- Why this state was reached, when there is more to say than the status.
    note        TEXT,
    PRIMARY KEY (payment_id, version)
);

-- Tenant and service configurations; DELETE is a soft delete (active = 0).
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    connector  TEXT NOT NULL,
    config     TEXT NOT NULL,
    active     BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE services (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    config     TEXT NOT NULL,
    active     BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The transactional outbox: a state change and its event are written in one transaction. With the
-- embedded bus this table is the log itself; with Kafka a relay publishes it.
CREATE TABLE outbox (
    id         BIGSERIAL PRIMARY KEY,
    topic      TEXT NOT NULL,
    msg_key    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    published  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_by_topic ON outbox (topic, id);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published = 0;

-- Positions of embedded-bus consumers.
CREATE TABLE consumer_offsets (
    consumer TEXT NOT NULL,
    topic    TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (consumer, topic)
);
