-- The lab stacks' data: rows the full rollback (F7) must bring back.
CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE IF NOT EXISTS jobs_done (id serial PRIMARY KEY, kind text, payload text, done_at timestamptz DEFAULT now());
INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 500) g
WHERE NOT EXISTS (SELECT 1 FROM items);
