-- flashsale-export's tables in PostgreSQL (app/flashsale_export.c creates
-- them when missing; this file is compiled into it). Outside tools query
-- these names and columns; docs/operations.md, "Orders in PostgreSQL".
--
-- Ids are unsigned 64-bit in the appliance, so they are numeric(20) here.
-- Times are timestamptz (UTC from the appliance's clock). state is the
-- PROTOCOL.md name; state_rank orders states (1 RESERVED, 2 settled) so an
-- update only ever moves an order forward: a replayed RESERVED never
-- overwrites PAID.

CREATE TABLE IF NOT EXISTS flashsale_orders (
    order_id    numeric(20) PRIMARY KEY,   -- seq << 8 | shard
    user_id     numeric(20) NOT NULL,
    item_id     bigint      NOT NULL,
    qty         integer     NOT NULL,
    state       text        NOT NULL
                CHECK (state IN ('RESERVED', 'PAID', 'CANCELLED', 'EXPIRED')),
    created_at  timestamptz NOT NULL,      -- the BUY's decision time
    deadline_at timestamptz NOT NULL,      -- pay by then or it expires
    paid_ref    numeric(20),               -- CONFIRM's payment reference (NULL: not
                                           -- paid, or paid before a resync from
                                           -- snapshot.db, which does not keep it)
    shard       integer     NOT NULL,
    request_id  numeric(20),               -- the BUY's request_id
    settled_at  timestamptz,               -- PAID/CANCELLED/EXPIRED decision time
    state_rank  smallint    NOT NULL,      -- 1 RESERVED, 2 PAID/CANCELLED/EXPIRED
    lsn         numeric(20) NOT NULL       -- the shard's change that last wrote the row
);
CREATE INDEX IF NOT EXISTS flashsale_orders_user ON flashsale_orders (user_id);
-- Only this secondary index: each one costs about a fifth of the insert
-- throughput (docs/benchmarks.md). Add your own (e.g. on (item_id, state))
-- if your queries need them; the exporter does not mind.

CREATE TABLE IF NOT EXISTS flashsale_items (
    item_id     bigint  PRIMARY KEY,
    activity_id bigint  NOT NULL,
    total       bigint  NOT NULL,
    available   bigint  NOT NULL,          -- available + reserved + paid = total
    reserved    bigint  NOT NULL,
    paid        bigint  NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Each shard's last applied LSN, written in the same transaction as the rows
-- it covers: the exporter resumes from here after any crash.
CREATE TABLE IF NOT EXISTS flashsale_offsets (
    shard       integer     PRIMARY KEY,
    lsn         numeric(20) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
