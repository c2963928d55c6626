-- pagoPA Checkout carts: one Checkout session for 1–5 payments, and how it ended. The id is
-- random and unguessable (it is the citizen's link to the result page) and goes to pagoPA as
-- `idCart`. Times are milliseconds since the epoch.
CREATE TABLE carts (
    id           TEXT PRIMARY KEY,
    -- JSON array of payment ids, in the order the citizen saw them.
    payment_ids  TEXT NOT NULL,
    -- redirected | refused | unavailable | ok | cancel | error | waiting
    status       TEXT NOT NULL,
    -- Where pagoPA sent the citizen (its Location), once it answered.
    checkout_url TEXT,
    -- Why the cart is in its status, when there is more to say (pagoPA's detail).
    note         TEXT,
    -- it | en: the language of the citizen's pages.
    locale       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Values the host makes once and every replica sharing the database uses, such as the key that
-- signs the citizen's payment-page links.
CREATE TABLE host_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
