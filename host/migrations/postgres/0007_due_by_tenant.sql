-- Due work by tenant: when some tenants' queues are full, a host claims the due checks and
-- creations of each other tenant through these (a range of one tenant's rows), instead of
-- reading past every due row of the full tenants.
CREATE INDEX payments_due_by_tenant ON payments (tenant_id, next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX creations_due_by_tenant ON creations (tenant_id, due_at);
