-- Creation as durable, scheduled work: one row per `CREATION_PENDING` payment whose debt position
-- is still to be opened (or found) at its intermediary. The proxy claims due rows (pushing
-- `due_at` a lease ahead), makes one attempt and records the outcome: the row goes when the
-- payment leaves `CREATION_PENDING`, or stays with its next attempt's time.
--   attempts  attempts that failed so far (waiting for a configuration or for the tenant's turn
--             spends none);
--   ambiguous 1 once an attempt may have reached the intermediary without a readable answer (a
--             position may exist upstream: the payment is never failed without finding out);
--   waiting   why the payment cannot be created yet (no active tenant or service
--             configuration, connector not installed), NULL when it can;
--   last_error the last attempt's failure, for operators.
-- Times are milliseconds since the epoch.
CREATE TABLE creations (
    payment_id TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    service_id TEXT NOT NULL,
    due_at     BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    ambiguous  BIGINT NOT NULL DEFAULT 0,
    waiting    TEXT,
    last_error TEXT
);
CREATE INDEX creations_due ON creations (due_at);
CREATE INDEX creations_waiting ON creations (tenant_id) WHERE waiting IS NOT NULL;

-- Payments already waiting for their creation when this migration runs.
INSERT INTO creations (payment_id, tenant_id, service_id, due_at)
    SELECT id, tenant_id, service_id, updated_at FROM payments WHERE status = 'CREATION_PENDING';

-- Recently failed creations, for the sweep that looks for their positions upstream.
CREATE INDEX payments_failed ON payments (updated_at) WHERE status = 'CREATION_FAILED';
